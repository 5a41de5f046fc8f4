//! The CloudWatch Embedded Metric Format lines are written where CloudWatch reads them:
//! inside Lambda (`AWS_LAMBDA_FUNCTION_NAME` set), or when `GUARDDUTY_INVITE_EMF=stderr`
//! asks for them; not among a person's logs otherwise.

use crate::support::*;
use serde_json::Value;

/// The metric lines the binary wrote on stderr.
fn metric_lines(out: &std::process::Output) -> Vec<Value> {
    stderr(out)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect()
}

#[test]
fn metric_lines_only_inside_lambda_or_when_asked_for() {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1", "eu-west-1"],
        &[("111122223333", "new.account@example.com", "Payments")],
        &[],
    );
    let env = emu.env(&seeded, &["us-east-1", "eu-west-1"]);
    let event = sample("organizations-create-account-result-succeeded.json");
    let with = |extra: &[(&str, &str)]| {
        let mut env = env.clone();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let out = invoke(&env, &[&event]);
        assert!(out.status.success(), "{extra:?}: {}", stderr(&out));
        out
    };

    let plain = with(&[]);
    assert!(
        !stderr(&plain).contains("_aws"),
        "no metric lines by default:\n{}",
        stderr(&plain)
    );

    let asked = with(&[("GUARDDUTY_INVITE_EMF", "stderr")]);
    let lines = metric_lines(&asked);
    let mut regions: Vec<&str> = lines.iter().filter_map(|l| l["Region"].as_str()).collect();
    regions.sort_unstable();
    assert_eq!(regions, ["eu-west-1", "us-east-1"], "{}", stderr(&asked));
    assert_eq!(
        lines[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "GuardDutyInvite"
    );

    let in_lambda = with(&[("AWS_LAMBDA_FUNCTION_NAME", "guardduty-invite")]);
    assert_eq!(metric_lines(&in_lambda).len(), 2, "{}", stderr(&in_lambda));

    let off = with(&[
        ("AWS_LAMBDA_FUNCTION_NAME", "guardduty-invite"),
        ("GUARDDUTY_INVITE_EMF", "off"),
    ]);
    assert!(!stderr(&off).contains("_aws"), "{}", stderr(&off));
}

/// Lambda's log-level filtering as its guide describes it: a JSON line's `level` (INFO when
/// missing or invalid, or when its `timestamp` is not a valid RFC 3339 time) against the
/// function's application log level.
fn kept_by_lambda(line: &Value, application_level: &str) -> bool {
    const ORDER: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    let rank = |l: &str| ORDER.iter().position(|o| o.eq_ignore_ascii_case(l));
    let timestamp_ok = line["timestamp"]
        .as_str()
        .is_some_and(|t| t.len() >= 20 && t.as_bytes()[10] == b'T' && t.ends_with('Z'));
    let level = match line["level"].as_str().and_then(rank) {
        Some(level) if timestamp_ok => level,
        _ => 2,
    };
    rank(application_level).is_some_and(|floor| level >= floor)
}

#[test]
fn metric_lines_survive_lambdas_log_level_filter_at_any_level_and_every_log_line_has_a_level_and_time(
) {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1"],
        &[("111122223333", "new.account@example.com", "Payments")],
        &[],
    );
    let event = sample("organizations-create-account-result-succeeded.json");
    for level in ["INFO", "WARN", "ERROR", "FATAL"] {
        let mut env = emu.env(&seeded, &["us-east-1"]);
        for (k, v) in [
            ("AWS_LAMBDA_FUNCTION_NAME", "guardduty-invite"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", level),
        ] {
            env.push((k.into(), v.into()));
        }
        let out = invoke(&env, &[&event]);
        assert!(out.status.success(), "{level}: {}", stderr(&out));
        let lines: Vec<Value> = stderr(&out)
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{level}: not JSON ({e}): {l}"))
            })
            .collect();
        for line in &lines {
            assert!(
                line["level"].is_string() && line["timestamp"].is_string(),
                "{level}: every line keeps its level and time: {line}"
            );
        }
        let kept: Vec<&Value> = lines
            .iter()
            .filter(|l| kept_by_lambda(l, level) && l.get("_aws").is_some())
            .collect();
        assert_eq!(
            kept.len(),
            1,
            "{level}: the region's metric line passes the filter"
        );
    }
}

#[test]
fn a_problem_of_no_region_is_counted_in_the_problems_metric() {
    let emu = Emulator::start();
    let seeded = emu.seed(&["us-east-1"], &[], &[]);
    let mut env = emu.env(&seeded, &["us-east-1"]);
    env.push(("GUARDDUTY_INVITE_EMF".into(), "stderr".into()));
    // Organizations does not know the account and the request gives no email: a problem of
    // the account, in no region.
    let event = event_file(&manual_request(
        "emf-unknown",
        serde_json::json!([{"accountId": "999988887777"}]),
    ));
    let out = invoke(&env, &[event.as_ref()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = metric_lines(&out);
    let global: Vec<&Value> = lines.iter().filter(|l| l["Region"] == "global").collect();
    assert_eq!(global.len(), 1, "{lines:?}");
    assert_eq!(global[0]["Problems"], 1);
    let published = emu.calls_of("Publish", None).len();
    assert_eq!(published, 1, "the problem is on the topic too");
}
