//! End to end over loopback: with a member role the function enables GuardDuty inside the new
//! account, accepts the invitation and turns on the protection plans, so the account ends
//! `Enabled`; every way that can fail is either published or fails the invocation.

use crate::support::*;
use serde_json::{json, Value};

const NEW: &str = "111122223333";
const ROLE: &str = "GuardDutyInviteMember";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const CREATED: &str = "organizations-create-account-result-succeeded.json";

fn setup() -> (Emulator, Seeded) {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &REGIONS,
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

fn member_record(emu: &Emulator, seeded: &Seeded, region: &str) -> Value {
    emu.member(region, &seeded.detector(region), NEW)
}

fn operations(calls: &[Value]) -> Vec<String> {
    calls
        .iter()
        .map(|c| c["operation"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_new_account_ends_enabled_with_its_protection_plans_in_every_region() {
    let (emu, seeded) = setup();
    let env = env_with(
        &emu,
        &seeded,
        &REGIONS,
        &[("MEMBER_FEATURES", "S3_DATA_EVENTS,RUNTIME_MONITORING")],
    );
    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let response = &responses(&out)[0];
    for region in REGIONS {
        let reported = outcome(response, NEW, region);
        assert_eq!(reported["outcome"], "accepted");
        // Read back from GuardDuty after the acceptance and the plans, not assumed.
        assert_eq!(reported["relationshipStatus"], "Enabled", "{reported}");
        assert_eq!(reported["plans"]["S3_DATA_EVENTS"], "ENABLED", "{reported}");
        assert_eq!(reported["protected"], true, "{reported}");
        let member = member_record(&emu, &seeded, region);
        assert_eq!(
            member["relationshipStatus"], "Enabled",
            "{region}: {member}"
        );
        assert_eq!(member["features"]["S3_DATA_EVENTS"], "ENABLED", "{member}");
        assert_eq!(
            member["features"]["RUNTIME_MONITORING"], "ENABLED",
            "{member}"
        );
    }
    // The role once for the account, then per region: its detector (none yet, so created),
    // its status, the invitation, the acceptance.
    assert_eq!(emu.calls_of("AssumeRole", None).len(), 1);
    assert_eq!(
        emu.calls_of("AssumeRole", None)[0]["roleArn"],
        format!("arn:aws:iam::{NEW}:role/{ROLE}")
    );
    let mut member_side = operations(&emu.calls_by(NEW));
    member_side.sort();
    assert_eq!(
        member_side,
        [
            "AcceptAdministratorInvitation",
            "AcceptAdministratorInvitation",
            "CreateDetector",
            "CreateDetector",
            "GetDetector",
            "GetDetector",
            "ListDetectors",
            "ListDetectors",
            "ListInvitations",
            "ListInvitations",
        ]
    );
    for region in REGIONS {
        assert_eq!(emu.calls_of("UpdateMemberDetectors", Some(region)).len(), 1);
    }
    assert!(emu.received_sns_blocking(&seeded.queue_url).is_empty());
}

#[test]
fn a_replay_of_a_finished_account_makes_no_member_account_call_and_changes_nothing() {
    let (emu, seeded) = setup();
    let env = env_with(
        &emu,
        &seeded,
        &REGIONS,
        &[("MEMBER_FEATURES", "S3_DATA_EVENTS")],
    );
    assert_eq!(created_event(&env).status.code(), Some(0));
    let before: Vec<Value> = REGIONS
        .iter()
        .map(|r| member_record(&emu, &seeded, r))
        .collect();
    emu.clear_calls();

    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for region in REGIONS {
        assert_eq!(
            outcome(&responses(&out)[0], NEW, region)["outcome"],
            "already_enabled"
        );
    }
    assert!(emu.calls_by(NEW).is_empty(), "{:?}", emu.calls_by(NEW));
    // Read calls only: no write of any kind.
    let made = operations(&emu.calls());
    let reads = [
        "DescribeAccount",
        "ListDetectors",
        "GetMembers",
        "GetMemberDetectors",
    ];
    let writes: Vec<&String> = made
        .iter()
        .filter(|o| !reads.contains(&o.as_str()))
        .collect();
    assert!(writes.is_empty(), "writes on replay: {writes:?}");
    let after: Vec<Value> = REGIONS
        .iter()
        .map(|r| member_record(&emu, &seeded, r))
        .collect();
    assert_eq!(before, after);
}

#[test]
fn the_member_role_assumed_is_exactly_the_one_member_role_name_names() {
    let (emu, seeded) = setup();
    // A name the code cannot know, created in the account beside the seeded GuardDutyInviteMember.
    const CUSTOM: &str = "Team.GuardDuty-Accept";
    emu.control(
        "POST",
        "/_emulator/iam/roles",
        Some(json!({"accountId": NEW, "roleName": CUSTOM})),
    );
    let mut env = emu.env(&seeded, &REGIONS);
    env.push(("MEMBER_ROLE_NAME".into(), CUSTOM.into()));
    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let assumed: Vec<(Value, Value)> = emu
        .calls_of("AssumeRole", None)
        .iter()
        .map(|c| (c["roleArn"].clone(), c["status"].clone()))
        .collect();
    assert_eq!(
        assumed,
        [(
            json!(format!("arn:aws:iam::{NEW}:role/{CUSTOM}")),
            json!(200)
        )]
    );
    for region in REGIONS {
        assert_eq!(
            member_record(&emu, &seeded, region)["relationshipStatus"],
            "Enabled"
        );
    }
}

#[tokio::test]
async fn a_member_role_name_that_does_not_exist_in_the_account_is_published_naming_it() {
    let (emu, seeded) = setup();
    // The account has GuardDutyInviteMember (seeded); the configuration names another role.
    const WRONG: &str = "GuardDutyInviteMembers";
    let mut env = emu.env(&seeded, &REGIONS);
    env.push(("MEMBER_ROLE_NAME".into(), WRONG.into()));
    env.push(("MEMBER_ROLE_GRACE_MINUTES".into(), "0".into()));
    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let wrong_arn = format!("arn:aws:iam::{NEW}:role/{WRONG}");
    let assumed = emu.calls_of("AssumeRole", None);
    assert_eq!(assumed.len(), 1, "{assumed:?}");
    assert_eq!(
        (&assumed[0]["roleArn"], &assumed[0]["status"]),
        (&json!(wrong_arn), &json!(403))
    );
    for region in REGIONS {
        assert_eq!(
            outcome(&responses(&out)[0], NEW, region)["outcome"],
            "problem"
        );
        let status = member_record(&emu, &seeded, region)["relationshipStatus"].clone();
        assert!(
            status == "Invited" || status == "EmailVerificationInProgress",
            "{status}"
        );
    }
    let messages = emu.received_sns(&seeded.queue_url).await;
    assert_eq!(messages.len(), 1);
    let problems = sns_body(&messages[0])["problems"].clone();
    let problems = problems.as_array().expect("problems");
    assert_eq!(problems.len(), REGIONS.len());
    for p in problems {
        assert_eq!(p["operation"], "AssumeRole");
        let reason = p["reason"].as_str().unwrap_or_default();
        assert!(reason.contains(&wrong_arn), "{reason}");
    }
}

#[tokio::test]
async fn a_member_with_its_own_detector_keeps_it_and_accepts_with_it() {
    let (emu, seeded) = setup();
    let own = emu.create_member_detector(NEW, "us-east-1").await;
    emu.clear_calls();
    let env = env_with(&emu, &seeded, &["us-east-1"], &[]);
    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        outcome(&responses(&out)[0], NEW, "us-east-1")["outcome"],
        "accepted"
    );
    assert!(emu.calls_of("CreateDetector", None).is_empty());
    let member = member_record(&emu, &seeded, "us-east-1");
    assert_eq!(member["memberDetectorId"], own.as_str());
    assert_eq!(member["relationshipStatus"], "Enabled");
}

#[tokio::test]
async fn a_role_that_cannot_be_assumed_is_published_and_the_account_stays_invited() {
    let (emu, seeded) = setup();
    emu.control(
        "POST",
        "/_emulator/sts/deny-assume-role",
        Some(json!({"accountIds": [NEW]})),
    );
    // Past the grace period a missing role is a problem, not a role on its way.
    let env = env_with(
        &emu,
        &seeded,
        &REGIONS,
        &[("MEMBER_ROLE_GRACE_MINUTES", "0")],
    );
    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for region in REGIONS {
        assert_eq!(
            outcome(&responses(&out)[0], NEW, region)["outcome"],
            "problem"
        );
        let status = member_record(&emu, &seeded, region)["relationshipStatus"].clone();
        assert!(
            status == "Invited" || status == "EmailVerificationInProgress",
            "{status}"
        );
    }
    // Once per run, although two regions needed it.
    assert_eq!(emu.calls_of("AssumeRole", None).len(), 1);
    let messages = emu.received_sns(&seeded.queue_url).await;
    assert_eq!(messages.len(), 1);
    let problems = sns_body(&messages[0])["problems"].clone();
    let problems = problems.as_array().expect("problems");
    assert_eq!(problems.len(), 2);
    for p in problems {
        assert_eq!(p["operation"], "AssumeRole");
        let reason = p["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("NOT protected") && reason.contains(ROLE),
            "{reason}"
        );
    }
}

#[tokio::test]
async fn a_region_not_enabled_in_the_member_account_is_published_and_the_others_accept() {
    let (emu, seeded) = setup();
    emu.control(
        "POST",
        "/_emulator/member/disabled-regions",
        Some(json!({"accountId": NEW, "regions": ["eu-west-1"]})),
    );
    let out = created_event(&env_with(&emu, &seeded, &REGIONS, &[]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let response = &responses(&out)[0];
    assert_eq!(outcome(response, NEW, "us-east-1")["outcome"], "accepted");
    assert_eq!(outcome(response, NEW, "eu-west-1")["outcome"], "problem");
    let messages = emu.received_sns(&seeded.queue_url).await;
    let body = sns_body(&messages[0]);
    assert_eq!(body["problems"][0]["region"], "eu-west-1");
    let reason = body["problems"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("not enabled in the member account"),
        "{reason}"
    );
}

#[tokio::test]
async fn no_invitation_in_the_member_account_is_published() {
    let (emu, seeded) = setup();
    emu.control(
        "POST",
        "/_emulator/member/hidden-invitations",
        Some(json!({"accountId": NEW})),
    );
    // Invited without an email, the invitation is out at once (status Invited): none in the
    // account is a problem. (With an email, GuardDuty first verifies it: pending.)
    let no_email = [("DISABLE_EMAIL_NOTIFICATION", "true")];
    let out = created_event(&env_with(&emu, &seeded, &["us-east-1"], &no_email));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(emu
        .calls_of("AcceptAdministratorInvitation", None)
        .is_empty());
    let messages = emu.received_sns(&seeded.queue_url).await;
    let body = sns_body(&messages[0]);
    assert_eq!(body["problems"][0]["operation"], "ListInvitations");
}

#[test]
fn guardduty_not_ready_in_a_new_account_fails_the_invocation_and_the_retry_accepts() {
    let (emu, seeded) = setup();
    emu.control(
        "POST",
        "/_emulator/member/not-ready",
        Some(json!({"accountId": NEW, "times": 1})),
    );
    let env = env_with(&emu, &seeded, &["us-east-1"], &[]);
    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let error = &responses(&out)[0];
    assert_eq!(
        error["errorType"], "GuardDuty.ListDetectors.Transient",
        "{error}"
    );
    assert!(emu.received_sns_blocking(&seeded.queue_url).is_empty());

    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        outcome(&responses(&out)[0], NEW, "us-east-1")["outcome"],
        "accepted"
    );
    assert_eq!(
        member_record(&emu, &seeded, "us-east-1")["relationshipStatus"],
        "Enabled"
    );
}

#[test]
fn server_errors_on_the_acceptance_fail_the_invocation_and_the_retry_accepts() {
    let (emu, seeded) = setup();
    // More 500s than the SDK's four attempts.
    emu.fault(
        json!({"operation": "AcceptAdministratorInvitation", "kind": "error500", "times": 4}),
    );
    let env = env_with(&emu, &seeded, &["us-east-1"], &[]);
    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        responses(&out)[0]["errorType"],
        "GuardDuty.AcceptAdministratorInvitation.Transient"
    );
    let status = member_record(&emu, &seeded, "us-east-1")["relationshipStatus"].clone();
    assert_ne!(status, "Enabled");

    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        outcome(&responses(&out)[0], NEW, "us-east-1")["outcome"],
        "accepted"
    );
    // The retry reused the detector the failed attempt created.
    assert_eq!(emu.calls_of("CreateDetector", None).len(), 1);
}

#[test]
fn an_internal_error_on_the_features_fails_the_invocation_and_the_retry_turns_them_on() {
    let (emu, seeded) = setup();
    emu.control(
        "POST",
        "/_emulator/guardduty/internal-error",
        Some(json!({"accountIds": [NEW], "operation": "UpdateMemberDetectors", "times": 1})),
    );
    let env = env_with(
        &emu,
        &seeded,
        &["us-east-1"],
        &[("MEMBER_FEATURES", "EKS_AUDIT_LOGS")],
    );
    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        responses(&out)[0]["errorType"],
        "GuardDuty.UpdateMemberDetectors.Transient"
    );
    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        member_record(&emu, &seeded, "us-east-1")["features"]["EKS_AUDIT_LOGS"],
        "ENABLED"
    );
}

