//! End to end over loopback: `check`, the preflight, passes on a complete set-up with read
//! calls only, and names what is missing when something is.

mod support;

use serde_json::{json, Value};
use support::*;

const WRITES: &[&str] = &[
    "CreateMembers",
    "InviteMembers",
    "CreateDetector",
    "UpdateMemberDetectors",
    "AcceptAdministratorInvitation",
    "Publish",
];

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
    env.push((
        "MEMBER_ROLE_NAME".into(),
        "OrganizationAccountAccessRole".into(),
    ));
    let (out, report) = check(&env, &["--account", "111122223333"]);
    assert_eq!(out.status.code(), Some(0), "{report}\n{}", stderr(&out));
    assert_eq!(report["passed"], true);
    assert!(failed(&report).is_empty());
    let made: Vec<String> = emu
        .calls()
        .iter()
        .map(|c| c["operation"].to_string())
        .collect();
    assert!(!made.is_empty());
    for write in WRITES {
        assert!(
            !made.iter().any(|m| m.trim_matches('"') == *write),
            "{write}: {made:?}"
        );
    }
    assert_eq!(
        report["configuration"]["memberRole"],
        "OrganizationAccountAccessRole"
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
