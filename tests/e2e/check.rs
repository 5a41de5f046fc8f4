//! End to end over loopback: `check`, the preflight, passes on a complete set-up with read
//! calls only, and names what is missing when something is.

use crate::support::*;
use serde_json::{json, Value};

/// Every call `check` made that is not a read, from the emulator's full log: check assumes
/// the member role (to try it) and writes nothing else.
fn check_writes(emu: &Emulator) -> Vec<String> {
    emu.writes()
        .into_iter()
        .filter(|o| o != "AssumeRole")
        .collect()
}

fn check(env: &[(String, String)], extra: &[&str]) -> (std::process::Output, Value) {
    let mut args = vec!["check", "--json"];
    args.extend(extra);
    let out = run_binary(env, &args);
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, report)
}

fn failed(report: &Value) -> Vec<&Value> {
    report["checks"]
        .as_array()
        .map(|c| c.iter().filter(|c| c["verdict"] == "failed").collect())
        .unwrap_or_default()
}

#[test]
fn check_passes_on_a_complete_setup_and_makes_no_write_call() {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1", "eu-west-1"],
        &[("111122223333", "a@example.com", "A")],
        &[],
    );
    let mut env = emu.env(&seeded, &["us-east-1", "eu-west-1"]);
    env.push(("MEMBER_ROLE_NAME".into(), "GuardDutyInviteMember".into()));
    let (out, report) = check(&env, &["--account", "111122223333"]);
    assert_eq!(out.status.code(), Some(0), "{report}\n{}", stderr(&out));
    assert_eq!(report["passed"], true);
    assert!(failed(&report).is_empty());
    assert!(!emu.calls().is_empty());
    assert_eq!(
        check_writes(&emu),
        Vec::<String>::new(),
        "check writes nothing"
    );
    assert_eq!(
        report["configuration"]["memberRole"],
        "GuardDutyInviteMember"
    );
}

#[test]
fn check_fails_naming_the_region_without_a_detector() {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1"],
        &[("111122223333", "a@example.com", "A")],
        &[],
    );
    let (out, report) = check(&emu.env(&seeded, &["us-east-1", "ap-south-1"]), &[]);
    assert_eq!(out.status.code(), Some(1));
    let failures = failed(&report);
    assert_eq!(failures.len(), 1, "{report}");
    assert_eq!(failures[0]["check"], "detector");
    assert_eq!(failures[0]["region"], "ap-south-1");
    assert!(failures[0]["fix"]
        .as_str()
        .unwrap_or_default()
        .contains("ap-south-1"));
}

#[test]
fn check_fails_naming_the_topic_that_does_not_exist() {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1"],
        &[("111122223333", "a@example.com", "A")],
        &[],
    );
    let missing = "arn:aws:sns:us-east-1:123456789012:no-such-topic";
    let env: Vec<(String, String)> = emu
        .env(&seeded, &["us-east-1"])
        .into_iter()
        .map(|(k, v)| {
            if k == "SNS_TOPIC_ARN" {
                (k, missing.to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    let (out, report) = check(&env, &[]);
    assert_eq!(out.status.code(), Some(1));
    let failures = failed(&report);
    assert_eq!(failures.len(), 1, "{report}");
    assert_eq!(failures[0]["check"], "topic");
    assert!(failures[0]["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("GetTopicAttributes"));
}

#[test]
fn check_with_an_account_fails_when_the_member_role_cannot_be_assumed() {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1"],
        &[("111122223333", "a@example.com", "A")],
        &[],
    );
    emu.control(
        "POST",
        "/_emulator/sts/deny-assume-role",
        Some(json!({"accountIds": ["111122223333"]})),
    );
    let mut env = emu.env(&seeded, &["us-east-1"]);
    env.push(("MEMBER_ROLE_NAME".into(), "AWSControlTowerExecution".into()));
    let (out, report) = check(&env, &["--account", "111122223333"]);
    assert_eq!(out.status.code(), Some(1));
    let failures = failed(&report);
    assert_eq!(failures.len(), 1, "{report}");
    assert_eq!(failures[0]["check"], "member role");
    assert!(failures[0]["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("AWSControlTowerExecution"));

    // Without --account the role is not tried, and says so.
    let (out, report) = check(&env, &[]);
    assert_eq!(out.status.code(), Some(0), "{report}");
    let role = report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["check"] == "member role"))
        .cloned();
    assert_eq!(role.map(|r| r["verdict"].clone()), Some(json!("skipped")));
    assert!(emu.calls_of("AssumeRole", None).len() == 1);
}

/// The line of `check` (in `region`, if given), or Null.
fn line<'a>(report: &'a Value, check: &str, region: Option<&str>) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|c| {
            c.iter()
                .find(|c| c["check"] == check && region.is_none_or(|r| c["region"] == r))
        })
        .unwrap_or(&Value::Null)
}

fn text<'a>(line: &'a Value, field: &str) -> &'a str {
    line[field].as_str().unwrap_or_default()
}

