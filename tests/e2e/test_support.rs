//! The test support itself: a child's output is kept out of the test run's output (shown
//! only when its test fails), so a passing run prints cargo's own lines alone.

use std::path::Path;

use serde_json::json;

use crate::support::*;

/// The emulator with `--verbose` logs every request on stderr: that log is captured for the
/// test (to show if it fails), not passed through to the terminal.
#[test]
fn a_test_servers_stderr_is_captured_not_passed_through() {
    let server = PythonServer::start("emulator.py", &["--port", "0", "--verbose"]);
    let url = server.ready.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&url).expect("connect");
    use std::io::{Read, Write};
    write!(
        stream,
        "GET /_emulator/calls HTTP/1.1\r\nHost: {url}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    assert!(answer.contains(" 200 "), "{answer}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !server.log_text().contains("/_emulator/calls") {
        assert!(
            std::time::Instant::now() < deadline,
            "the request log was not captured: {:?}",
            server.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Every test's `Emulator::start()` is a world of its own, forked from the binary's one warm
/// emulator: two of them side by side, seeded alike (same administrator, same accounts, and
/// even the same detector ids), share no member, no call, no SNS message and no fault.
#[test]
fn two_worlds_side_by_side_share_no_member_call_message_or_fault() {
    let (a, b) = (Emulator::start(), Emulator::start());
    let accounts = [("111122223333", "new.account@example.com", "Payments")];
    let seeded_a = a.seed(&["us-east-1"], &accounts, &["444455556666"]);
    let seeded_b = b.seed(&["us-east-1"], &accounts, &["444455556666"]);
    a.fault(json!({"operation": "InviteMembers", "kind": "throttle", "times": 1}));
    let events = [
        sample("organizations-create-account-result-succeeded.json"),
        sample("manual-invite-foreign-account.json"),
    ];
    let events: Vec<&Path> = events.iter().map(|p| p.as_path()).collect();

    let out = invoke(&a.env(&seeded_a, &["us-east-1"]), &events);
    let invites_a = a.calls_of("InviteMembers", None);
    assert!(
        invites_a.iter().any(|c| c["fault"] == "throttle"),
        "A's fault applies in A: {invites_a:?}\n{}",
        stderr(&out)
    );
    let detector = seeded_a.detector("us-east-1");
    assert_eq!(detector, seeded_b.detector("us-east-1"), "alike worlds");
    assert!(!a.member("us-east-1", &detector, "111122223333").is_null());
    assert_eq!(a.received_sns_blocking(&seeded_a.queue_url).len(), 1);
    let a_calls = a.calls();

    // B saw none of it.
    assert!(b.member("us-east-1", &detector, "111122223333").is_null());
    assert_eq!(b.calls(), Vec::<serde_json::Value>::new());
    assert_eq!(b.received_sns_blocking(&seeded_b.queue_url).len(), 0);

    // And B's own run meets neither A's fault nor A's member, and leaves A as it was.
    let out = invoke(&b.env(&seeded_b, &["us-east-1"]), &events);
    let invites_b = b.calls_of("InviteMembers", None);
    assert_eq!(invites_b.len(), 1, "{invites_b:?}\n{}", stderr(&out));
    assert!(invites_b[0]["fault"].is_null(), "{invites_b:?}");
    assert_eq!(
        b.member("us-east-1", &detector, "111122223333")["relationshipStatus"],
        a.member("us-east-1", &detector, "111122223333")["relationshipStatus"]
    );
    assert_eq!(b.received_sns_blocking(&seeded_b.queue_url).len(), 1);
    assert_eq!(a.calls(), a_calls, "B's calls are not in A's log");
}

/// What a demo world holds, as the function and the people see it: the organization's
/// accounts (id, email, name, how they joined, their parent's name), the member roles, the
/// detectors' regions, the topic's subscribers and GuardDuty's usage costs.
async fn demo_world_state(emu: &Emulator, seeded: &Seeded) -> serde_json::Value {
    let sdk = emu.sdk_config().await;
    let orgs = aws_sdk_organizations::Client::new(&sdk);
    let mut accounts = std::collections::BTreeMap::new();
    let listed = orgs.list_accounts().send().await.expect("ListAccounts");
    for a in listed.accounts() {
        let id = a.id().unwrap_or_default();
        let parents = orgs
            .list_parents()
            .child_id(id)
            .send()
            .await
            .expect("ListParents");
        let parent = parents
            .parents()
            .first()
            .and_then(|p| p.id())
            .unwrap_or_default();
        let parent_name = if parent.starts_with("ou-") {
            let ou = orgs
                .describe_organizational_unit()
                .organizational_unit_id(parent)
                .send()
                .await
                .expect("DescribeOrganizationalUnit");
            ou.organizational_unit()
                .and_then(|o| o.name())
                .unwrap_or_default()
                .to_owned()
        } else {
            "root".to_owned()
        };
        let method = a.joined_method().map(|m| m.as_str().to_owned());
        // When an account was created is the second it was seeded: only an invitation's
        // date is the world's.
        let joined = (method.as_deref() == Some("INVITED"))
            .then(|| a.joined_timestamp().map(|t| t.secs()))
            .flatten();
        accounts.insert(
            id.to_owned(),
            json!([a.email(), a.name(), method, joined, parent_name]),
        );
    }
    let sns = aws_sdk_sns::Client::new(&sdk);
    let subscriptions = sns
        .list_subscriptions_by_topic()
        .topic_arn(&seeded.topic_arn)
        .send()
        .await
        .expect("ListSubscriptionsByTopic");
    let mut readers: Vec<(String, String)> = subscriptions
        .subscriptions()
        .iter()
        .map(|s| {
            (
                s.protocol().unwrap_or_default().to_owned(),
                s.endpoint().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    readers.sort();
    let mut usage = serde_json::Map::new();
    for (region, detector) in seeded.detectors.as_object().into_iter().flatten() {
        let guardduty = aws_sdk_guardduty::Client::from_conf(
            aws_sdk_guardduty::config::Builder::from(&sdk)
                .region(aws_config::Region::new(region.clone()))
                .build(),
        );
        let stats = guardduty
            .get_usage_statistics()
            .detector_id(detector.as_str().unwrap_or_default())
            .usage_statistic_type(aws_sdk_guardduty::types::UsageStatisticType::SumByAccount)
            .usage_criteria(
                aws_sdk_guardduty::types::UsageCriteria::builder()
                    .features(aws_sdk_guardduty::types::UsageFeature::CloudTrail)
                    .build(),
            )
            .send()
            .await
            .expect("GetUsageStatistics");
        usage.insert(region.clone(), json!(format!("{stats:?}")));
    }
    json!({
        "accounts": accounts,
        "roles": emu.control("GET", "/_emulator/iam/roles", None),
        "readers": readers,
        "usage": usage,
        "topic": seeded.topic_arn,
        "queue": seeded.queue_url.trim_start_matches(emu.endpoint.as_str()),
    })
}

/// The tests seed the demo world from here (`Emulator::seed_demo_world`, reading what
/// `emuctl.py demo-world` says it holds); scripts/demo seeds it with `emuctl.py seed
/// --demo-world`. Both give the same world, so the samples' table holds for the demo.
#[tokio::test]
async fn the_demo_world_the_tests_seed_is_the_one_emuctl_seeds_for_the_demo() {
    let ours = Emulator::start();
    let seeded = ours.seed_demo_world();
    let theirs = Emulator::start();
    let out = std::process::Command::new(python())
        .arg(repo().join("testsupport/emuctl.py"))
        .args(["--endpoint", &theirs.endpoint, "seed", "--demo-world"])
        .output()
        .expect("emuctl seed --demo-world");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("seed's JSON");
    let theirs_seeded = Seeded {
        topic_arn: printed["topicArn"].as_str().unwrap_or_default().to_owned(),
        queue_url: printed["queueUrl"].as_str().unwrap_or_default().to_owned(),
        detectors: printed["detectors"].clone(),
    };
    let detector_regions = |s: &Seeded| -> Vec<String> {
        s.detectors
            .as_object()
            .into_iter()
            .flatten()
            .map(|(r, _)| r.clone())
            .collect()
    };
    assert_eq!(detector_regions(&seeded), detector_regions(&theirs_seeded));
    assert_eq!(
        demo_world_state(&ours, &seeded).await,
        demo_world_state(&theirs, &theirs_seeded).await
    );
}
