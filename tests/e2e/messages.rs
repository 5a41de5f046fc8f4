//! What each kind of subscriber of the topic receives, read as it would be read: a person's
//! email, a machine's JSON (SQS, email-json), a chat channel's card through Amazon Q Developer
//! in chat applications (the topic's `https` subscription).

use std::collections::BTreeSet;

use crate::support::*;
use serde_json::Value;

const EMAIL: &str = "secops@example.com";
const MACHINE: &str = "robot@example.com";
const CHAT: &str = "https://chat.example.com/guardduty";

/// Subscribes a person's email, a machine's email-json and a chat channel to the topic.
fn subscribe_readers(emu: &Emulator, topic_arn: &str) {
    let sdk = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    sdk.block_on(async {
        let sns = aws_sdk_sns::Client::new(&emu.sdk_config().await);
        for (protocol, endpoint) in [("email", EMAIL), ("email-json", MACHINE), ("https", CHAT)] {
            sns.subscribe()
                .topic_arn(topic_arn)
                .protocol(protocol)
                .endpoint(endpoint)
                .send()
                .await
                .expect("Subscribe");
        }
    });
}

/// What SNS delivered to the subscribers of `protocol`, in order.
fn delivered(emu: &Emulator, protocol: &str) -> Vec<Value> {
    emu.control("GET", "/_emulator/sns/deliveries", None)["deliveries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|d| d["protocol"] == protocol)
        .collect()
}

fn body(d: &Value) -> String {
    d["body"].as_str().unwrap_or_default().to_owned()
}

/// The `Message` of a JSON envelope (email-json, https), parsed.
fn enveloped(d: &Value) -> Value {
    let envelope: Value = serde_json::from_str(&body(d)).expect("envelope");
    serde_json::from_str(envelope["Message"].as_str().unwrap_or_default()).expect("message")
}

/// Foreign accounts (each a problem: another administrator's member) and one account that
/// joins, so the problems are not folded into one of the whole region.
fn world_with_problems(foreign: usize) -> (Emulator, Seeded, Vec<String>) {
    let emu = Emulator::start();
    let ids: Vec<String> = (0..foreign).map(|i| format!("7{:011}", i)).collect();
    let mut accounts: Vec<(&str, &str, &str)> = vec![("111122223333", "new@example.com", "New")];
    let emails: Vec<String> = ids
        .iter()
        .map(|id| format!("root+{id}@example.com"))
        .collect();
    for (id, email) in ids.iter().zip(&emails) {
        accounts.push((id, email, ""));
    }
    let foreign_ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let seeded = emu.seed(&["us-east-1"], &accounts, &foreign_ids);
    subscribe_readers(&emu, &seeded.topic_arn);
    (emu, seeded, ids)
}

#[test]
fn the_email_reads_as_plain_text_summary_first_every_account_named_with_its_fix() {
    let (emu, seeded, ids) = world_with_problems(3);
    let (out, _) = reconcile(&emu.env(&seeded, &["us-east-1"]), false);
    assert!(out.status.success(), "{}", stderr(&out));

    let emails = delivered(&emu, "email");
    assert_eq!(emails.len(), 1, "one email per run: {emails:?}");
    let text = body(&emails[0]);
    assert!(
        text.starts_with("3 problem(s) left 3 account(s) without GuardDuty protection"),
        "the summary comes first:\n{text}"
    );
    for id in &ids {
        assert!(
            text.lines()
                .any(|l| l.trim() == format!("{id} in us-east-1")),
            "{id} has its own line:\n{text}"
        );
    }
    assert!(text.contains("Why: the account is a member of another GuardDuty administrator"));
    assert!(
        text.contains("Fix: act on the reason, then replay the event")
            && text.contains("GuardDuty console, us-east-1, Settings > Accounts")
            && text.contains("aws guardduty get-members --region us-east-1"),
        "the fix is a console step and a command:\n{text}"
    );
    assert!(text.contains("Caused by: event"), "{text}");
    assert!(
        !text.contains('{') && !text.contains('}'),
        "no JSON in an email:\n{text}"
    );
    assert_eq!(
        emails[0]["subject"].as_str().unwrap_or_default(),
        "GuardDuty invite: 3 problem(s) for 700000000000 and 2 more"
    );
}

#[test]
fn machines_keep_the_json_document_unchanged_on_sqs_and_email_json() {
    let (emu, seeded, ids) = world_with_problems(2);
    let (out, _) = reconcile(&emu.env(&seeded, &["us-east-1"]), false);
    assert!(out.status.success(), "{}", stderr(&out));

    let queued = emu.received_sns_blocking(&seeded.queue_url);
    assert_eq!(queued.len(), 1, "{queued:?}");
    let document = sns_body(&queued[0]);
    let keys: BTreeSet<&str> = document
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        BTreeSet::from(["summary", "event", "part", "parts", "problems"])
    );
    let named: BTreeSet<&str> = document["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["accountId"].as_str())
        .collect();
    assert_eq!(named, ids.iter().map(String::as_str).collect());
    let machine = delivered(&emu, "email-json");
    assert_eq!(machine.len(), 1);
    assert_eq!(
        enveloped(&machine[0]),
        document,
        "email-json gets the same document"
    );
}

/// The custom-notification event format of Amazon Q Developer in chat applications, and its
/// limits (see docs/operations.md).
fn assert_chat_card(card: &Value) {
    let keys: BTreeSet<&str> = card
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert!(
        keys.is_subset(&BTreeSet::from([
            "version", "source", "id", "content", "metadata"
        ])),
        "{card}"
    );
    assert_eq!(card["version"], "1.0");
    assert_eq!(card["source"], "custom");
    let content = &card["content"];
    let fields: BTreeSet<&str> = content
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert!(
        fields.is_subset(&BTreeSet::from([
            "textType",
            "title",
            "description",
            "nextSteps",
            "keywords"
        ])),
        "{content}"
    );
    assert_eq!(content["textType"], "client-markdown");
    let chars = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    assert!((1..=250).contains(&chars(&content["title"])), "{content}");
    assert!(
        (1..=8_000).contains(&chars(&content["description"])),
        "{content}"
    );
    for step in content["nextSteps"].as_array().into_iter().flatten() {
        assert!((1..=350).contains(&chars(step)), "{step}");
    }
    for word in content["keywords"].as_array().into_iter().flatten() {
        assert!((1..=75).contains(&chars(word)), "{word}");
    }
}

#[test]
fn the_chat_channel_gets_a_custom_notification_it_can_show() {
    let (emu, seeded, ids) = world_with_problems(3);
    let (out, _) = reconcile(&emu.env(&seeded, &["us-east-1"]), false);
    assert!(out.status.success(), "{}", stderr(&out));

    let chat = delivered(&emu, "https");
    assert_eq!(chat.len(), 1);
    let card = enveloped(&chat[0]);
    assert_chat_card(&card);
    let content = &card["content"];
    assert_eq!(
        content["title"],
        "GuardDuty: 3 accounts not protected in us-east-1"
    );
    let description = content["description"].as_str().unwrap_or_default();
    for id in &ids {
        assert!(description.contains(&format!("`{id}`")), "{description}");
    }
    assert!(content["nextSteps"]
        .as_array()
        .is_some_and(|s| !s.is_empty()));
    assert!(content["keywords"]
        .as_array()
        .is_some_and(|k| k.contains(&Value::from("us-east-1"))));
}

#[test]
fn over_a_hundred_problems_stay_within_snss_limits_in_every_form_and_each_part_reads_alone() {
    let (emu, seeded, ids) = world_with_problems(320);
    let (out, _) = reconcile(&emu.env(&seeded, &["us-east-1"]), false);
    assert!(out.status.success(), "{}", stderr(&out));

    // The emulator refuses a Publish over 262,144 bytes (the whole structure and attributes):
    // every one was accepted.
    let publishes = emu.calls_of("Publish", None);
    assert!(
        publishes.iter().all(|c| c["status"] == 200),
        "{publishes:?}"
    );
    let emails = delivered(&emu, "email");
    assert!(emails.len() > 1, "split into parts: {}", emails.len());
    assert_eq!(emails.len(), publishes.len());
    let mut named = BTreeSet::new();
    for (i, email) in emails.iter().enumerate() {
        let text = body(email);
        assert!(
            text.contains(" problem(s) left ") && text.lines().next().is_some(),
            "part {i} starts with its own summary"
        );
        assert!(
            text.contains(&format!("This is part {} of {}", i + 1, emails.len())),
            "part {i}"
        );
        assert!(!text.contains('{') && !text.contains('}'));
        for id in &ids {
            if text.contains(&format!("\n  {id} in us-east-1\n")) {
                named.insert(id.clone());
            }
        }
    }
    assert_eq!(named.len(), ids.len(), "every account is in one part");
    let chat = delivered(&emu, "https");
    assert_eq!(chat.len(), emails.len());
    for card in &chat {
        assert_chat_card(&enveloped(card));
    }
}

#[test]
fn a_check_run_as_an_event_sends_its_failures_to_the_email_and_the_chat_with_their_fixes() {
    let emu = Emulator::start();
    // No detector in eu-west-1: the check's `detector` line fails there.
    let seeded = emu.seed(
        &["us-east-1"],
        &[("111122223333", "new@example.com", "New")],
        &[],
    );
    subscribe_readers(&emu, &seeded.topic_arn);
    let out = invoke(
        &emu.env(&seeded, &["us-east-1", "eu-west-1"]),
        &[&sample("invite-check.json")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let failed: Vec<Value> = responses(&out)[0]["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["verdict"] == "failed")
        .cloned()
        .collect();
    assert!(!failed.is_empty(), "the check fails in eu-west-1");

    let emails = delivered(&emu, "email");
    assert_eq!(emails.len(), 1, "{emails:?}");
    let text = body(&emails[0]);
    assert!(
        text.starts_with(&format!("The check found {} problem(s)", failed.len())),
        "{text}"
    );
    for line in &failed {
        let fix = line["fix"].as_str().unwrap_or_default();
        assert!(text.contains(&format!("Fix: {fix}")), "{fix}\n{text}");
    }
    assert!(
        text.contains("the deployment in eu-west-1 (check: detector)"),
        "{text}"
    );
    assert!(!text.contains('{') && !text.contains('}'));
    let chat = delivered(&emu, "https");
    assert_eq!(chat.len(), 1);
    assert_chat_card(&enveloped(&chat[0]));
}

#[test]
fn the_email_of_a_reconcile_names_the_days_coverage_report() {
    let (emu, seeded, _) = world_with_problems(1);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(emu.s3_with_bucket("coverage-reports"));
    let mut env = emu.env(&seeded, &["us-east-1"]);
    env.push(("COVERAGE_BUCKET".into(), "coverage-reports".into()));
    let (out, summary) = reconcile(&env, false);
    assert!(out.status.success(), "{}", stderr(&out));
    let uri = summary["coverageReport"].as_str().unwrap_or_default();
    assert!(
        uri.starts_with("s3://coverage-reports/coverage/"),
        "{summary}"
    );
    let text = body(&delivered(&emu, "email")[0]);
    assert!(
        text.contains(&format!(
            "Coverage report of the day: {uri} (to read it: aws s3 cp {uri} -)"
        )),
        "{text}"
    );
}