/// The environment with `name` set to `value` (replaced if present).
fn with(mut env: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    env.retain(|(k, _)| k != name);
    env.push((name.to_owned(), value.to_owned()));
    env
}

/// A topic in us-east-1 with these attributes; its ARN.
fn topic(emu: &Emulator, name: &str, attributes: &[(&str, &str)]) -> String {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let sdk = emu.sdk_config().await;
            let mut create = aws_sdk_sns::Client::new(&sdk).create_topic().name(name);
            for (k, v) in attributes {
                create = create.attributes(*k, *v);
            }
            create
                .send()
                .await
                .expect("CreateTopic")
                .topic_arn()
                .unwrap_or_default()
                .to_owned()
        })
}

/// Runs `check` on a pseudo-terminal (through `script`), where it prints its table.
fn check_on_a_terminal(env: &[(String, String)], args: &str) -> (Option<i32>, String) {
    let out = std::process::Command::new("script")
        .args(["-q", "-e", "-c"])
        .arg(format!(
            "{} check {args}",
            env!("CARGO_BIN_EXE_guardduty-invite")
        ))
        .arg("/dev/null")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SHELL", "/bin/sh")
        .env("TERM", "xterm")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("script (util-linux) runs the binary on a pseudo-terminal");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"),
    )
}

#[test]
fn warnings_and_unverified_lines_do_not_fail_the_check_and_the_table_shows_them() {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1"],
        &[("111122223333", "a@example.com", "A")],
        &[],
    );
    let keyed = topic(
        &emu,
        "customer-key",
        &[(
            "KmsMasterKeyId",
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        )],
    );
    let env = with(emu.env(&seeded, &["us-east-1"]), "SNS_TOPIC_ARN", &keyed);
    let env = with(env, "MEMBER_FEATURES", "EKS_RUNTIME_MONITORING");
    let (out, report) = check(&env, &[]);
    assert_eq!(out.status.code(), Some(0), "{report}\n{}", stderr(&out));
    assert_eq!(report["passed"], true, "{report}");
    assert_eq!(line(&report, "member features", None)["verdict"], "warning");
    assert_eq!(
        line(&report, "topic encryption", None)["verdict"],
        "not_verified"
    );
    // The JSON keeps its shape: checks of {check, region?, verdict, detail, fix?}.
    for c in report["checks"].as_array().into_iter().flatten() {
        let keys: Vec<&String> = c
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert!(
            keys.iter()
                .all(|k| ["check", "region", "verdict", "detail", "fix"].contains(&k.as_str())),
            "{c}"
        );
    }
    assert_eq!(
        report["configuration"]["memberAgents"],
        json!(["EKS_ADDON_MANAGEMENT"])
    );

    let (code, table) = check_on_a_terminal(&env, "");
    assert_eq!(code, Some(0), "{table}");
    assert!(
        table.contains("\nwarn  member features"),
        "a warning reads warn:\n{table}"
    );
    assert!(
        table.contains("\nn/v   topic encryption"),
        "not verified reads n/v:\n{table}"
    );
    let last = table.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("configuration: regions us-east-1;")
            && last
                .ends_with("features EKS_RUNTIME_MONITORING; agent settings EKS_ADDON_MANAGEMENT"),
        "the table ends with the configuration, agent settings included:\n{table}"
    );
}

