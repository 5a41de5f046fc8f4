//! End to end over loopback: every status the function reports is one GuardDuty returned. A
//! suspended member detector is resumed (or the account is a problem, never `accepted`),
//! Runtime Monitoring gets GuardDuty's agent management, races between two runs and
//! GuardDuty's read-after-write lag are passing conditions, and a run that fails in part
//! still publishes every problem it found.

use crate::support::*;
use serde_json::{json, Value};

const NEW: &str = "111122223333";
const ROLE: &str = "GuardDutyInviteMember";
const CREATED: &str = "organizations-create-account-result-succeeded.json";
const REGION: &str = "us-east-1";
const NOT_MEMBER: &str = "The request is rejected because the given account ID is not an associated member of account the current account.";

fn setup(regions: &[&str]) -> (Emulator, Seeded) {
    let emu = Emulator::start();
    let seeded = emu.seed(
        regions,
        &[(NEW, "new.account@example.com", "Payments")],
        &[],
    );
    (emu, seeded)
}

fn env_with(
    emu: &Emulator,
    seeded: &Seeded,
    regions: &[&str],
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env = emu.env(seeded, regions);
    env.push(("MEMBER_ROLE_NAME".into(), ROLE.into()));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

fn created_event(env: &[(String, String)]) -> std::process::Output {
    invoke(env, &[&sample(CREATED)])
}

/// The member's own detector in a region, as the emulator holds it (created if absent).
fn member_detector(emu: &Emulator, region: &str, enable: Option<bool>) -> Value {
    let mut body = json!({"accountId": NEW, "region": region});
    if let Some(e) = enable {
        body["enable"] = json!(e);
    }
    emu.control("POST", "/_emulator/guardduty/detector", Some(body))
}

#[test]
fn a_suspended_member_detector_is_resumed_reported_and_a_replay_writes_nothing() {
    let (emu, seeded) = setup(&[REGION]);
    let suspended = member_detector(&emu, REGION, Some(false));
    assert_eq!(suspended["status"], "DISABLED");
    let env = env_with(&emu, &seeded, &[REGION], &[]);
    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let reported = outcome(&responses(&out)[0], NEW, REGION).clone();
    assert_eq!(reported["outcome"], "accepted", "{reported}");
    assert_eq!(reported["detectorResumed"], true, "{reported}");
    assert_eq!(reported["relationshipStatus"], "Enabled", "{reported}");
    assert_eq!(member_detector(&emu, REGION, None)["status"], "ENABLED");
    assert_eq!(emu.calls_of("UpdateDetector", None).len(), 1);
    assert!(emu.received_sns_blocking(&seeded.queue_url).is_empty());

    emu.clear_calls();
    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let reported = outcome(&responses(&out)[0], NEW, REGION).clone();
    assert_eq!(reported["outcome"], "already_enabled", "{reported}");
    assert!(reported.get("detectorResumed").is_none(), "{reported}");
    assert!(emu.writes().is_empty(), "replay wrote: {:?}", emu.writes());
    assert!(emu.calls_by(NEW).is_empty());
}

#[test]
fn a_suspended_detector_the_role_may_not_resume_is_a_problem_and_never_accepted() {
    let (emu, seeded) = setup(&[REGION]);
    member_detector(&emu, REGION, Some(false));
    emu.control(
        "POST",
        "/_emulator/deny",
        Some(json!({"accountId": NEW, "operations": ["UpdateDetector"]})),
    );
    let env = env_with(&emu, &seeded, &[REGION], &[]);
    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let reported = outcome(&responses(&out)[0], NEW, REGION).clone();
    assert_eq!(reported["outcome"], "problem", "{reported}");
    assert_eq!(reported["protected"], false);
    assert!(emu
        .calls_of("AcceptAdministratorInvitation", None)
        .is_empty());
    let member = emu.member(REGION, &seeded.detector(REGION), NEW);
    assert_ne!(member["relationshipStatus"], "Enabled", "{member}");
    let messages = emu.received_sns_blocking(&seeded.queue_url);
    assert_eq!(messages.len(), 1);
    let problem = &sns_body(&messages[0])["problems"][0];
    assert_eq!(problem["operation"], "UpdateDetector");
    let reason = problem["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("SUSPENDED") && reason.contains("Resume GuardDuty"),
        "{reason}"
    );
}

#[test]
fn a_retry_that_reads_invited_after_the_acceptance_finds_the_administrator_and_publishes_nothing() {
    let (emu, seeded) = setup(&[REGION]);
    let env = env_with(&emu, &seeded, &[REGION], &[]);
    assert_eq!(created_event(&env).status.code(), Some(0));
    // GuardDuty's administrator side still reads Invited for a moment after the acceptance,
    // while the invitation is already gone from the member account.
    emu.control(
        "POST",
        "/_emulator/guardduty/stale-status",
        Some(json!({"accountIds": [NEW], "status": "Invited", "times": 1})),
    );
    emu.clear_calls();
    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let reported = outcome(&responses(&out)[0], NEW, REGION).clone();
    assert_eq!(reported["outcome"], "accepted", "{reported}");
    assert_eq!(
        reported["relationshipStatus"], "Enabled",
        "read after: {reported}"
    );
    assert_eq!(emu.calls_of("GetAdministratorAccount", None).len(), 1);
    assert!(emu
        .calls_of("AcceptAdministratorInvitation", None)
        .is_empty());
    assert!(
        emu.received_sns_blocking(&seeded.queue_url).is_empty(),
        "no 'no invitation' problem"
    );
}

#[test]
fn runtime_monitoring_gets_guardduty_s_agent_management_and_a_complete_member_gets_no_write() {
    let (emu, seeded) = setup(&[REGION]);
    let env = env_with(
        &emu,
        &seeded,
        &[REGION],
        &[("MEMBER_FEATURES", "RUNTIME_MONITORING")],
    );
    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let member = emu.member(REGION, &seeded.detector(REGION), NEW);
    assert_eq!(member["features"]["RUNTIME_MONITORING"], "ENABLED");
    for agent in [
        "EKS_ADDON_MANAGEMENT",
        "ECS_FARGATE_AGENT_MANAGEMENT",
        "EC2_AGENT_MANAGEMENT",
    ] {
        assert_eq!(
            member["additionalConfiguration"]["RUNTIME_MONITORING"][agent], "ENABLED",
            "{agent}: {member}"
        );
    }
    let reported = outcome(&responses(&out)[0], NEW, REGION).clone();
    assert_eq!(reported["plans"]["ECS_FARGATE_AGENT_MANAGEMENT"], "ENABLED");
    assert_eq!(reported["protected"], true);

    // Someone turns the Fargate agent off: the next run turns it on again, and only that.
    emu.set_member_features(
        REGION,
        NEW,
        json!([{"name": "RUNTIME_MONITORING", "status": "ENABLED", "additionalConfiguration": [{"name": "ECS_FARGATE_AGENT_MANAGEMENT", "status": "DISABLED"}]}]),
    );
    emu.clear_calls();
    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(emu.calls_of("UpdateMemberDetectors", None).len(), 1);
    let member = emu.member(REGION, &seeded.detector(REGION), NEW);
    assert_eq!(
        member["additionalConfiguration"]["RUNTIME_MONITORING"]["ECS_FARGATE_AGENT_MANAGEMENT"],
        "ENABLED"
    );

    // Everything in place: a replay writes nothing at all.
    emu.clear_calls();
    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(emu.writes().is_empty(), "{:?}", emu.writes());
}

#[test]
fn agent_management_none_leaves_the_agents_to_the_team() {
    let (emu, seeded) = setup(&[REGION]);
    let env = env_with(
        &emu,
        &seeded,
        &[REGION],
        &[
            ("MEMBER_FEATURES", "RUNTIME_MONITORING"),
            ("MEMBER_AGENT_MANAGEMENT", "none"),
        ],
    );
    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let member = emu.member(REGION, &seeded.detector(REGION), NEW);
    assert_eq!(member["features"]["RUNTIME_MONITORING"], "ENABLED");
    let agents = &member["additionalConfiguration"]["RUNTIME_MONITORING"];
    assert!(agents.as_object().is_none_or(|a| a.is_empty()), "{member}");
    assert_eq!(outcome(&responses(&out)[0], NEW, REGION)["protected"], true);
}

#[test]
fn a_detector_created_meanwhile_by_a_concurrent_run_is_used_not_reported() {
    let (emu, seeded) = setup(&[REGION]);
    emu.control(
        "POST",
        "/_emulator/member/detector-race",
        Some(json!({"accountId": NEW})),
    );
    let env = env_with(&emu, &seeded, &[REGION], &[]);
    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        outcome(&responses(&out)[0], NEW, REGION)["outcome"],
        "accepted"
    );
    let creates = emu.calls_of("CreateDetector", None);
    assert_eq!(creates.len(), 1);
    assert_eq!(
        creates[0]["status"], 400,
        "the race's answer: {}",
        creates[0]
    );
    assert!(emu.received_sns_blocking(&seeded.queue_url).is_empty());
}

