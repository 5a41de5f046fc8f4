//! End to end over loopback: `reconcile` finds every account of the organization that is not
//! protected, in every region, whether its event was seen or not.

use std::collections::BTreeSet;

use crate::support::*;
use serde_json::{json, Value};

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

const ENABLED: &str = "100000000001";
const RESIGNED: &str = "100000000002";
const FAILED_VERIFICATION: &str = "100000000003";
const STALE: &str = "100000000004";
const MISSING: &str = "100000000005";
const SUSPENDED: &str = "100000000006";
const OUTSIDE: &str = "900000000009";

/// An organization mixing every case, the same in both regions.
fn mixed(emu: &Emulator, seeded: &Seeded) {
    emu.org_accounts(&[
        (ENABLED, "ACTIVE"),
        (RESIGNED, "ACTIVE"),
        (FAILED_VERIFICATION, "ACTIVE"),
        (STALE, "ACTIVE"),
        (MISSING, "ACTIVE"),
        (SUSPENDED, "SUSPENDED"),
    ]);
    for region in REGIONS {
        emu.put_member(seeded, region, ENABLED, "Enabled", None);
        emu.put_member(seeded, region, RESIGNED, "Resigned", None);
        emu.put_member(
            seeded,
            region,
            FAILED_VERIFICATION,
            "EmailVerificationFailed",
            None,
        );
        emu.put_member(
            seeded,
            region,
            STALE,
            "Invited",
            Some("2026-01-02T03:04:05Z"),
        );
        emu.put_member(seeded, region, OUTSIDE, "Enabled", None);
    }
    emu.clear_calls();
}

fn status_of(emu: &Emulator, seeded: &Seeded, region: &str, account: &str) -> Value {
    emu.member(region, &seeded.detector(region), account)["relationshipStatus"].clone()
}