#[test]
fn check_warns_about_the_legacy_runtime_plan_and_runtime_monitoring_without_agents() {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1"],
        &[("111122223333", "a@example.com", "A")],
        &[],
    );
    let base = emu.env(&seeded, &["us-east-1"]);

    let env = with(base.clone(), "MEMBER_FEATURES", "EKS_RUNTIME_MONITORING");
    let (out, report) = check(&env, &[]);
    assert_eq!(out.status.code(), Some(0), "{report}");
    let legacy = line(&report, "member features", None);
    assert_eq!(legacy["verdict"], "warning", "{report}");
    assert!(
        text(legacy, "detail").contains("GuardDuty's legacy EKS-only runtime plan")
            && text(legacy, "detail")
                .contains("Security Hub control GuardDuty.11 checks RUNTIME_MONITORING"),
        "{legacy}"
    );
    assert_eq!(
        text(legacy, "fix"),
        "use RUNTIME_MONITORING instead of EKS_RUNTIME_MONITORING in MEMBER_FEATURES"
    );
    assert!(line(&report, "member agents", None).is_null(), "{report}");

    let env = with(base.clone(), "MEMBER_FEATURES", "RUNTIME_MONITORING");
    let env = with(env, "MEMBER_AGENT_MANAGEMENT", "none");
    let (out, report) = check(&env, &[]);
    assert_eq!(out.status.code(), Some(0), "{report}");
    let agents = line(&report, "member agents", None);
    assert_eq!(agents["verdict"], "warning", "{report}");
    assert!(
        text(agents, "detail").contains("Runtime Monitoring sees nothing until the GuardDuty security agent runs in each workload")
            && text(agents, "detail").contains("on ECS Fargate only GuardDuty can deploy it"),
        "{agents}"
    );
    assert!(line(&report, "member features", None).is_null(), "{report}");

    // RUNTIME_MONITORING with its agents: nothing to warn about.
    let env = with(base, "MEMBER_FEATURES", "RUNTIME_MONITORING");
    let (_, report) = check(&env, &[]);
    assert!(line(&report, "member agents", None).is_null(), "{report}");
    assert!(line(&report, "member features", None).is_null(), "{report}");
}

#[test]
fn check_reads_the_organization_s_auto_enable_settings_and_warns_where_they_work_against_the_stack()
{
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1", "eu-west-1"],
        &[("111122223333", "a@example.com", "A")],
        &[],
    );
    emu.control(
        "POST",
        "/_emulator/guardduty/organization-configuration",
        Some(json!({
            "region": "us-east-1",
            "autoEnableOrganizationMembers": "NEW",
            "features": [
                {"name": "S3_DATA_EVENTS", "autoEnable": "ALL"},
                {"name": "RUNTIME_MONITORING", "autoEnable": "NONE", "additionalConfiguration": [
                    {"name": "EKS_ADDON_MANAGEMENT", "autoEnable": "NEW"},
                    {"name": "ECS_FARGATE_AGENT_MANAGEMENT", "autoEnable": "NONE"},
                    {"name": "EC2_AGENT_MANAGEMENT", "autoEnable": "NEW"}
                ]}
            ]
        })),
    );
    let env = with(
        emu.env(&seeded, &["us-east-1", "eu-west-1"]),
        "MEMBER_FEATURES",
        "S3_DATA_EVENTS,RUNTIME_MONITORING",
    );
    let (out, report) = check(&env, &[]);
    assert_eq!(out.status.code(), Some(0), "{report}\n{}", stderr(&out));

    let us = line(&report, "org auto-enable", Some("us-east-1"));
    assert_eq!(us["verdict"], "warning", "{report}");
    let detail = text(us, "detail");
    assert!(
        detail.starts_with("autoEnableOrganizationMembers NEW; features: S3_DATA_EVENTS ALL, RUNTIME_MONITORING NONE (EKS_ADDON_MANAGEMENT NEW, ECS_FARGATE_AGENT_MANAGEMENT NONE, EC2_AGENT_MANAGEMENT NEW)"),
        "{detail}"
    );
    assert!(
        detail.contains("NEW leaves the organization's existing accounts out"),
        "{detail}"
    );
    assert!(
        detail.contains("this stack turns on RUNTIME_MONITORING (with ECS_FARGATE_AGENT_MANAGEMENT), which the organization does not auto-enable for new accounts (autoEnable NONE)"),
        "{detail}"
    );
    assert!(!detail.contains("turns on S3_DATA_EVENTS"), "{detail}");
    assert!(
        text(us, "fix").starts_with("set auto-enable to ALL for the organization's accounts"),
        "{us}"
    );

    // Not the delegated administrator there: skipped, invitations handle it.
    let eu = line(&report, "org auto-enable", Some("eu-west-1"));
    assert_eq!(eu["verdict"], "skipped", "{report}");
    assert!(
        text(eu, "detail").ends_with(
            "accounts reach this administrator by invitation there, which this stack handles"
        ),
        "{eu}"
    );

    // Read calls only: the setting is never changed.
    let made = emu.calls();
    assert_eq!(
        made.iter()
            .filter(|c| c["operation"] == "DescribeOrganizationConfiguration")
            .count(),
        2,
        "{made:?}"
    );
    assert_eq!(check_writes(&emu), Vec::<String>::new(), "{made:?}");

    // ALL, with every plan auto-enabled: passed, the settings reported.
    emu.control(
        "POST",
        "/_emulator/guardduty/organization-configuration",
        Some(json!({
            "region": "us-east-1",
            "autoEnableOrganizationMembers": "ALL",
            "features": [{"name": "S3_DATA_EVENTS", "autoEnable": "NEW"}]
        })),
    );
    let env = with(env, "MEMBER_FEATURES", "S3_DATA_EVENTS");
    let (_, report) = check(&env, &[]);
    let us = line(&report, "org auto-enable", Some("us-east-1"));
    assert_eq!(us["verdict"], "passed", "{report}");
    assert_eq!(
        text(us, "detail"),
        "autoEnableOrganizationMembers ALL; features: S3_DATA_EVENTS NEW"
    );
}

