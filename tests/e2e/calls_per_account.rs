//! What a new account costs on the administrator side, per region, counted in the emulator's
//! call log; and that a replay of the same event only reads. ListDetectors is left out: it is
//! made once per process and region, whatever the accounts.

use std::collections::BTreeMap;

use crate::support::*;
use serde_json::json;

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const OUTSIDE: &str = "610000000001";
const IN_ORG: (&str, &str, &str) = ("610000000002", "in.org@example.com", "Workloads");

/// The administrator-side calls per region, ListDetectors left out: {region: {operation: n}}.
fn admin_calls(emu: &Emulator) -> BTreeMap<String, BTreeMap<String, usize>> {
    let mut out: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for c in emu.calls() {
        let (Some(op), Some(region)) = (c["operation"].as_str(), c["region"].as_str()) else {
            continue;
        };
        let admin_side = c["service"] == "guardduty" && c["account"] == ADMIN_ACCOUNT;
        if op == "ListDetectors" || !admin_side || !REGIONS.contains(&region) {
            continue;
        }
        *out.entry(region.to_owned())
            .or_default()
            .entry(op.to_owned())
            .or_default() += 1;
    }
    out
}

fn counted(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(o, n)| ((*o).to_owned(), *n)).collect()
}

fn manual_event() -> tempfile::TempPath {
    event_file(&manual_request(
        "calls-1",
        json!([{"accountId": OUTSIDE, "email": "outside@example.com", "name": "outside"}]),
    ))
}

#[test]
fn a_new_account_outside_the_organization_costs_four_administrator_calls_per_region() {
    let emu = Emulator::start();
    let seeded = emu.seed(&REGIONS, &[], &[]);
    let env = emu.env(&seeded, &REGIONS);
    let out = invoke(&env, &[&manual_event()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let response = responses(&out).remove(0);
    let expected = counted(&[
        ("GetMembers", 2),
        ("CreateMembers", 1),
        ("InviteMembers", 1),
    ]);
    let calls = admin_calls(&emu);
    for region in REGIONS {
        assert_eq!(calls.get(region), Some(&expected), "{region}: {calls:?}");
        // The status reported is the one GuardDuty returns, read after the invitation.
        let reported = outcome(&response, OUTSIDE, region);
        assert_eq!(reported["outcome"], "invited", "{reported}");
        let member = emu.member(region, &seeded.detector(region), OUTSIDE);
        assert_eq!(
            reported["relationshipStatus"], member["relationshipStatus"],
            "{region}: {reported} {member}"
        );
    }
}

#[test]
fn a_replay_of_a_new_account_makes_one_read_per_region_and_no_write() {
    let emu = Emulator::start();
    let seeded = emu.seed(&REGIONS, &[], &[]);
    let env = emu.env(&seeded, &REGIONS);
    let event = manual_event();
    assert!(invoke(&env, &[&event]).status.success());
    emu.clear_calls();
    let replay = invoke(&env, &[&event]);
    assert!(replay.status.success(), "{}", stderr(&replay));
    assert_eq!(emu.writes(), Vec::<String>::new());
    let calls = admin_calls(&emu);
    for region in REGIONS {
        assert_eq!(
            calls.get(region),
            Some(&counted(&[("GetMembers", 1)])),
            "{region}: {calls:?}"
        );
    }
}

#[test]
fn a_new_organization_account_is_read_after_create_members_which_may_enable_it() {
    let emu = Emulator::start();
    let seeded = emu.seed(&REGIONS, &[IN_ORG], &[]);
    // As the delegated administrator: CreateMembers enables it, no invitation.
    emu.mark_organization_accounts(&[IN_ORG.0]);
    let event = manual_request("calls-2", json!([{"accountId": IN_ORG.0}]));
    let out = invoke(&emu.env(&seeded, &REGIONS), &[&event_file(&event)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let response = responses(&out).remove(0);
    let expected = counted(&[("GetMembers", 2), ("CreateMembers", 1)]);
    let calls = admin_calls(&emu);
    for region in REGIONS {
        assert_eq!(calls.get(region), Some(&expected), "{region}: {calls:?}");
        let reported = outcome(&response, IN_ORG.0, region);
        assert_eq!(reported["outcome"], "enabled_by_organization", "{reported}");
        assert_eq!(reported["relationshipStatus"], "Enabled", "{reported}");
    }
}

/// An organization account named with its email (so Organizations is not asked, and the code
/// does not know it is one) that CreateMembers enabled: InviteMembers refuses it as already
/// with this administrator, and its status is read rather than taken as "already invited".
#[test]
fn an_organization_account_named_with_its_email_and_enabled_by_create_members_is_reported_enabled()
{
    let emu = Emulator::start();
    let seeded = emu.seed(&REGIONS, &[IN_ORG], &[]);
    emu.mark_organization_accounts(&[IN_ORG.0]);
    let event = manual_request(
        "calls-3",
        json!([{"accountId": IN_ORG.0, "email": IN_ORG.1, "name": IN_ORG.2}]),
    );
    let out = invoke(&emu.env(&seeded, &REGIONS), &[&event_file(&event)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let response = responses(&out).remove(0);
    for region in REGIONS {
        let reported = outcome(&response, IN_ORG.0, region);
        assert_eq!(reported["outcome"], "enabled_by_organization", "{reported}");
        assert_eq!(reported["relationshipStatus"], "Enabled", "{reported}");
        // Named in InviteMembers, which GuardDuty refused: no invitation went out.
        let member = emu.member(region, &seeded.detector(region), IN_ORG.0);
        assert_eq!(member["invitations"], 0, "{region}: {member}");
    }
}