#[test]
fn two_deliveries_of_one_creation_at_once_end_enabled_with_nothing_on_sns() {
    let regions = ["us-east-1", "eu-west-1"];
    let (emu, seeded) = setup(&regions);
    let env = env_with(
        &emu,
        &seeded,
        &regions,
        &[("MEMBER_FEATURES", "S3_DATA_EVENTS")],
    );
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| created_event(&env));
        let b = s.spawn(|| created_event(&env));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    assert_eq!(b.status.code(), Some(0), "{}", stderr(&b));
    for region in regions {
        let member = emu.member(region, &seeded.detector(region), NEW);
        assert_eq!(member["relationshipStatus"], "Enabled", "{member}");
        assert_eq!(member["features"]["S3_DATA_EVENTS"], "ENABLED");
    }
    assert!(emu.received_sns_blocking(&seeded.queue_url).is_empty());
}

#[test]
fn not_an_associated_member_right_after_the_acceptance_is_retried_and_the_acceptance_stands() {
    let (emu, seeded) = setup(&[REGION]);
    emu.unprocessed("UpdateMemberDetectors", &[NEW], NOT_MEMBER, 1);
    let env = env_with(
        &emu,
        &seeded,
        &[REGION],
        &[("MEMBER_FEATURES", "S3_DATA_EVENTS")],
    );
    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        responses(&out)[0]["errorType"],
        "GuardDuty.UpdateMemberDetectors.Transient"
    );
    let member = emu.member(REGION, &seeded.detector(REGION), NEW);
    assert_eq!(
        member["relationshipStatus"], "Enabled",
        "accepted: {member}"
    );
    assert!(
        emu.received_sns_blocking(&seeded.queue_url).is_empty(),
        "lag is not a problem"
    );

    emu.clear_calls();
    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let reported = outcome(&responses(&out)[0], NEW, REGION).clone();
    assert_eq!(reported["plans"]["S3_DATA_EVENTS"], "ENABLED", "{reported}");
    assert!(
        emu.calls_by(NEW).is_empty(),
        "already accepted: no member call"
    );
}