#[test]
fn a_topic_encrypted_with_the_aws_managed_key_fails_another_key_is_not_verified() {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1"],
        &[("111122223333", "a@example.com", "A")],
        &[],
    );
    let base = emu.env(&seeded, &["us-east-1"]);

    // The seeded topic has no key: passed, saying so.
    let (out, report) = check(&base, &[]);
    assert_eq!(out.status.code(), Some(0), "{report}");
    let plain = line(&report, "topic encryption", None);
    assert_eq!(plain["verdict"], "passed", "{report}");
    assert!(text(plain, "detail").contains("not encrypted"), "{plain}");

    for (name, key) in [
        ("aws-managed", "alias/aws/sns"),
        (
            "aws-managed-arn",
            "arn:aws:kms:us-east-1:123456789012:alias/aws/sns",
        ),
    ] {
        let arn = topic(&emu, name, &[("KmsMasterKeyId", key)]);
        let (out, report) = check(&with(base.clone(), "SNS_TOPIC_ARN", &arn), &[]);
        assert_eq!(out.status.code(), Some(1), "{report}");
        let failures = failed(&report);
        assert_eq!(failures.len(), 1, "{report}");
        assert_eq!(failures[0]["check"], "topic encryption");
        assert!(
            text(failures[0], "detail").contains(
                "CloudWatch alarms cannot publish to a topic encrypted with an AWS managed key"
            ),
            "{report}"
        );
        assert!(
            text(failures[0], "fix").contains(
                "customer managed KMS key whose key policy lets cloudwatch.amazonaws.com use it"
            ),
            "{report}"
        );
    }

    let arn = topic(
        &emu,
        "customer-managed",
        &[("KmsMasterKeyId", "alias/guardduty-invite")],
    );
    let (out, report) = check(&with(base, "SNS_TOPIC_ARN", &arn), &[]);
    assert_eq!(out.status.code(), Some(0), "{report}");
    let keyed = line(&report, "topic encryption", None);
    assert_eq!(keyed["verdict"], "not_verified", "{report}");
    assert!(
        text(keyed, "detail").contains(
            "a read-only check cannot see whether the key policy lets CloudWatch use the key"
        ),
        "{keyed}"
    );
}

