//! End to end over loopback: at most 8 AWS calls in flight per invocation, whatever the
//! stages, the regions and the number of accounts.

use crate::support::*;
use guardduty_invite::aws::MAX_CONCURRENT_CALLS;
use serde_json::json;

const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "ap-south-1", "sa-east-1"];

fn accounts(n: usize) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| {
            json!({"accountId": format!("{:012}", 300_000_000_000u64 + i as u64),
                   "email": format!("acct{i}@example.com"), "name": format!("acct-{i}")})
        })
        .collect()
}

/// Every call is slowed, so that calls overlap as much as the function lets them.
fn slow_every_call(emu: &Emulator) {
    emu.fault(json!({"operation": "*", "kind": "delay", "delay_ms": 40}));
    emu.reset_in_flight();
}

#[test]
fn a_per_account_message_in_four_regions_keeps_calls_in_flight_within_the_cap() {
    let emu = Emulator::start();
    let seeded = emu.seed(&REGIONS, &[], &[]);
    let mut env = emu.env(&seeded, &REGIONS);
    // The message names the account, so every account is its own InviteMembers call.
    env.push((
        "INVITE_MESSAGE_TEMPLATE".into(),
        "Welcome {account_name} ({account_id})".into(),
    ));
    slow_every_call(&emu);
    let out = invoke(
        &env,
        &[&event_file(&manual_request("load-1", json!(accounts(120))))],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(emu.calls_of("InviteMembers", None).len(), 4 * 120);
    let peak = emu.peak_in_flight();
    assert!(
        peak as usize <= MAX_CONCURRENT_CALLS,
        "{peak} calls in flight at once"
    );
    // The cap is a limit, not a serialisation: the regions and groups do overlap.
    assert!(peak >= 4, "only {peak} calls in flight at once");
}

#[test]
fn the_member_side_stages_stay_within_the_same_cap() {
    let emu = Emulator::start();
    let regions = &REGIONS[..2];
    let seeded = emu.seed(regions, &[], &[]);
    let mut env = emu.env(&seeded, regions);
    env.push(("MEMBER_ROLE_NAME".into(), "GuardDutyInviteMember".into()));
    env.push(("MEMBER_FEATURES".into(), "S3_DATA_EVENTS".into()));
    let ids: Vec<String> = accounts(30)
        .iter()
        .map(|a| a["accountId"].as_str().unwrap_or_default().to_owned())
        .collect();
    emu.create_member_role(
        &ids.iter().map(String::as_str).collect::<Vec<_>>(),
        "GuardDutyInviteMember",
    );
    slow_every_call(&emu);
    let out = invoke(
        &env,
        &[&event_file(&manual_request("load-2", json!(accounts(30))))],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        emu.calls_of("AcceptAdministratorInvitation", None).len(),
        2 * 30
    );
    let peak = emu.peak_in_flight();
    assert!(
        peak as usize <= MAX_CONCURRENT_CALLS,
        "{peak} calls in flight at once"
    );
}
