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