#[test]
fn each_kind_of_failed_call_has_its_own_fix() {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1"],
        &[("111122223333", "a@example.com", "A")],
        &[],
    );
    let env = emu.env(&seeded, &["us-east-1"]);
    let topic_fix = |env: &[(String, String)]| {
        let (out, report) = check(env, &[]);
        assert_eq!(out.status.code(), Some(1), "{report}");
        let failures = failed(&report);
        assert_eq!(failures.len(), 1, "{report}");
        assert_eq!(failures[0]["check"], "topic", "{report}");
        text(failures[0], "fix").to_owned()
    };

    // A topic that does not exist.
    let missing = with(
        env.clone(),
        "SNS_TOPIC_ARN",
        "arn:aws:sns:us-east-1:123456789012:no-such-topic",
    );
    assert_eq!(
        topic_fix(&missing),
        "create the topic, or set SNS_TOPIC_ARN to an existing topic's ARN"
    );

    // Access denied: the action to allow, and whose credentials were used.
    emu.control(
        "POST",
        "/_emulator/deny",
        Some(json!({"accountId": "*", "operations": ["GetTopicAttributes"]})),
    );
    assert_eq!(
        topic_fix(&env),
        "allow sns:GetTopicAttributes to the role the function runs as (template.yaml grants it); run by hand, the call used your own credentials, which may lack it"
    );
    emu.control("DELETE", "/_emulator/deny", None);

    // Refused as made (a 400 that is not a throttle).
    emu.control(
        "POST",
        "/_emulator/deny",
        Some(
            json!({"accountId": "*", "operations": ["GetTopicAttributes"], "status": 400,
                    "code": "InvalidParameter", "message": "Invalid parameter: TopicArn"}),
        ),
    );
    assert_eq!(
        topic_fix(&env),
        "AWS refused the request as made: correct what the message names; running check again will not help until then"
    );
    emu.control("DELETE", "/_emulator/deny", None);

    // A passing failure, with AWS's code.
    emu.fault(json!({"operation": "GetTopicAttributes", "kind": "throttle"}));
    assert_eq!(
        topic_fix(&env),
        "AWS answered ThrottlingException, which passes: run check again in a minute"
    );
    emu.clear_faults();

    // No answer at all: every failed line says where to look.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    drop(listener);
    let home = tempfile::tempdir().expect("temp dir");
    let mut nowhere = function_env(&closed, &seeded.topic_arn, &["us-east-1"]);
    nowhere.push(("HOME".into(), home.path().display().to_string()));
    let (out, report) = check(&nowhere, &[]);
    assert_eq!(out.status.code(), Some(1), "{report}");
    let failures = failed(&report);
    assert!(!failures.is_empty(), "{report}");
    for f in failures {
        assert_eq!(
            text(f, "fix"),
            "no answer from AWS: check the endpoint (AWS_ENDPOINT_URL), the network or proxy and the trust store (SSL_CERT_FILE), then run check again",
            "{f}"
        );
    }
}

#[test]
fn a_refused_member_role_is_told_apart_by_whose_policy_refused_it() {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1"],
        &[("111122223333", "a@example.com", "A")],
        &[],
    );
    let env = with(
        emu.env(&seeded, &["us-east-1"]),
        "MEMBER_ROLE_NAME",
        "GuardDutyInviteMember",
    );
    let role_line = |reason: &str| {
        emu.control(
            "POST",
            "/_emulator/sts/deny-assume-role",
            Some(json!({"accountIds": ["111122223333"], "reason": reason})),
        );
        let (out, report) = check(&env, &["--account", "111122223333"]);
        assert_eq!(out.status.code(), Some(1), "{report}");
        let failures = failed(&report);
        assert_eq!(failures.len(), 1, "{report}");
        assert_eq!(failures[0]["check"], "member role");
        failures[0].clone()
    };

    for reason in ["identity-policy", "explicit-deny"] {
        let own = role_line(reason);
        assert!(
            text(&own, "detail").contains("this function's own IAM policy does not allow it"),
            "{own}"
        );
        let fix = text(&own, "fix");
        assert!(
            fix.contains("OrganizationId parameter")
                && fix.contains("MemberRoleName parameter")
                && fix.contains("aws:ResourceOrgID")
                && fix.contains("MemberRoleName to GuardDutyInviteMember"),
            "{fix}"
        );
        assert!(!fix.contains("member-role.yaml"), "{fix}");
    }

    let trust = role_line("trust");
    assert!(
        text(&trust, "detail").contains("does not exist in 111122223333 or does not trust"),
        "{trust}"
    );
    let fix = text(&trust, "fix");
    assert!(
        fix.starts_with(
            "create GuardDutyInviteMember in 111122223333 trusting this function's role"
        ) && fix.contains("deploy/member-role.yaml")
            && fix.contains("service-managed StackSet"),
        "{fix}"
    );
    assert!(!fix.contains("OrganizationId"), "{fix}");
}