#[test]
fn a_run_failing_in_one_region_still_publishes_every_problem_of_the_other() {
    let regions = ["us-east-1", "eu-west-1"];
    let emu = Emulator::start();
    let foreign: Vec<String> = (0..120)
        .map(|i| format!("{:012}", 555_500_000_000u64 + i))
        .collect();
    let foreign_refs: Vec<&str> = foreign.iter().map(String::as_str).collect();
    let seeded = emu.seed(&regions, &[], &foreign_refs);
    emu.fault(json!({"operation": "GetMembers", "kind": "error500", "region": "eu-west-1"}));
    let accounts: Vec<Value> = foreign
        .iter()
        .map(|id| json!({"accountId": id, "email": format!("owner+{id}@example.com")}))
        .collect();
    let file = event_file(&manual_request("many-foreign", json!(accounts)));
    let env = emu.env(&seeded, &regions);
    let out = invoke(&env, &[&file]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let error = &responses(&out)[0];
    assert_eq!(
        error["errorType"], "GuardDuty.GetMembers.Transient",
        "{error}"
    );
    let message = error["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("120 problem(s) found so far were published in SNS message(s)"),
        "{message}"
    );
    let received = emu.received_sns_blocking(&seeded.queue_url);
    let on_sns: std::collections::BTreeSet<String> = sns_entries(&received, "problems")
        .iter()
        .map(|p| p["accountId"].as_str().unwrap_or_default().to_owned())
        .collect();
    let expected: std::collections::BTreeSet<String> = foreign.iter().cloned().collect();
    assert_eq!(on_sns, expected, "every problem is on the topic");
    for m in &received {
        let id = m["MessageId"].as_str().unwrap_or_default();
        assert!(message.contains(id), "{id} not named in {message}");
    }
}
