//! End to end over loopback: a member that left this administrator is brought back the way
//! GuardDuty allows it. A Removed organization account is associated again with
//! CreateMembers (GuardDuty refuses to invite it), a Removed account outside the organization
//! is invited, a Disabled member is monitored again with StartMonitoringMembers, and a member
//! whose email GuardDuty still verifies is pending, not a problem.

use crate::support::*;
use serde_json::{json, Value};

const REGION: &str = "us-east-1";
const A: &str = "222200000001";
const B: &str = "222200000002";
const C: &str = "222200000003";

fn world(foreign: &[&str]) -> (Emulator, Seeded) {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &[REGION],
        &[
            (A, "a@example.com", "A"),
            (B, "b@example.com", "B"),
            (C, "c@example.com", "C"),
        ],
        foreign,
    );
    (emu, seeded)
}

fn operations(emu: &Emulator) -> Vec<String> {
    emu.calls()
        .iter()
        .map(|c| c["operation"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn status(emu: &Emulator, seeded: &Seeded, account: &str) -> Value {
    emu.member(REGION, &seeded.detector(REGION), account)["relationshipStatus"].clone()
}

async fn published(emu: &Emulator, seeded: &Seeded) -> Value {
    let messages = emu.received_sns(&seeded.queue_url).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    sns_body(&messages[0])
}

fn drift_action<'a>(body: &'a Value, account: &str) -> &'a str {
    body["drift"]
        .as_array()
        .and_then(|d| d.iter().find(|x| x["accountId"] == account))
        .and_then(|x| x["action"].as_str())
        .unwrap_or_default()
}

#[tokio::test]
async fn removed_organization_member_is_associated_again_with_create_members() {
    let (emu, seeded) = world(&[]);
    emu.mark_organization_accounts(&[A, B, C]);
    for id in [A, B, C] {
        emu.put_member(&seeded, REGION, id, "Enabled", None);
    }
    emu.put_member(&seeded, REGION, A, "Removed", None);
    emu.clear_calls();

    let (out, summary) = reconcile(&emu.env(&seeded, &[REGION]), false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let ops = operations(&emu);
    assert!(ops.iter().any(|o| o == "CreateMembers"), "{ops:?}");
    assert!(!ops.iter().any(|o| o == "InviteMembers"), "{ops:?}");
    assert_eq!(status(&emu, &seeded, A), "Enabled");
    assert_eq!(summary["drift"], 1, "{summary}");
    let body = published(&emu, &seeded).await;
    assert_eq!(body["problems"], json!([]), "{body}");
    assert_eq!(
        drift_action(&body, A),
        "associated again with CreateMembers",
        "{body}"
    );
}

#[tokio::test]
async fn a_refusal_of_one_account_leaves_the_other_accounts_of_the_batch_processed() {
    // C is an associated member of another administrator: CreateMembers refuses it alone.
    let (emu, seeded) = world(&[C]);
    emu.mark_organization_accounts(&[A, B, C]);
    for id in [A, B, C] {
        emu.put_member(&seeded, REGION, id, "Removed", None);
    }
    emu.clear_calls();

    let (out, _) = reconcile(&emu.env(&seeded, &[REGION]), false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let creates = emu.calls_of("CreateMembers", Some(REGION));
    assert_eq!(creates.len(), 1, "one call for the batch: {creates:?}");
    assert_eq!(status(&emu, &seeded, A), "Enabled");
    assert_eq!(status(&emu, &seeded, B), "Enabled");
    assert_eq!(status(&emu, &seeded, C), "Removed");
    let body = published(&emu, &seeded).await;
    let problems = body["problems"].as_array().cloned().unwrap_or_default();
    assert_eq!(problems.len(), 1, "{body}");
    assert_eq!(problems[0]["accountId"], C, "{body}");
    assert_eq!(problems[0]["operation"], "CreateMembers", "{body}");
    assert_eq!(
        drift_action(&body, A),
        "associated again with CreateMembers"
    );
    assert!(
        drift_action(&body, C).starts_with("associating again with CreateMembers failed"),
        "{body}"
    );
}

#[test]
fn invited_member_outside_the_organization_found_removed_is_invited_again() {
    let (emu, seeded) = world(&[]);
    let outside = "333300000001";
    emu.set_member_status(REGION, &seeded.detector(REGION), outside, "Removed");
    emu.clear_calls();
    let request = manual_request(
        "removed-outside-1",
        json!([{"accountId": outside, "email": format!("{outside}@example.com")}]),
    );
    let out = invoke(&emu.env(&seeded, &[REGION]), &[&event_file(&request)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        outcome(&responses(&out)[0], outside, REGION)["outcome"],
        "invited"
    );
    assert_eq!(emu.calls_of("InviteMembers", Some(REGION)).len(), 1);
    assert!(emu.calls_of("CreateMembers", Some(REGION)).is_empty());
}

#[tokio::test]
async fn disabled_member_is_started_again_and_reported_as_drift() {
    let (emu, seeded) = world(&[]);
    for id in [A, B, C] {
        emu.put_member(&seeded, REGION, id, "Enabled", None);
    }
    emu.put_member(&seeded, REGION, B, "Disabled", None);
    emu.clear_calls();

    let (out, summary) = reconcile(&emu.env(&seeded, &[REGION]), false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let starts = emu.calls_of("StartMonitoringMembers", Some(REGION));
    assert_eq!(starts.len(), 1, "{starts:?}");
    assert_eq!(starts[0]["accountIds"], json!([B]));
    assert_eq!(status(&emu, &seeded, B), "Enabled");
    assert_eq!(summary["protectedAccountRegions"], 3, "{summary}");
    let body = published(&emu, &seeded).await;
    assert_eq!(body["problems"], json!([]), "{body}");
    assert_eq!(
        drift_action(&body, B),
        "monitoring started again with StartMonitoringMembers",
        "{body}"
    );
}

#[tokio::test]
async fn email_verification_in_progress_is_pending_not_a_problem() {
    let emu = Emulator::start();
    let new = "111122223333";
    let seeded = emu.seed(
        &[REGION],
        &[(new, "new.account@example.com", "Payments")],
        &[],
    );
    emu.put_member(&seeded, REGION, new, "EmailVerificationInProgress", None);
    emu.clear_calls();
    let mut env = emu.env(&seeded, &[REGION]);
    env.push(("MEMBER_ROLE_NAME".into(), "GuardDutyInviteMember".into()));

    let out = invoke(
        &env,
        &[&sample(
            "organizations-create-account-result-succeeded.json",
        )],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        outcome(&responses(&out)[0], new, REGION)["outcome"],
        "invitation_pending"
    );
    assert!(emu
        .calls_of("AcceptAdministratorInvitation", Some(REGION))
        .is_empty());
    assert!(emu.calls_of("DeleteMembers", Some(REGION)).is_empty());
    let messages = emu.received_sns(&seeded.queue_url).await;
    assert!(
        messages.is_empty(),
        "a pending verification is not a problem: {messages:?}"
    );
}

#[test]
fn a_dry_run_says_which_members_it_would_associate_again_and_which_it_would_start_monitoring() {
    let (emu, seeded) = world(&[]);
    emu.mark_organization_accounts(&[A, B, C]);
    for id in [A, B, C] {
        emu.put_member(&seeded, REGION, id, "Enabled", None);
    }
    emu.put_member(&seeded, REGION, A, "Removed", None);
    emu.put_member(&seeded, REGION, B, "Disabled", None);
    emu.clear_calls();

    let (out, summary) = reconcile(&emu.env(&seeded, &[REGION]), true);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = region_summary(&summary, REGION);
    assert_eq!(r["wouldAssociate"], json!([A]), "{r}");
    assert_eq!(r["wouldStartMonitoring"], json!([B]), "{r}");
    assert!(r.get("wouldInvite").is_none(), "nobody to invite: {r}");
    assert_eq!(
        emu.writes(),
        Vec::<String>::new(),
        "a dry run writes nothing"
    );
}

/// An event for an organization account found Removed: associated again with CreateMembers,
/// never invited (GuardDuty refuses to invite a disassociated organization account).
#[test]
fn an_event_for_a_removed_organization_account_associates_it_again_with_create_members() {
    const NEW: &str = "111122223333";
    let emu = Emulator::start();
    let seeded = emu.seed(&[REGION], &[(NEW, "new.account@example.com", "New")], &[]);
    emu.mark_organization_accounts(&[NEW]);
    emu.put_member(&seeded, REGION, NEW, "Removed", None);
    emu.clear_calls();
    let out = invoke(
        &emu.env(&seeded, &[REGION]),
        &[&sample(
            "organizations-create-account-result-succeeded.json",
        )],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let ops = operations(&emu);
    assert!(ops.iter().any(|o| o == "CreateMembers"), "{ops:?}");
    assert!(!ops.iter().any(|o| o == "InviteMembers"), "{ops:?}");
    assert_eq!(status(&emu, &seeded, NEW), "Enabled");
}