#[test]
fn an_assumed_member_role_reads_the_member_s_detectors_and_warns_about_a_suspended_one() {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1", "eu-west-1"],
        &[("111122223333", "a@example.com", "A")],
        &[],
    );
    emu.control(
        "POST",
        "/_emulator/guardduty/detector",
        Some(json!({"accountId": "111122223333", "region": "us-east-1", "enable": false})),
    );
    let env = with(
        emu.env(&seeded, &["us-east-1", "eu-west-1"]),
        "MEMBER_ROLE_NAME",
        "GuardDutyInviteMember",
    );
    emu.clear_calls();
    let (out, report) = check(&env, &["--account", "111122223333"]);
    assert_eq!(out.status.code(), Some(0), "{report}\n{}", stderr(&out));
    let suspended = line(&report, "member detectors", Some("us-east-1"));
    assert_eq!(suspended["verdict"], "warning", "{report}");
    assert!(
        text(suspended, "detail").contains("is suspended"),
        "{suspended}"
    );
    assert!(
        text(suspended, "fix").contains("guardduty:UpdateDetector"),
        "{suspended}"
    );
    let none = line(&report, "member detectors", Some("eu-west-1"));
    assert_eq!(none["verdict"], "passed", "{report}");
    // Read with the member's own credentials; nothing resumed by a check.
    let member = emu.calls_by("111122223333");
    assert!(
        member
            .iter()
            .any(|c| c["operation"] == "GetDetector" && c["region"] == "us-east-1"),
        "{member:?}"
    );
    assert_eq!(check_writes(&emu), Vec::<String>::new(), "{member:?}");
}

#[test]
fn check_asks_which_regions_the_account_has_enabled_only_when_an_opt_in_region_is_configured() {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1", "af-south-1"],
        &[("111122223333", "a@example.com", "A")],
        &[],
    );

    // No opt-in region: skipped, no call.
    let (out, report) = check(
        &emu.env(&seeded, &["us-east-1"]),
        &["--account", "111122223333"],
    );
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(
        line(&report, "opt-in regions", None)["verdict"],
        "skipped",
        "{report}"
    );
    assert!(emu.calls_of("ListRegions", None).is_empty());

    // With one: the given account's regions.
    let env = emu.env(&seeded, &["us-east-1", "af-south-1"]);
    emu.control(
        "POST",
        "/_emulator/account/regions",
        Some(json!({"accountId": "111122223333", "regions": {"af-south-1": "ENABLED"}})),
    );
    let (out, report) = check(&env, &["--account", "111122223333"]);
    assert_eq!(out.status.code(), Some(0), "{report}\n{}", stderr(&out));
    let allowed = line(&report, "opt-in regions", None);
    assert_eq!(allowed["verdict"], "passed", "{report}");
    assert!(
        text(allowed, "detail")
            .starts_with("ListRegions answers for 111122223333: af-south-1 ENABLED"),
        "{allowed}"
    );
    assert!(!emu.calls_of("ListRegions", None).is_empty());

    // Without --account: one of the organization's member accounts, asked as the function
    // asks (with its account id), not this account's own, which any account may read.
    emu.clear_calls();
    let (out, report) = check(&env, &[]);
    assert_eq!(out.status.code(), Some(0), "{report}");
    let member = line(&report, "opt-in regions", None);
    assert_eq!(member["verdict"], "passed", "{report}");
    assert!(
        text(member, "detail").starts_with("ListRegions answers for 111122223333: af-south-1"),
        "{member}"
    );
    let asked = emu.calls_of("ListRegions", None);
    assert!(
        !asked.is_empty() && asked.iter().all(|c| c["accountId"] == "111122223333"),
        "{asked:?}"
    );

    // Denied (no trusted access): a warning saying how to allow it, not a failure.
    emu.control(
        "POST",
        "/_emulator/account/trusted-access",
        Some(json!({"enabled": false})),
    );
    let (out, report) = check(&env, &["--account", "111122223333"]);
    assert_eq!(out.status.code(), Some(0), "{report}");
    let denied = line(&report, "opt-in regions", None);
    assert_eq!(denied["verdict"], "warning", "{report}");
    assert!(
        text(denied, "detail").contains("falls back to inviting in every configured region"),
        "{denied}"
    );
    let fix = text(denied, "fix");
    assert!(
        fix.contains("aws organizations enable-aws-service-access --service-principal account.amazonaws.com")
            && fix.contains("aws organizations register-delegated-administrator --account-id 123456789012 --service-principal account.amazonaws.com")
            && fix.contains("account:ListRegions"),
        "{fix}"
    );
}

