//! End to end over loopback, under the emulator's request-rate throttle (a token bucket per
//! API, account and region; Organizations' per organization): a reconcile is paced under
//! AWS's rates, or under the rates `API_RATE_LIMITS` gives, and is never throttled.

use crate::support::*;
use serde_json::{json, Value};

/// The emulator's token buckets on, at AWS's rates (off by default but for GetFindings).
fn throttle_on(emu: &Emulator) {
    emu.control(
        "POST",
        "/_emulator/throttle",
        Some(json!({"enabled": true})),
    );
}

fn organization(emu: &Emulator, first: u64, n: u64) {
    let accounts: Vec<Value> = (0..n)
        .map(|i| {
            json!({"accountId": format!("{:012}", first + i), "email": format!("acct{i}@example.com"),
                   "name": format!("acct-{i}")})
        })
        .collect();
    emu.control(
        "POST",
        "/_emulator/organizations/accounts",
        Some(json!({ "accounts": accounts })),
    );
}

/// The emulator's count of throttled requests, per `service:Operation`.
fn throttled(emu: &Emulator) -> (u64, Value) {
    let state = emu.control("GET", "/_emulator/throttle", None);
    (
        state["throttledTotal"].as_u64().unwrap_or_default(),
        state["throttled"].clone(),
    )
}

/// No call failed for good: every request the emulator did not answer 200 was a throttle,
/// and the last call of each API and region was answered.
fn assert_no_failed_call(calls: &[Value]) {
    let refused: Vec<&Value> = calls.iter().filter(|c| c["status"] != 200).collect();
    assert!(
        refused.iter().all(|c| c["switch"] == "rate-limit"),
        "{refused:?}"
    );
    let mut last = std::collections::HashMap::new();
    for c in calls {
        last.insert(
            (c["operation"].to_string(), c["region"].to_string()),
            c["status"].clone(),
        );
    }
    assert!(
        last.values().all(|s| *s == 200),
        "an API's last call failed: {last:?}"
    );
}

#[test]
fn a_reconcile_at_aws_rates_is_paced_under_them_never_throttled_and_invites_while_listing() {
    let emu = Emulator::start();
    let seeded = emu.seed(&["us-east-1"], &[], &[]);
    // 401 accounts at 20 a page: 21 pages of one API, twice its burst; 8 batches of 50 with
    // two GetMembers each: 16 calls of one API.
    organization(&emu, 410_000_000_000, 400);
    throttle_on(&emu);
    emu.clear_calls();
    let mut env = emu.env(&seeded, &["us-east-1"]);
    env.retain(|(k, _)| k != "API_RATE_LIMITS"); // AWS's rates
    let (out, summary) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(region_summary(&summary, "us-east-1")["invitedNow"], 400);
    assert_eq!(emu.calls_of("ListAccountsForParent", None).len(), 21);
    assert_eq!(throttled(&emu), (0, json!({})));
    let calls = emu.calls();
    assert_no_failed_call(&calls);
    // The listing is the run's longest chain (21 pages at 5 a second): the accounts listed
    // so far are worked on meanwhile, not after it.
    let position = |op: &str| calls.iter().position(|c| c["operation"] == op);
    let last_page = calls
        .iter()
        .rposition(|c| c["operation"] == "ListAccountsForParent");
    let first_invite = position("InviteMembers");
    assert!(
        first_invite.is_some() && first_invite < last_page,
        "the first InviteMembers (call {first_invite:?}) came after the last page (call {last_page:?})"
    );
}

#[test]
fn a_reconcile_under_rates_of_two_requests_a_second_ends_with_exit_0_and_no_failed_call() {
    let emu = Emulator::start();
    let regions = ["us-east-1", "eu-west-1"];
    let seeded = emu.seed(&regions, &[], &[]);
    organization(&emu, 420_000_000_000, 200);
    // Every API at 2 requests a second, burst 2: below AWS's, as in an account whose
    // buckets other tools share; the function is told so.
    emu.control(
        "POST",
        "/_emulator/throttle",
        Some(json!({"enabled": true, "rates": [{"service": "*", "rate": 2, "burst": 2}]})),
    );
    emu.clear_calls();
    let mut env = emu.env(&seeded, &regions);
    env.push(("API_RATE_LIMITS".into(), "*=2/2".into()));
    let started = std::time::Instant::now();
    let (out, summary) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for region in regions {
        assert_eq!(
            region_summary(&summary, region)["invitedNow"],
            200,
            "{summary}"
        );
    }
    assert_eq!(summary["problems"], 0, "{summary}");
    // Paced, not retried: not one request was throttled, though the busiest API (11 pages
    // of the organization at 2 a second) needed pacing.
    assert_eq!(throttled(&emu), (0, json!({})));
    assert_no_failed_call(&emu.calls());
    assert!(started.elapsed().as_secs_f64() > 10.0 / 2.0);
}

#[test]
fn every_region_works_on_its_batches_at_once_so_no_region_waits_for_another() {
    let emu = Emulator::start();
    let regions = ["us-east-1", "eu-west-1"];
    let seeded = emu.seed(&regions, &[], &[]);
    // 20 batches of 50 in each region, more than are worked on at once; the organization's
    // listing is quick here (its rate raised on both sides), GuardDuty's at AWS's.
    organization(&emu, 430_000_000_000, 1000);
    emu.control(
        "POST",
        "/_emulator/throttle",
        Some(json!({"enabled": true, "rates": [{"service": "organizations", "rate": 100, "burst": 100}]})),
    );
    emu.clear_calls();
    let mut env = emu.env(&seeded, &regions);
    env.push(("API_RATE_LIMITS".into(), "organizations=100/100".into()));
    let (out, summary) = reconcile(&env, false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(summary["problems"], 0, "{summary}");
    assert_eq!(throttled(&emu), (0, json!({})));
    // GuardDuty throttles per region: the first batches sent are of both regions, so each
    // region's buckets are used from the start instead of one after the other.
    let first: std::collections::BTreeSet<String> = emu
        .calls_of("CreateMembers", None)
        .iter()
        .take(4)
        .map(|c| c["region"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(first.len(), 2, "the first CreateMembers calls: {first:?}");
}
