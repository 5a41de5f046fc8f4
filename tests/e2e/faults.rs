//! Fault injection over loopback: bounded retries and time, nothing lost.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use crate::support::*;
use guardduty_invite::aws::Aws;
use guardduty_invite::config::Config;
use guardduty_invite::error::HandlerError;
use guardduty_invite::handler::App;
use guardduty_invite::report::OutcomeLabel;
use serde_json::{json, Value};

const NEW: (&str, &str, &str) = ("111122223333", "new.account@example.com", "Payments");

fn env_for(emu: &Emulator, seeded: &Seeded) -> Vec<(String, String)> {
    emu.env(seeded, &["us-east-1"])
}

fn created() -> std::path::PathBuf {
    sample("organizations-create-account-result-succeeded.json")
}

fn error_of(out: &std::process::Output) -> (String, String) {
    let r = &responses(out)[0];
    (
        r["errorType"].as_str().unwrap_or_default().to_owned(),
        r["errorMessage"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn guardduty_500_twice_then_success_invites() {
    let emu = Emulator::start();
    let seeded = emu.seed(&["us-east-1"], &[NEW], &[]);
    emu.fault(json!({"operation": "CreateMembers", "kind": "error500", "times": 2}));
    let out = invoke(&env_for(&emu, &seeded), &[&created()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        outcome(&responses(&out)[0], "111122223333", "us-east-1")["outcome"],
        "invited"
    );
    assert_eq!(
        emu.calls_of("CreateMembers", None).len(),
        3,
        "two 500s, then the retry that works"
    );
}

#[test]
fn throttling_twice_then_success_invites_once() {
    let emu = Emulator::start();
    let seeded = emu.seed(&["us-east-1"], &[NEW], &[]);
    emu.fault(json!({"operation": "InviteMembers", "kind": "throttle", "times": 2}));
    let out = invoke(&env_for(&emu, &seeded), &[&created()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(emu.calls_of("InviteMembers", None).len(), 3);
    assert_eq!(
        emu.served_invites("us-east-1", "111122223333"),
        1,
        "two throttled before serving, one served"
    );
    assert_eq!(
        emu.member("us-east-1", &seeded.detector("us-east-1"), "111122223333")["invitations"],
        1
    );
}

#[tokio::test]
async fn sns_failing_throughout_fails_the_invocation_and_the_replay_publishes_once() {
    let emu = Emulator::start();
    let seeded = emu.seed(&["us-east-1"], &[], &["444455556666"]);
    let event = sample("manual-invite-foreign-account.json");
    emu.fault(json!({"operation": "Publish", "kind": "error500"}));
    let out = invoke(&env_for(&emu, &seeded), &[&event]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let (error_type, message) = error_of(&out);
    assert_eq!(error_type, "SNS.Publish.Transient");
    assert!(
        message.contains("1 problem(s) could not be published"),
        "the failed invocation says a problem is not on the topic: {message}"
    );
    // The problem itself is in the log, once, with its account.
    let logs = stderr(&out);
    assert_eq!(
        logs.lines()
            .filter(|l| l.contains("444455556666") && l.contains("outcome=\"problem\""))
            .count(),
        1,
        "{logs}"
    );
    assert!(emu.received_sns(&seeded.queue_url).await.is_empty());

    emu.clear_faults();
    let replay = invoke(&env_for(&emu, &seeded), &[&event]);
    assert!(replay.status.success(), "{}", stderr(&replay));
    assert_eq!(
        emu.received_sns(&seeded.queue_url).await.len(),
        1,
        "published exactly once"
    );
}

#[test]
fn hung_guardduty_call_fails_the_invocation_well_within_a_minute_and_the_replay_completes() {
    let emu = Emulator::start();
    let seeded = emu.seed(&["us-east-1"], &[NEW], &[]);
    emu.fault(json!({"operation": "InviteMembers", "kind": "hang"}));
    let started = Instant::now();
    let out = invoke(&env_for(&emu, &seeded), &[&created()]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(took < Duration::from_secs(40), "took {took:?}");
    let (error_type, _) = error_of(&out);
    assert_eq!(error_type, "GuardDuty.InviteMembers.Transient");

    emu.clear_faults();
    let replay = invoke(&env_for(&emu, &seeded), &[&created()]);
    assert!(replay.status.success(), "{}", stderr(&replay));
    assert_eq!(
        emu.served_invites("us-east-1", "111122223333"),
        1,
        "the hung calls were never served; the replay invited once"
    );
    let member = emu.member("us-east-1", &seeded.detector("us-east-1"), "111122223333");
    assert_eq!(member["invitations"], 1, "{member}");
}

#[test]
fn list_detectors_down_fails_the_invocation_naming_the_operation() {
    let emu = Emulator::start();
    let seeded = emu.seed(&["us-east-1"], &[NEW], &[]);
    emu.fault(json!({"operation": "ListDetectors", "kind": "error500"}));
    let out = invoke(&env_for(&emu, &seeded), &[&created()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(error_of(&out).0, "GuardDuty.ListDetectors.Transient");
    let attempts = emu.calls_of("ListDetectors", None).len();
    assert_eq!(
        attempts,
        guardduty_invite::aws::MAX_ATTEMPTS as usize,
        "bounded retries"
    );
    assert!(emu.calls_of("CreateMembers", None).is_empty());
}

#[tokio::test]
async fn a_failing_region_fails_the_invocation_and_the_retry_finishes_without_reinviting() {
    let emu = Emulator::start();
    let regions = ["us-east-1", "eu-west-1"];
    let seeded = emu.seed(&regions, &[NEW], &[]);
    emu.fault(json!({"operation": "InviteMembers", "kind": "error500", "region": "eu-west-1"}));
    let out = invoke(&emu.env(&seeded, &regions), &[&created()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "partial progress is not success"
    );
    assert_eq!(error_of(&out).0, "GuardDuty.InviteMembers.Transient");
    assert!(error_of(&out).1.contains("eu-west-1"));

    emu.clear_faults();
    let replay = invoke(&emu.env(&seeded, &regions), &[&created()]);
    assert!(replay.status.success(), "{}", stderr(&replay));
    let r = &responses(&replay)[0];
    // Invited with an email there: GuardDuty verifies the address before the invitation is
    // out, so the replay finds it pending, and invites nothing again.
    let first = outcome(r, "111122223333", "us-east-1");
    assert_eq!(
        first["relationshipStatus"], "EmailVerificationInProgress",
        "{first}"
    );
    assert_eq!(first["outcome"], "invitation_pending", "{first}");
    assert_eq!(
        outcome(r, "111122223333", "eu-west-1")["outcome"],
        "invited"
    );
    assert_eq!(
        emu.calls_for("InviteMembers", "us-east-1", "111122223333")
            .len(),
        1,
        "the region that worked is not invited again"
    );
    assert!(emu.received_sns(&seeded.queue_url).await.is_empty());
}

async fn in_process_app(emu: &Emulator, seeded: &Seeded, regions: &[&str]) -> App {
    let sdk = emu.sdk_config().await;
    let config = Config::from_pairs(&[
        ("SNS_TOPIC_ARN", &seeded.topic_arn),
        ("GUARDDUTY_REGIONS", &regions.join(",")),
    ])
    .expect("config");
    // Unpaced, as the other tests run the function (the emulator's buckets are off): these
    // tests handle many events in one process, each of which would be a Lambda of its own.
    let unpaced = guardduty_invite::aws::parse_overrides("*=100000/100000").expect("rates");
    let aws = Aws::new(&sdk, &config.regions, config.topic_region()).with_rate_limits(unpaced);
    App::new(config, aws)
}

/// A hung call in the flow: the batch is left at the cut-off, and the run fails as cut by the
/// deadline, before it.
#[tokio::test]
async fn a_hung_member_call_ends_at_the_cut_off_and_the_run_fails_naming_what_it_did_not_reach() {
    let emu = Emulator::start();
    let seeded = emu.seed(&["us-east-1"], &[NEW], &[]);
    let app = in_process_app(&emu, &seeded, &["us-east-1"]).await;
    emu.fault(json!({"operation": "CreateMembers", "kind": "hang"}));
    let event: Value = sample_json("organizations-create-account-result-succeeded.json");
    let deadline = SystemTime::now() + Duration::from_secs(4);
    let result = app.handle(event, deadline).await;
    assert!(
        SystemTime::now() < deadline,
        "must answer before the deadline"
    );
    match result {
        Err(e @ HandlerError::DeadlineReached { .. }) => {
            assert_eq!(e.error_type(), "DeadlineReached");
            assert!(e.to_string().contains("(1 in us-east-1)"), "{e}");
        }
        other => panic!("expected the deadline, got {other:?}"),
    }
    emu.clear_faults();
}

/// A call hung before the flow (the account's lookup) meets the last-resort stop: the handler
/// still answers before Lambda's deadline.
#[tokio::test]
async fn the_handler_reports_its_own_timeout_before_the_lambda_deadline() {
    let emu = Emulator::start();
    let seeded = emu.seed(&["us-east-1"], &[NEW], &[]);
    let app = in_process_app(&emu, &seeded, &["us-east-1"]).await;
    emu.fault(json!({"operation": "DescribeAccount", "kind": "hang"}));
    let event: Value = sample_json("organizations-create-account-result-succeeded.json");
    let deadline = SystemTime::now() + Duration::from_secs(4);
    let result = app.handle(event, deadline).await;
    assert!(
        SystemTime::now() < deadline,
        "must answer before the deadline"
    );
    match result {
        Err(e @ HandlerError::Timeout { .. }) => assert_eq!(e.error_type(), "Timeout"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    emu.clear_faults();
}

#[tokio::test]
async fn a_recreated_detector_is_found_again_after_guardduty_rejects_the_old_one() {
    let emu = Emulator::start();
    let seeded = emu.seed(&["us-east-1"], &[NEW], &[]);
    let app = in_process_app(&emu, &seeded, &["us-east-1"]).await;
    let first = manual_request(
        "det-1",
        json!([{"accountId": "710000000001", "email": "a@example.com"}]),
    );
    app.handle(
        serde_json::from_str(&first).expect("event"),
        SystemTime::now() + Duration::from_secs(60),
    )
    .await
    .expect("invited with the first detector");

    // The administrator deletes and re-creates GuardDuty in the region: a new detector id.
    let gd = aws_sdk_guardduty::Client::new(&emu.sdk_config().await);
    let old = seeded.detector("us-east-1");
    gd.delete_detector()
        .detector_id(&old)
        .send()
        .await
        .expect("DeleteDetector");
    let new = gd
        .create_detector()
        .enable(true)
        .send()
        .await
        .expect("CreateDetector");
    let new = new.detector_id().unwrap_or_default().to_owned();

    let second: Value = serde_json::from_str(&manual_request(
        "det-2",
        json!([{"accountId": "710000000002", "email": "b@example.com"}]),
    ))
    .expect("event");
    let err = app
        .handle(second.clone(), SystemTime::now() + Duration::from_secs(60))
        .await
        .expect_err("the cached detector is gone");
    assert_eq!(err.error_type(), "GuardDuty.GetMembers.Rejected");
    // Lambda's retry of the same event, in the same warm process, succeeds.
    let response = app
        .handle(second, SystemTime::now() + Duration::from_secs(60))
        .await
        .expect("invited");
    assert_eq!(
        response.accounts[0].regions[0].detector_id.as_deref(),
        Some(new.as_str())
    );
    assert_eq!(
        response.accounts[0].regions[0].outcome,
        OutcomeLabel::Invited
    );
}

/// A few hundred invocations at once with throttling injected: every account ends invited
/// or reported on SNS, none lost, none doubled. Failed invocations are retried, as Lambda's
/// asynchronous invocation does (twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_concurrent_invocations_under_throttling_lose_and_double_nothing() {
    const INVOCATIONS: usize = 300;
    let emu = Emulator::start();
    let regions = ["us-east-1", "eu-west-1"];
    let foreign: Vec<String> = (0..INVOCATIONS)
        .filter(|i| i % 10 == 0)
        .map(|i| format!("{:012}", 600_000_000_000u64 + i as u64))
        .collect();
    let foreign_refs: Vec<&str> = foreign.iter().map(String::as_str).collect();
    let seeded = emu.seed(&regions, &[], &foreign_refs);
    let app = in_process_app(&emu, &seeded, &regions).await;
    emu.fault(json!({"operation": "*", "kind": "throttle", "times": 60, "service": "guardduty"}));
    emu.fault(json!({"operation": "Publish", "kind": "throttle", "times": 5}));
    // Besides the throttling (which the SDK's retries may absorb), a per-account "Internal
    // error" in the first InviteMembers of some accounts, in whichever region comes first:
    // their first invocation fails after the other region's invitation took effect, so the
    // retry must finish the one region without inviting again in the other.
    let unlucky: Vec<String> = (0..INVOCATIONS)
        .filter(|i| i % 7 == 3 && i % 10 != 0)
        .map(|i| format!("{:012}", 600_000_000_000u64 + i as u64))
        .collect();
    for id in &unlucky {
        emu.internal_error("InviteMembers", &[id], 1);
    }

    let events: Vec<(String, Value)> = (0..INVOCATIONS)
        .map(|i| {
            let id = format!("{:012}", 600_000_000_000u64 + i as u64);
            let event = manual_request(
                &format!("load-{i}"),
                json!([{"accountId": id, "email": format!("root+{i}@example.com")}]),
            );
            (id, serde_json::from_str(&event).expect("event"))
        })
        .collect();
    let mut pending: Vec<&(String, Value)> = events.iter().collect();
    let mut failed_per_round = Vec::new();
    for _attempt in 0..3 {
        let results = futures::future::join_all(
            pending
                .iter()
                .map(|(_, e)| app.handle(e.clone(), SystemTime::now() + Duration::from_secs(60))),
        )
        .await;
        pending = pending
            .into_iter()
            .zip(results)
            .filter(|(_, r)| r.is_err())
            .map(|(e, _)| e)
            .collect();
        failed_per_round.push(pending.len());
        if pending.is_empty() {
            break;
        }
    }
    assert!(
        pending.is_empty(),
        "{} invocations still failing after Lambda's retries",
        pending.len()
    );
    assert!(
        failed_per_round[0] >= unlucky.len(),
        "the first round must fail for at least the accounts with an internal error, or the \
         retry path never ran: {failed_per_round:?}"
    );

    let messages = emu.received_sns(&seeded.queue_url).await;
    assert!(
        !messages.is_empty(),
        "the foreign accounts' problems were published"
    );
    let mut reported: HashMap<String, usize> = HashMap::new();
    for m in &messages {
        let body = sns_body(m);
        for p in body["problems"].as_array().into_iter().flatten() {
            *reported
                .entry(p["accountId"].as_str().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
    }
    // InviteMembers requests GuardDuty acted on, per account and region: the emulator
    // refuses a second invitation by itself, so the members' invitation counts alone prove
    // nothing.
    let served = invitation_requests(&emu.calls());
    // Every member at once: one lookup per account and region would fetch (and parse) the
    // whole membership hundreds of times.
    let members = emu.control("GET", "/_emulator/guardduty/members", None);
    for (id, _) in &events {
        if foreign.contains(id) {
            assert_eq!(
                reported.get(id),
                Some(&regions.len()),
                "{id}: reported once per region, in one message"
            );
        } else {
            assert!(!reported.contains_key(id), "{id} wrongly reported");
            for region in regions {
                assert_eq!(
                    served.get(&(id.clone(), region.to_owned())),
                    Some(&1),
                    "{id} in {region}: one InviteMembers acted on"
                );
                let m = &members["members"][region][seeded.detector(region).as_str()][id];
                assert_eq!(m["invitations"], 1, "{id} in {region}: {m}");
            }
        }
    }
    assert_eq!(
        messages.len(),
        foreign.len(),
        "one message per invocation with problems, none doubled"
    );
    let throttled = emu
        .calls()
        .iter()
        .filter(|c| c["fault"].is_string())
        .count();
    assert!(throttled >= 60, "the faults were injected ({throttled})");
}

/// GuardDuty's per-account "Internal error" in UnprocessedAccounts of `operation`: the
/// invocation fails as transient, naming the operation and the account, nothing is
/// published, and the replay (the error used up) invites the account once.
async fn per_account_internal_error_is_retried_not_published(operation: &str) {
    let emu = Emulator::start();
    let seeded = emu.seed(&["us-east-1"], &[NEW], &[]);
    emu.internal_error(operation, &["111122223333"], 1);
    let out = invoke(&env_for(&emu, &seeded), &[&created()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let (error_type, message) = error_of(&out);
    assert_eq!(error_type, format!("GuardDuty.{operation}.Transient"));
    assert!(
        message.contains("111122223333") && message.contains("Internal error"),
        "{message}"
    );
    assert!(
        emu.calls_of("Publish", None).is_empty(),
        "nothing published"
    );
    assert!(emu.received_sns(&seeded.queue_url).await.is_empty());

    let replay = invoke(&env_for(&emu, &seeded), &[&created()]);
    assert!(replay.status.success(), "{}", stderr(&replay));
    assert_eq!(
        outcome(&responses(&replay)[0], "111122223333", "us-east-1")["outcome"],
        "invited"
    );
    let member = emu.member("us-east-1", &seeded.detector("us-east-1"), "111122223333");
    assert_eq!(member["invitations"], 1, "{member}");
    assert!(emu.received_sns(&seeded.queue_url).await.is_empty());
}

#[tokio::test]
async fn an_internal_error_for_the_account_in_create_members_fails_the_invocation_and_the_replay_invites(
) {
    per_account_internal_error_is_retried_not_published("CreateMembers").await;
}

#[tokio::test]
async fn an_internal_error_for_the_account_in_invite_members_fails_the_invocation_and_the_replay_invites(
) {
    per_account_internal_error_is_retried_not_published("InviteMembers").await;
}

/// Read-after-write lag: GetMembers, right after CreateMembers added the account, answers
/// that it is not a member. That passes; it is not a problem for a person. (The first
/// GetMembers, before CreateMembers, rightly answers the same for a new account.)
#[tokio::test]
async fn a_member_get_members_does_not_return_yet_fails_the_invocation_and_the_replay_invites() {
    let emu = Emulator::start();
    let seeded = emu.seed(&["us-east-1"], &[NEW], &[]);
    emu.unprocessed("GetMembers", &["111122223333"], NOT_MEMBER, 2);
    let out = invoke(&env_for(&emu, &seeded), &[&created()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let (error_type, message) = error_of(&out);
    assert_eq!(error_type, "GuardDuty.GetMembers.Transient", "{message}");
    assert!(message.contains("111122223333"), "{message}");
    assert!(emu.calls_of("InviteMembers", None).is_empty());
    assert!(
        emu.calls_of("Publish", None).is_empty(),
        "nothing published"
    );
    assert!(emu.received_sns(&seeded.queue_url).await.is_empty());

    let replay = invoke(&env_for(&emu, &seeded), &[&created()]);
    assert!(replay.status.success(), "{}", stderr(&replay));
    assert_eq!(
        outcome(&responses(&replay)[0], "111122223333", "us-east-1")["outcome"],
        "invited"
    );
    assert_eq!(emu.served_invites("us-east-1", "111122223333"), 1);
    assert!(emu.received_sns(&seeded.queue_url).await.is_empty());
}

/// InviteMembers takes effect but its answer is lost (a 500 after the work was done): the
/// SDK's retry is answered "already invited", which is the invitation already out, and a
/// replay of the event sends no InviteMembers for the account at all. One invitation email.
#[tokio::test]
async fn an_invitation_whose_answer_was_lost_is_not_sent_again() {
    let emu = Emulator::start();
    let seeded = emu.seed(&["us-east-1"], &[NEW], &[]);
    emu.fault(json!({"operation": "InviteMembers", "kind": "lost_response", "times": 1}));
    let out = invoke(&env_for(&emu, &seeded), &[&created()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let calls = emu.calls_for("InviteMembers", "us-east-1", "111122223333");
    assert_eq!(
        calls.len(),
        2,
        "the lost one and the SDK's retry: {calls:?}"
    );
    assert_eq!(calls[0]["fault"], "lost_response");
    assert_eq!(calls[0]["servedStatus"], 200, "the lost call took effect");
    assert_eq!(
        outcome(&responses(&out)[0], "111122223333", "us-east-1")["outcome"],
        "already_invited"
    );
    assert!(
        emu.received_sns(&seeded.queue_url).await.is_empty(),
        "an invitation already out is not a problem"
    );

    emu.clear_calls();
    let replay = invoke(&env_for(&emu, &seeded), &[&created()]);
    assert!(replay.status.success(), "{}", stderr(&replay));
    assert!(
        emu.calls_for("InviteMembers", "us-east-1", "111122223333")
            .is_empty(),
        "the replay invites no more"
    );
    let member = emu.member("us-east-1", &seeded.detector("us-east-1"), "111122223333");
    assert_eq!(member["invitations"], 1, "{member}");
    assert_eq!(
        member["lastDisableEmailNotification"], false,
        "the one invitation is the one that emailed"
    );
}