fn operations_called(emu: &Emulator) -> BTreeSet<String> {
    emu.calls()
        .iter()
        .map(|c| c["operation"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_dry_run_makes_read_calls_only_and_says_what_it_would_do() {
    let emu = Emulator::start();
    let seeded = emu.seed(&REGIONS, &[], &[]);
    mixed(&emu, &seeded);
    let (out, summary) = reconcile(&emu.env(&seeded, &REGIONS), true);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let called = operations_called(&emu);
    assert!(emu.writes().is_empty(), "{called:?}");
    assert!(emu.received_sns(&seeded.queue_url).await.is_empty());
    let east = region_summary(&summary, "us-east-1");
    assert_eq!(east["wouldInvite"], json!([RESIGNED, MISSING]));
    assert_eq!(east["unprotectedAccounts"], 4);
    let lines = summary["problemLines"].to_string();
    assert!(
        lines.contains(STALE) && lines.contains(FAILED_VERIFICATION),
        "{lines}"
    );
    assert_eq!(status_of(&emu, &seeded, "us-east-1", RESIGNED), "Resigned");
}

#[tokio::test]
async fn a_mixed_organization_ends_with_every_account_a_member_and_the_problems_on_sns() {
    let emu = Emulator::start();
    let seeded = emu.seed(&REGIONS, &[], &[]);
    mixed(&emu, &seeded);
    let (out, summary) = reconcile(&emu.env(&seeded, &REGIONS), false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    for r in REGIONS {
        // The invitation email goes out from the first region only.
        let invited = if r == REGIONS[0] {
            "EmailVerificationInProgress"
        } else {
            "Invited"
        };
        for account in [RESIGNED, MISSING] {
            assert_eq!(
                status_of(&emu, &seeded, r, account),
                invited,
                "{account} in {r}"
            );
        }
        assert_eq!(status_of(&emu, &seeded, r, ENABLED), "Enabled");
        // Left alone: a member from outside the organization, a suspended account, and the
        // administrator itself.
        assert_eq!(status_of(&emu, &seeded, r, OUTSIDE), "Enabled");
        assert!(emu.member(r, &seeded.detector(r), SUSPENDED).is_null());
        assert!(emu.member(r, &seeded.detector(r), ADMIN_ACCOUNT).is_null());
        let s = region_summary(&summary, r);
        assert_eq!(s["invitedNow"], 2, "{s}");
        assert_eq!(s["outsideOrganization"], 1, "{s}");
        assert_eq!(s["organizationAccounts"], 5, "{s}");
        assert_eq!(s["unprotectedAccounts"], 4, "{s}");
    }
    let messages = emu.received_sns(&seeded.queue_url).await;
    assert_eq!(messages.len(), 1, "one message per run");
    let problems = sns_body(&messages[0])["problems"].clone();
    let mut seen: Vec<(String, String)> = problems
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| {
            (
                p["accountId"].as_str().unwrap_or_default().to_owned(),
                p["region"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    seen.sort();
    let mut expected: Vec<(String, String)> = [FAILED_VERIFICATION, STALE]
        .iter()
        .flat_map(|a| REGIONS.iter().map(move |r| (a.to_string(), r.to_string())))
        .collect();
    expected.sort();
    assert_eq!(seen, expected);
    // Once per account and region, never twice.
    let invited: Vec<String> = emu
        .calls_of("InviteMembers", None)
        .iter()
        .flat_map(|c| c["accountIds"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    assert_eq!(invited.len(), 4, "{invited:?}");
}

#[test]
fn with_the_member_role_a_second_run_has_nothing_to_do_and_makes_only_read_calls() {
    let emu = Emulator::start();
    let seeded = emu.seed(&REGIONS, &[], &[]);
    emu.org_accounts(&[(ENABLED, "ACTIVE"), (MISSING, "ACTIVE"), (STALE, "ACTIVE")]);
    emu.create_member_role(&[ENABLED, MISSING, STALE], "GuardDutyInviteMember");
    for r in REGIONS {
        emu.put_member(&seeded, r, ENABLED, "Enabled", None);
        emu.put_member(&seeded, r, STALE, "Invited", Some("2026-01-02T03:04:05Z"));
    }
    let mut env = emu.env(&seeded, &REGIONS);
    env.push(("MEMBER_ROLE_NAME".into(), "GuardDutyInviteMember".into()));
    env.push(("MEMBER_FEATURES".into(), "S3_DATA_EVENTS".into()));
    let (out, summary) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for r in REGIONS {
        for account in [ENABLED, MISSING, STALE] {
            assert_eq!(
                status_of(&emu, &seeded, r, account),
                "Enabled",
                "{account} in {r}"
            );
            let features = &emu.member(r, &seeded.detector(r), account)["features"];
            assert_eq!(features["S3_DATA_EVENTS"], "ENABLED", "{account} in {r}");
        }
        let s = region_summary(&summary, r);
        assert_eq!(
            (s["invitedNow"].clone(), s["acceptedNow"].clone()),
            (json!(1), json!(2)),
            "{s}"
        );
        assert_eq!(s["unprotectedAccounts"], 0, "{s}");
    }

    emu.clear_calls();
    let (out, summary) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let called = operations_called(&emu);
    assert!(emu.writes().is_empty(), "{called:?}");
    assert_eq!(summary["problems"], 0);
}

/// An organization of `accounts` active accounts (ids from `first`) in us-east-1, the first
/// `members` of them `Enabled` members with `features`; the call log emptied.
fn one_region_organization(
    first: u64,
    accounts: u64,
    members: usize,
    features: &[Value],
) -> (Emulator, Seeded) {
    let emu = Emulator::start();
    let seeded = emu.seed(&["us-east-1"], &[], &[]);
    let ids: Vec<String> = (0..accounts)
        .map(|i| format!("{:012}", first + i))
        .collect();
    let listed: Vec<(&str, &str)> = ids.iter().map(|i| (i.as_str(), "ACTIVE")).collect();
    emu.org_accounts(&listed);
    let enabled: Vec<Value> = ids[..members]
        .iter()
        .map(|id| json!({"accountId": id, "email": format!("acct-{id}@example.com"), "relationshipStatus": "Enabled"}))
        .collect();
    let mut body = json!({"region": "us-east-1", "detectorId": seeded.detector("us-east-1"), "members": enabled});
    if !features.is_empty() {
        // The emulator takes a list of plans or none, not an empty one.
        body["features"] = json!(features);
    }
    emu.control("POST", "/_emulator/guardduty/members", Some(body));
    emu.clear_calls();
    (emu, seeded)
}

#[test]
fn more_accounts_and_members_than_fit_on_a_page_are_all_read() {
    let (emu, seeded) = one_region_organization(200_000_000_000, 130, 70, &[]);
    let (out, summary) = reconcile(&emu.env(&seeded, &["us-east-1"]), false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // 131 accounts under the root (the administrator is listed too) at 20 a page; 70 members
    // at 50 a page.
    assert_eq!(emu.calls_of("ListAccountsForParent", None).len(), 7);
    assert!(emu.calls_of("ListAccounts", None).is_empty());
    assert_eq!(emu.calls_of("ListMembers", None).len(), 2);
    let s = region_summary(&summary, "us-east-1");
    assert_eq!(s["organizationAccounts"], 130);
    assert_eq!(s["invitedNow"], 60);
    // Sixty missing accounts: two CreateMembers, GetMembers and InviteMembers calls.
    assert_eq!(emu.calls_of("InviteMembers", None).len(), 2);
}

#[test]
fn members_plans_are_read_while_the_organization_is_still_listed_and_each_once() {
    let (emu, seeded) = one_region_organization(
        300_000_000_000,
        120,
        120,
        &[json!({"name": "S3_DATA_EVENTS", "status": "ENABLED"})],
    );
    // Organizations answers slowly: its 7 pages under the root are a chain of over a second.
    emu.fault(json!({"operation": "ListAccountsForParent", "kind": "delay", "delay_ms": 200}));
    let mut env = emu.env(&seeded, &["us-east-1"]);
    env.push(("MEMBER_FEATURES".into(), "S3_DATA_EVENTS".into()));
    let (out, summary) = reconcile(&env, true);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        region_summary(&summary, "us-east-1")["protectedAccounts"],
        120,
        "{summary}"
    );
    let answered = |c: &Value| {
        c["ts"].as_f64().unwrap_or_default() + c["duration_ms"].as_f64().unwrap_or_default() / 1e3
    };
    let listed = emu
        .calls_of("ListAccountsForParent", None)
        .iter()
        .map(answered)
        .fold(0.0, f64::max);
    let reads = emu.calls_of("GetMemberDetectors", None);
    // 120 members at 50 a ListMembers page: one read per page.
    assert_eq!(reads.len(), 3, "{reads:?}");
    for r in &reads {
        assert!(
            answered(r) < listed,
            "read after the organization's listing ended: {r} (listed by {listed})"
        );
    }
    let read: Vec<String> = reads
        .iter()
        .flat_map(|c| c["accountIds"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    let distinct: std::collections::BTreeSet<&String> = read.iter().collect();
    assert_eq!(
        (read.len(), distinct.len()),
        (120, 120),
        "each member read once"
    );
}

#[tokio::test]
async fn a_transient_failure_in_one_region_fails_the_run_and_the_next_run_completes_it() {
    let emu = Emulator::start();
    let seeded = emu.seed(&REGIONS, &[], &[]);
    emu.org_accounts(&[(MISSING, "ACTIVE"), (RESIGNED, "ACTIVE")]);
    emu.clear_calls();
    emu.fault(json!({"operation": "InviteMembers", "kind": "error500", "times": 4, "region": "eu-west-1"}));
    let env = emu.env(&seeded, &REGIONS);
    let (out, failed) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        failed["errorType"], "GuardDuty.InviteMembers.Transient",
        "{failed}"
    );
    assert!(emu.received_sns(&seeded.queue_url).await.is_empty());

    let (out, summary) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(region_summary(&summary, "us-east-1")["invitedNow"], 0);
    assert_eq!(region_summary(&summary, "eu-west-1")["invitedNow"], 2);
    for r in REGIONS {
        for account in [MISSING, RESIGNED] {
            let status = status_of(&emu, &seeded, r, account);
            assert!(
                status == "Invited" || status == "EmailVerificationInProgress",
                "{account} in {r}: {status}"
            );
        }
    }
    let east_invites = emu.calls_of("InviteMembers", Some("us-east-1"));
    assert_eq!(east_invites.len(), 1, "the region done stays done");
}

#[test]
fn the_scheduled_event_runs_the_same_reconcile() {
    let emu = Emulator::start();
    let seeded = emu.seed(&["us-east-1"], &[], &[]);
    emu.org_accounts(&[(MISSING, "ACTIVE")]);
    let event = json!({
        "version": "0", "id": "sched-1", "detail-type": "GuardDuty Reconcile Request",
        "source": "guardduty-invite.schedule", "account": ADMIN_ACCOUNT, "time": "2026-11-26T09:00:00Z",
        "region": "us-east-1", "resources": [], "detail": {"dryRun": true}
    });
    let out = invoke(
        &emu.env(&seeded, &["us-east-1"]),
        &[&event_file(&event.to_string())],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = &responses(&out)[0];
    assert_eq!(summary["eventId"], "sched-1");
    assert_eq!(summary["dryRun"], true);
    assert_eq!(
        region_summary(summary, "us-east-1")["wouldInvite"],
        json!([MISSING])
    );
    assert!(emu.calls_of("CreateMembers", None).is_empty());
}

/// A reconcile logs a decision line only for the account-regions it changed: the accounts
/// it found protected (most of them, in a large organization) each cost no log line.
#[test]
fn a_reconcile_logs_a_decision_only_for_the_accounts_it_changed() {
    const NEW: &str = "100000000010";
    let emu = Emulator::start();
    let protected = ["100000000011", "100000000012", "100000000013"];
    let mut accounts = vec![(NEW, "new@example.com", "New")];
    accounts.extend(
        protected
            .iter()
            .map(|id| (*id, "p@example.com", "Protected")),
    );
    let seeded = emu.seed(&["us-east-1"], &accounts, &[]);
    for id in protected {
        emu.put_member(&seeded, "us-east-1", id, "Enabled", None);
    }
    let mut env = emu.env(&seeded, &["us-east-1"]);
    env.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
    let (out, summary) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{summary}\n{}", stderr(&out));
    let err = stderr(&out);
    let decided: Vec<String> = err
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "decision")
        .map(|v| {
            v["fields"]["account_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(decided, [NEW], "only the account changed: {err}");
}
