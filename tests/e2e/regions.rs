//! End to end over loopback: every region, replay safety, organization-managed
//! members, one invitation email, batches of 50.

use std::collections::BTreeMap;

use crate::support::*;
use serde_json::{json, Value};

const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1"];
const WITH_DETECTORS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];

fn account(id: &str) -> Value {
    json!({"accountId": id, "email": format!("root+{id}@example.com"), "name": format!("acct {id}")})
}

#[tokio::test]
async fn three_regions_with_detectors_invite_and_the_one_without_is_on_sns() {
    let emu = Emulator::start();
    let seeded = emu.seed(&WITH_DETECTORS, &[], &[]);
    let event = manual_request("regions-1", json!([account("310000000001")]));
    let out = invoke(&emu.env(&seeded, &REGIONS), &[&event_file(&event)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = &responses(&out)[0];
    for region in WITH_DETECTORS {
        assert_eq!(
            outcome(r, "310000000001", region)["outcome"],
            "invited",
            "{region}"
        );
    }
    assert_eq!(
        outcome(r, "310000000001", "sa-east-1")["outcome"],
        "problem"
    );

    let messages = emu.received_sns(&seeded.queue_url).await;
    assert_eq!(messages.len(), 1);
    let body = sns_body(&messages[0]);
    assert_eq!(body["problems"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["problems"][0]["region"], "sa-east-1");
    assert_eq!(body["problems"][0]["operation"], "ListDetectors");
}

#[test]
fn the_invitation_email_is_sent_from_one_region_only() {
    let emu = Emulator::start();
    let seeded = emu.seed(&WITH_DETECTORS, &[], &[]);
    let mut env = emu.env(&seeded, &WITH_DETECTORS);
    env.push(("INVITATION_EMAIL_REGION".into(), "eu-west-1".into()));
    let event = manual_request("email-1", json!([account("310000000002")]));
    let out = invoke(&env, &[&event_file(&event)]);
    assert!(out.status.success(), "{}", stderr(&out));
    for region in WITH_DETECTORS {
        let m = emu.member(region, &seeded.detector(region), "310000000002");
        assert_eq!(
            m["lastDisableEmailNotification"],
            region != "eu-west-1",
            "{region}: {m}"
        );
    }
    let r = &responses(&out)[0];
    assert_eq!(outcome(r, "310000000002", "eu-west-1")["emailSent"], true);
    assert_eq!(outcome(r, "310000000002", "us-east-1")["emailSent"], false);
}

#[tokio::test]
async fn replaying_an_event_makes_no_second_invitation_and_publishes_nothing() {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &WITH_DETECTORS,
        &[("111122223333", "new.account@example.com", "Payments")],
        &[],
    );
    let env = emu.env(&seeded, &WITH_DETECTORS);
    let event = sample("organizations-create-account-result-succeeded.json");
    // Twice in one process (warm, detector cached) and once more in a new process.
    let first = invoke(&env, &[&event, &event]);
    let again = invoke(&env, &[&event]);
    assert!(
        first.status.success() && again.status.success(),
        "{}",
        stderr(&first)
    );
    let rs = responses(&first);
    for region in WITH_DETECTORS {
        assert_eq!(
            outcome(&rs[0], "111122223333", region)["outcome"],
            "invited"
        );
        // Where the invitation was emailed, GuardDuty verifies the address first: the
        // invitation is pending until the status reads Invited.
        for replay in [&rs[1], &responses(&again)[0]] {
            let o = outcome(replay, "111122223333", region);
            let expected = if o["relationshipStatus"] == "EmailVerificationInProgress" {
                "invitation_pending"
            } else {
                "already_invited"
            };
            assert_eq!(o["outcome"], expected, "{region}: {o}");
        }
        assert_eq!(
            emu.calls_for("InviteMembers", region, "111122223333").len(),
            1,
            "{region}: one InviteMembers for the account in all"
        );
        assert_eq!(
            emu.member(region, &seeded.detector(region), "111122223333")["invitations"],
            1
        );
    }
    assert!(
        emu.received_sns(&seeded.queue_url).await.is_empty(),
        "a replay is not a problem"
    );
    assert!(emu.calls_of("Publish", None).is_empty());
}

#[test]
fn organization_managed_account_is_enabled_by_create_members_and_not_invited() {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1"],
        &[("222233334444", "ct.account@example.com", "Workloads")],
        &[],
    );
    emu.mark_organization_accounts(&["222233334444"]);
    let out = invoke(
        &emu.env(&seeded, &["us-east-1"]),
        &[&sample("controltower-create-managed-account.json")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        outcome(&responses(&out)[0], "222233334444", "us-east-1")["outcome"],
        "enabled_by_organization"
    );
    assert!(emu.calls_of("InviteMembers", None).is_empty());
}

#[test]
fn one_hundred_twenty_accounts_are_sent_in_calls_of_50_50_20() {
    let emu = Emulator::start();
    let seeded = emu.seed(&["us-east-1", "eu-west-1"], &[], &[]);
    let accounts: Vec<Value> = (0..120)
        .map(|i| account(&format!("{:012}", 400_000_000_000u64 + i)))
        .collect();
    let out = invoke(
        &emu.env(&seeded, &["us-east-1", "eu-west-1"]),
        &[&event_file(&manual_request("batch-1", json!(accounts)))],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let r = &responses(&out)[0];
    assert_eq!(r["accounts"].as_array().map(Vec::len), Some(120));
    for region in ["us-east-1", "eu-west-1"] {
        // GetMembers twice a batch: before adding, after inviting (the added accounts,
        // outside the organization, are invited on CreateMembers' own answer).
        for (op, times) in [
            ("CreateMembers", 1),
            ("GetMembers", 2),
            ("InviteMembers", 1),
        ] {
            let mut sizes: Vec<usize> = emu
                .calls_of(op, Some(region))
                .iter()
                .map(|c| c["accountIds"].as_array().map(Vec::len).unwrap_or(0))
                .collect();
            sizes.sort_unstable_by(|a, b| b.cmp(a));
            let expected: Vec<usize> = [50, 50, 20]
                .iter()
                .flat_map(|n| std::iter::repeat_n(*n, times))
                .collect();
            assert_eq!(sizes, expected, "{op} in {region}");
        }
        let invited = r["accounts"].as_array().into_iter().flatten().filter(|a| {
            a["regions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|x| x["region"] == region && x["outcome"] == "invited")
        });
        assert_eq!(invited.count(), 120, "{region}");
    }
}

#[tokio::test]
async fn mixed_outcomes_in_one_batch_keep_each_accounts_own_outcome() {
    let emu = Emulator::start();
    let seeded = emu.seed(&["us-east-1"], &[], &["500000000002"]);
    let det = seeded.detector("us-east-1");
    let ids = [
        "500000000001",
        "500000000002",
        "500000000003",
        "500000000004",
        "500000000005",
        "500000000006",
        "500000000007",
        "500000000008",
    ];
    emu.set_member_status("us-east-1", &det, ids[2], "Invited");
    emu.set_member_status("us-east-1", &det, ids[3], "EmailVerificationFailed");
    emu.set_member_status("us-east-1", &det, ids[4], "Disabled");
    emu.set_member_status("us-east-1", &det, ids[5], "Removed");
    emu.set_member_status("us-east-1", &det, ids[6], "Enabled");
    emu.mark_organization_accounts(&[ids[7]]);
    let accounts: Vec<Value> = ids.iter().map(|id| account(id)).collect();
    let out = invoke(
        &emu.env(&seeded, &["us-east-1"]),
        &[&event_file(&manual_request("mixed-1", json!(accounts)))],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let r = &responses(&out)[0];
    let got: BTreeMap<&str, String> = ids
        .iter()
        .map(|id| {
            (
                *id,
                outcome(r, id, "us-east-1")["outcome"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    let expected: BTreeMap<&str, String> = [
        ("500000000001", "invited"),
        ("500000000002", "problem"),
        ("500000000003", "already_invited"),
        ("500000000004", "problem"),
        // Disabled: monitored again with StartMonitoringMembers.
        ("500000000005", "already_enabled"),
        ("500000000006", "invited"),
        ("500000000007", "already_enabled"),
        ("500000000008", "enabled_by_organization"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect();
    assert_eq!(got, expected);
    // Exactly the two new-or-resigned accounts are invited, in one call. The call also names
    // the organization account added with its email (not known to be one, so not read
    // between CreateMembers and InviteMembers): GuardDuty refuses it as already its member.
    let invites = emu.calls_of("InviteMembers", None);
    assert_eq!(invites.len(), 1);
    let det = seeded.detector("us-east-1");
    let invited: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| emu.member("us-east-1", &det, id)["invitations"].as_u64() > Some(0))
        .collect();
    assert_eq!(invited, ["500000000001", "500000000006"]);

    let messages = emu.received_sns(&seeded.queue_url).await;
    assert_eq!(messages.len(), 1, "one message per invocation");
    let body = sns_body(&messages[0]);
    let problems: BTreeMap<String, Value> = body["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["accountId"].as_str().unwrap_or_default().to_owned(),
                p.clone(),
            )
        })
        .collect();
    assert_eq!(problems.len(), 2);
    assert!(problems["500000000002"]["result"]
        .as_str()
        .unwrap_or_default()
        .contains("another master account"));
    assert!(problems["500000000002"]["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("have that administrator disassociate"));
    assert_eq!(
        problems["500000000004"]["relationshipStatus"],
        "EmailVerificationFailed"
    );
    assert!(problems["500000000004"]["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("email"));
    assert_eq!(emu.calls_of("StartMonitoringMembers", None).len(), 1);
}

/// The topic is in eu-west-1 while the function runs in us-east-1: the problem is published
/// to eu-west-1, where the topic is, and reaches its subscriber there.
#[tokio::test]
async fn a_topic_in_another_region_is_published_to_in_that_region() {
    let emu = Emulator::start();
    let seeded = emu.seed(&["us-east-1"], &[], &["444455556666"]);
    let (topic_arn, queue_url) = emu.topic_with_queue("eu-west-1", "problems-eu").await;
    assert!(
        topic_arn.starts_with("arn:aws:sns:eu-west-1:"),
        "{topic_arn}"
    );
    let env = function_env(&emu.endpoint, &topic_arn, &["us-east-1"]);
    assert!(env.contains(&("AWS_REGION".into(), "us-east-1".into())));
    emu.clear_calls();

    let out = invoke(&env, &[&sample("manual-invite-foreign-account.json")]);
    assert!(out.status.success(), "{}", stderr(&out));

    let publishes = emu.calls_of("Publish", None);
    assert_eq!(publishes.len(), 1, "{publishes:?}");
    assert_eq!(publishes[0]["region"], "eu-west-1");
    let messages = emu.received_sns_in("eu-west-1", &queue_url).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["TopicArn"], topic_arn.as_str());
    assert_eq!(
        sns_body(&messages[0])["problems"][0]["accountId"],
        "444455556666"
    );
    assert!(emu.received_sns(&seeded.queue_url).await.is_empty());
}