#[test]
fn organization_enabled_and_earlier_members_get_only_the_missing_features() {
    let (emu, seeded) = setup();
    emu.mark_organization_accounts(&[NEW]);
    let env = env_with(
        &emu,
        &seeded,
        &["us-east-1"],
        &[("MEMBER_FEATURES", "S3_DATA_EVENTS")],
    );
    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        outcome(&responses(&out)[0], NEW, "us-east-1")["outcome"],
        "enabled_by_organization"
    );
    assert!(emu.calls_of("AssumeRole", None).is_empty());
    assert_eq!(emu.calls_of("UpdateMemberDetectors", None).len(), 1);

    // One more feature configured later: the replay reads, adds only what is missing, and
    // reads it back.
    emu.clear_calls();
    let env = env_with(
        &emu,
        &seeded,
        &["us-east-1"],
        &[("MEMBER_FEATURES", "S3_DATA_EVENTS,RDS_LOGIN_EVENTS")],
    );
    assert_eq!(created_event(&env).status.code(), Some(0));
    assert_eq!(emu.calls_of("GetMemberDetectors", None).len(), 2);
    let updates = emu.calls_of("UpdateMemberDetectors", None);
    assert_eq!(updates.len(), 1);
    let member = member_record(&emu, &seeded, "us-east-1");
    assert_eq!(
        member["features"]["RDS_LOGIN_EVENTS"], "ENABLED",
        "{member}"
    );
}

#[test]
fn features_that_cannot_go_together_are_a_configuration_error_before_any_call() {
    let (emu, seeded) = setup();
    let env = env_with(
        &emu,
        &seeded,
        &["us-east-1"],
        &[(
            "MEMBER_FEATURES",
            "RUNTIME_MONITORING,EKS_RUNTIME_MONITORING",
        )],
    );
    let out = created_event(&env);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("MEMBER_FEATURES"), "{}", stderr(&out));
    assert!(emu.calls().is_empty());
}