#[test]
fn check_reports_that_the_administrator_has_reached_the_member_account_limit() {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1"],
        &[("111122223333", "a@example.com", "A")],
        &[],
    );
    emu.control(
        "POST",
        "/_emulator/guardduty/organization-configuration",
        Some(json!({
            "region": "us-east-1",
            "autoEnableOrganizationMembers": "ALL",
            "features": [{"name": "S3_DATA_EVENTS", "autoEnable": "ALL"}]
        })),
    );
    let env = with(
        emu.env(&seeded, &["us-east-1"]),
        "MEMBER_FEATURES",
        "S3_DATA_EVENTS",
    );
    let (_, report) = check(&env, &[]);
    let before = line(&report, "org auto-enable", Some("us-east-1"));
    assert_eq!(before["verdict"], "passed", "{report}");

    emu.control(
        "POST",
        "/_emulator/guardduty/member-limit",
        Some(json!({"limit": 0})),
    );
    let (_, report) = check(&env, &[]);
    let full = line(&report, "org auto-enable", Some("us-east-1"));
    assert_eq!(full["verdict"], "warning", "{report}");
    assert!(
        text(full, "detail").contains("memberAccountLimitReached"),
        "{full}"
    );
}

#[tokio::test]
async fn check_says_plainly_that_the_management_account_s_regions_cannot_be_read() {
    const DELEGATED: &str = "222233334444";
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1", "af-south-1"],
        &[(DELEGATED, "d@example.com", "Security")],
        &[],
    );
    emu.control(
        "POST",
        "/_emulator/account/delegated-administrator",
        Some(json!({ "accountId": DELEGATED })),
    );
    // The function runs in the delegated administrator, not in the management account.
    let sdk = emu.sdk_config().await;
    let assumed = aws_sdk_sts::Client::new(&sdk)
        .assume_role()
        .role_arn(format!(
            "arn:aws:iam::{DELEGATED}:role/GuardDutyInviteMember"
        ))
        .role_session_name("tests")
        .send()
        .await
        .expect("AssumeRole");
    let c = assumed.credentials().expect("credentials");
    let mut env: Vec<(String, String)> = emu
        .env(&seeded, &["us-east-1", "af-south-1"])
        .into_iter()
        .filter(|(k, _)| !k.starts_with("AWS_ACCESS_KEY_ID") && !k.starts_with("AWS_SECRET"))
        .collect();
    env.extend([
        ("AWS_ACCESS_KEY_ID".into(), c.access_key_id().to_owned()),
        (
            "AWS_SECRET_ACCESS_KEY".into(),
            c.secret_access_key().to_owned(),
        ),
        ("AWS_SESSION_TOKEN".into(), c.session_token().to_owned()),
    ]);
    emu.clear_calls();
    let (_, report) = check(&env, &["--account", "123456789012"]);
    let management = line(&report, "opt-in regions", None);
    assert_eq!(management["verdict"], "warning", "{report}");
    let detail = text(management, "detail");
    assert!(
        detail.contains("is the organization's management account, whose regions cannot be read"),
        "{management}"
    );
    assert!(!detail.contains("not authorized"), "{management}");
    assert!(
        !text(management, "fix").contains("enable-aws-service-access"),
        "nothing to grant: {management}"
    );
}
