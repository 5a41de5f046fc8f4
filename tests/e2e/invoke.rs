//! End to end over loopback: the real binary through `invoke` against the emulator.

use crate::support::*;
use serde_json::{json, Value};

const ORG_ACCOUNT: (&str, &str, &str) =
    ("111122223333", "new.account@example.com", "Payments-Prod");
const CT_ACCOUNT: (&str, &str, &str) = ("222233334444", "ct.account@example.com", "Workloads-Prod");

fn setup() -> (Emulator, Seeded) {
    let emu = Emulator::start();
    let seeded = emu.seed(
        &["us-east-1"],
        &[ORG_ACCOUNT, CT_ACCOUNT],
        &["444455556666"],
    );
    (emu, seeded)
}

#[test]
fn create_account_result_invites_the_account_with_its_email_from_organizations() {
    let (emu, seeded) = setup();
    let out = invoke(
        &emu.env(&seeded, &["us-east-1"]),
        &[&sample(
            "organizations-create-account-result-succeeded.json",
        )],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let r = &responses(&out)[0];
    assert_eq!(r["status"], "processed");
    assert_eq!(
        outcome(r, "111122223333", "us-east-1")["outcome"],
        "invited"
    );

    let member = emu.member("us-east-1", &seeded.detector("us-east-1"), "111122223333");
    assert_eq!(
        member["email"], "new.account@example.com",
        "email must come from DescribeAccount"
    );
    assert_eq!(member["relationshipStatus"], "EmailVerificationInProgress");
    assert_eq!(member["invitations"], 1);
    assert!(
        member["lastMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("us-east-1"),
        "{member}"
    );
    assert_eq!(emu.calls_of("DescribeAccount", None).len(), 1);
}

#[test]
fn control_tower_create_invites_and_the_update_that_follows_is_already_done() {
    let (emu, seeded) = setup();
    let env = emu.env(&seeded, &["us-east-1"]);
    let out = invoke(
        &env,
        &[
            &sample("controltower-create-managed-account.json"),
            &sample("controltower-update-managed-account.json"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let rs = responses(&out);
    assert_eq!(
        outcome(&rs[0], "222233334444", "us-east-1")["outcome"],
        "invited"
    );
    // Invited with an email: GuardDuty is still verifying it, so the update finds the
    // invitation pending, and invites nothing again.
    let update = outcome(&rs[1], "222233334444", "us-east-1");
    assert_eq!(
        update["relationshipStatus"], "EmailVerificationInProgress",
        "{update}"
    );
    assert_eq!(update["outcome"], "invitation_pending", "{update}");
    assert_eq!(
        emu.calls_for("InviteMembers", "us-east-1", "222233334444")
            .len(),
        1,
        "the update that follows sends no second InviteMembers"
    );
    assert_eq!(
        emu.member("us-east-1", &seeded.detector("us-east-1"), "222233334444")["invitations"],
        1
    );
}

#[test]
fn manual_request_uses_the_given_email_and_looks_up_only_the_accounts_without_one() {
    let (emu, seeded) = setup();
    let out = invoke(
        &emu.env(&seeded, &["us-east-1"]),
        &[&sample("manual-invite-request.json")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let r = &responses(&out)[0];
    assert_eq!(
        outcome(r, "555566667777", "us-east-1")["outcome"],
        "invited"
    );
    assert_eq!(
        outcome(r, "111122223333", "us-east-1")["outcome"],
        "invited"
    );
    let lookups = emu.calls_of("DescribeAccount", None);
    assert_eq!(
        lookups.len(),
        1,
        "only the account without an email is looked up: {lookups:?}"
    );
    let det = seeded.detector("us-east-1");
    assert_eq!(
        emu.member("us-east-1", &det, "555566667777")["email"],
        "partner-security@example.net"
    );
}

#[test]
fn invite_message_is_rendered_from_the_template_per_account() {
    let (emu, seeded) = setup();
    let mut env = emu.env(&seeded, &["us-east-1"]);
    env.push((
        "INVITE_MESSAGE_TEMPLATE".into(),
        "Hello {account_name} ({account_id}) in {region}, detector {detector_id}".into(),
    ));
    env.push(("DISABLE_EMAIL_NOTIFICATION".into(), "true".into()));
    let out = invoke(&env, &[&sample("manual-invite-request.json")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let det = seeded.detector("us-east-1");
    let partner = emu.member("us-east-1", &det, "555566667777");
    assert_eq!(
        partner["lastMessage"],
        format!("Hello Partner Audit (555566667777) in us-east-1, detector {det}")
    );
    assert_eq!(partner["lastDisableEmailNotification"], true);
    assert_eq!(partner["relationshipStatus"], "Invited");
    // The name comes from Organizations when the request gives none.
    let org = emu.member("us-east-1", &det, "111122223333");
    assert_eq!(
        org["lastMessage"],
        format!("Hello Payments-Prod (111122223333) in us-east-1, detector {det}")
    );
}

#[test]
fn failed_creation_is_skipped_with_no_aws_call() {
    let (emu, seeded) = setup();
    let out = invoke(
        &emu.env(&seeded, &["us-east-1"]),
        &[
            &sample("organizations-create-account-result-failed.json"),
            &sample("organizations-create-account-api-call.json"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let rs = responses(&out);
    assert_eq!(rs[0]["status"], "skipped");
    assert!(rs[0]["skipReason"]
        .as_str()
        .unwrap_or_default()
        .contains("EMAIL_ALREADY_EXISTS"));
    assert_eq!(rs[1]["status"], "skipped");
    assert_eq!(emu.calls(), Vec::<Value>::new());
}

#[test]
fn invalid_events_are_handler_errors_that_say_what_is_wrong_with_no_aws_call() {
    let (emu, seeded) = setup();
    let mut bad_id = sample_json("controltower-create-managed-account.json");
    bad_id["detail"]["serviceEventDetails"]["createManagedAccountStatus"]["account"]["accountId"] =
        json!("2222333344");
    let mut missing = sample_json("organizations-create-account-result-succeeded.json");
    missing["detail"]["serviceEventDetails"]["createAccountStatus"]
        .as_object_mut()
        .map(|o| o.remove("accountId"));
    let mut unknown = sample_json("manual-invite-request.json");
    unknown["detail-type"] = json!("GuardDuty Invite Please");
    let cases: Vec<(String, &str)> = vec![
        ("{\"detail-type\": ".into(), "not JSON"),
        ("[1, 2, 3]".into(), "expected a JSON object"),
        (
            manual_request(
                "m",
                json!([{"accountId": 111122223333u64, "email": "a@example.com"}]),
            ),
            "detail.accounts[0].accountId must be a string",
        ),
        (
            missing.to_string(),
            "missing field detail.serviceEventDetails.createAccountStatus.accountId",
        ),
        (bad_id.to_string(), "is not 12 digits"),
        (unknown.to_string(), "unsupported event"),
        (
            json!({"source": "aws.organizations", "detail": {}}).to_string(),
            "detail-type",
        ),
    ];
    let env = emu.env(&seeded, &["us-east-1"]);
    for (event, expected) in cases {
        let out = invoke(&env, &[&event_file(&event)]);
        assert_eq!(out.status.code(), Some(1), "{event}: {}", stderr(&out));
        let r = &responses(&out)[0];
        assert_eq!(r["errorType"], "InvalidEvent", "{event}");
        assert!(
            r["errorMessage"]
                .as_str()
                .unwrap_or_default()
                .contains(expected),
            "{event}: {r}"
        );
        assert!(
            stderr(&out).contains("InvalidEvent"),
            "the error type goes to stderr too"
        );
    }
    assert_eq!(
        emu.calls(),
        Vec::<Value>::new(),
        "a bad event must make no AWS call"
    );
}

#[test]
fn one_bad_file_among_good_ones_exits_1_but_handles_the_others() {
    let (emu, seeded) = setup();
    let out = invoke(
        &emu.env(&seeded, &["us-east-1"]),
        &[
            &event_file("nope"),
            &sample("organizations-create-account-result-succeeded.json"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let rs = responses(&out);
    assert_eq!(rs.len(), 2);
    assert_eq!(rs[0]["errorType"], "InvalidEvent");
    assert_eq!(
        outcome(&rs[1], "111122223333", "us-east-1")["outcome"],
        "invited"
    );
}

#[test]
fn configuration_errors_exit_2_naming_the_variable_before_any_event_is_read() {
    let (emu, seeded) = setup();
    let base = emu.env(&seeded, &["us-east-1"]);
    let without = |name: &str| {
        base.iter()
            .filter(|(k, _)| k != name)
            .cloned()
            .collect::<Vec<_>>()
    };
    let with = |name: &str, value: &str| {
        let mut e = base.clone();
        e.push((name.into(), value.into()));
        e
    };
    // The event file does not exist: configuration is checked first.
    let missing_file = std::path::Path::new("/nonexistent/event.json");
    for (env, variable) in [
        (without("SNS_TOPIC_ARN"), "SNS_TOPIC_ARN"),
        (
            with("INVITE_MESSAGE_TEMPLATE", "Welcome {acount_name}"),
            "INVITE_MESSAGE_TEMPLATE",
        ),
        (
            with("DISABLE_EMAIL_NOTIFICATION", "maybe"),
            "DISABLE_EMAIL_NOTIFICATION",
        ),
        (
            with("GUARDDUTY_REGIONS", "us-east-1,,eu-west-1"),
            "GUARDDUTY_REGIONS",
        ),
        (
            with("INVITATION_EMAIL_REGION", "eu-west-3"),
            "INVITATION_EMAIL_REGION",
        ),
    ] {
        let out = invoke(&env, &[missing_file]);
        assert_eq!(out.status.code(), Some(2), "{variable}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(variable),
            "{variable} not named: {}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty());
    }
    assert_eq!(emu.calls(), Vec::<Value>::new());
}

#[test]
fn usage_errors_exit_2() {
    let (emu, seeded) = setup();
    let env = emu.env(&seeded, &["us-east-1"]);
    let out = invoke(&env, &[std::path::Path::new("/nonexistent/event.json")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/event.json"));
    let out = invoke(&env, &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn account_of_another_administrator_ends_up_on_sns() {
    let (emu, seeded) = setup();
    let out = invoke(
        &emu.env(&seeded, &["us-east-1"]),
        &[&sample("manual-invite-foreign-account.json")],
    );
    assert!(
        out.status.success(),
        "a permanent problem is published, not retried: {}",
        stderr(&out)
    );
    assert_eq!(
        outcome(&responses(&out)[0], "444455556666", "us-east-1")["outcome"],
        "problem"
    );

    let messages = emu.received_sns(&seeded.queue_url).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let envelope = &messages[0];
    let subject = envelope["Subject"].as_str().unwrap_or_default();
    assert!(
        subject.len() < 100 && subject.contains("444455556666"),
        "{subject}"
    );
    assert_eq!(
        envelope["MessageAttributes"]["eventSource"]["Value"],
        "security.manual"
    );
    assert_eq!(envelope["MessageAttributes"]["problemCount"]["Value"], "1");
    let body = sns_body(envelope);
    assert_eq!(body["event"]["id"], "2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a07");
    assert_eq!(body["event"]["detailType"], "GuardDuty Invite Request");
    let p = &body["problems"][0];
    assert_eq!(p["accountId"], "444455556666");
    assert_eq!(p["region"], "us-east-1");
    assert_eq!(p["detectorId"], seeded.detector("us-east-1").as_str());
    assert_eq!(p["operation"], "CreateMembers");
    assert_eq!(
        p["result"],
        "The request is rejected because the given account ID is already an associated member of another master account."
    );
    assert!(
        emu.calls_of("InviteMembers", None).is_empty(),
        "an account that was not added is not invited"
    );
}

#[tokio::test]
async fn account_unknown_to_organizations_ends_up_on_sns() {
    let (emu, seeded) = setup();
    let event = manual_request("unknown-1", json!([{"accountId": "999988887777"}]));
    let out = invoke(&emu.env(&seeded, &["us-east-1"]), &[&event_file(&event)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let messages = emu.received_sns(&seeded.queue_url).await;
    assert_eq!(messages.len(), 1);
    let body = sns_body(&messages[0]);
    assert_eq!(body["problems"][0]["accountId"], "999988887777");
    assert_eq!(body["problems"][0]["operation"], "DescribeAccount");
    assert!(emu.calls_of("CreateMembers", None).is_empty());
}

#[test]
fn logs_are_json_in_lambda_format_and_mask_emails() {
    let (emu, seeded) = setup();
    let mut env = emu.env(&seeded, &["us-east-1"]);
    env.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
    // GuardDuty's answer for one account echoes its address: the decision line logs that
    // answer verbatim, so the address reaches the log writer.
    emu.unprocessed(
        "CreateMembers",
        &["555566667777"],
        "The request is rejected because the email address partner-security@example.net is not valid.",
        1,
    );
    let out = invoke(&env, &[&sample("manual-invite-request.json")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        !err.contains("partner-security@example.net") && !err.contains("new.account@example.com"),
        "email leaked: {err}"
    );
    assert!(
        err.contains("p***@example.net"),
        "the address is logged masked: {err}"
    );
    let decisions: Vec<Value> = err
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "decision")
        .collect();
    assert_eq!(
        decisions.len(),
        2,
        "one decision line per account and region: {err}"
    );
    for d in &decisions {
        assert_eq!(d["fields"]["region"], "us-east-1");
        assert!(d["fields"]["account_id"].is_string());
    }
    let problem = decisions
        .iter()
        .find(|d| d["fields"]["account_id"] == "555566667777")
        .unwrap_or_else(|| panic!("no decision for 555566667777: {err}"));
    assert_eq!(problem["fields"]["outcome"], "problem");
    assert!(
        problem["fields"]["result"]
            .as_str()
            .unwrap_or_default()
            .contains("p***@example.net"),
        "{problem}"
    );
}

/// A FIFO topic (and a FIFO queue subscribed to it): each event's problems arrive once, a
/// replay of the same event within the deduplication window is dropped by SNS/SQS itself,
/// and another event about the same account is not mistaken for a duplicate.
#[tokio::test]
async fn a_fifo_topic_gets_each_events_problems_once_and_drops_the_replay() {
    let (emu, _) = setup();
    let (topic_arn, queue_url) = emu.topic_with_queue("us-east-1", "problems.fifo").await;
    let env = function_env(&emu.endpoint, &topic_arn, &["us-east-1"]);
    let foreign = json!([{"accountId": "444455556666", "email": "other@example.com"}]);
    let first = event_file(&manual_request("fifo-event-1", foreign.clone()));
    let second = event_file(&manual_request("fifo-event-2", foreign));
    let out = invoke(&env, &[&first, &first, &second]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        emu.calls_of("Publish", None).len(),
        3,
        "each invocation publishes"
    );

    let sqs = aws_sdk_sqs::Client::new(&emu.sdk_config().await);
    let got = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .expect("ReceiveMessage");
    let received: Vec<(String, String)> = got
        .messages()
        .iter()
        .map(|m| {
            let envelope: Value =
                serde_json::from_str(m.body().unwrap_or_default()).expect("SNS envelope");
            let dedup = m
                .attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageDeduplicationId)
                })
                .cloned()
                .unwrap_or_default();
            (
                sns_body(&envelope)["event"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                dedup,
            )
        })
        .collect();
    let ids: Vec<&str> = received.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["fifo-event-1", "fifo-event-2"], "{received:?}");
    for (id, dedup) in &received {
        assert!(
            dedup.starts_with(id),
            "the deduplication id names its event: {dedup}"
        );
    }
}
