//! The CloudWatch Embedded Metric Format lines are written where CloudWatch reads them:
//! inside Lambda (`AWS_LAMBDA_FUNCTION_NAME` set), or when `GUARDDUTY_INVITE_EMF=stderr`
//! asks for them; not among a person's logs otherwise.

mod support;

use serde_json::Value;
use support::*;

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
