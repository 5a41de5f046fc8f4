//! What a reconcile has to do, decided from the listings alone: which accounts of the
//! organization to protect, and where each one starts in each region. Pure: no I/O.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use aws_sdk_guardduty::primitives::{DateTime, DateTimeFormat as Format};
use serde::Serialize;

use crate::account::{clean_name, AccountId, Email};
use crate::aws::{ListedAccount, ListedMember};
use crate::config::Config;
use crate::decision::{member_action, MemberAction};
use crate::flow::resolve::expired_exception;
use crate::flow::{Slot, Step, Target};
use crate::policy::{Date, Placement, Policy, EXPIRING_WITHIN_DAYS};
use crate::report::{Outcome, Problem};

use super::read::PlansRead;

/// The organization's accounts to protect: active, not the administrator itself, each with
/// the plan the protection policy gives it.
#[derive(Debug, Default)]
pub struct Organization {
    /// By account id.
    pub targets: Vec<Target>,
    /// Active accounts that cannot be members (an email GuardDuty refuses), and exceptions
    /// of the policy that have ended.
    pub problems: Vec<Problem>,
    /// How many accounts each rule of the policy placed, by rule.
    pub rule_matches: Vec<usize>,
    /// Exceptions that end within [`EXPIRING_WITHIN_DAYS`].
    pub expiring: Vec<Expiring>,
    /// Every account Organizations lists, whatever its state (a suspended or closed account
    /// is still in the organization until it leaves it): a member not among them is one
    /// from outside.
    pub listed: std::collections::HashSet<String>,
}

/// An exception that ends soon.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Expiring {
    pub account_id: String,
    pub owner: String,
    pub reason: String,
    pub until: Date,
    pub days_left: i64,
}

/// Whether Organizations shows the account as active, in either `Status` or the newer `State`.
pub fn is_active(a: &ListedAccount) -> bool {
    // Either field may be missing (older or newer API); a present one must say ACTIVE.
    let active = |v: &Option<String>| {
        v.as_deref()
            .is_none_or(|s| s.eq_ignore_ascii_case("ACTIVE"))
    };
    active(&a.status) && active(&a.state)
}

pub fn organization(
    listed: &[ListedAccount],
    admin: &str,
    policy: &Policy,
    today: Date,
) -> Organization {
    let mut org = Organization {
        rule_matches: vec![0; policy.rules.len()],
        ..Organization::default()
    };
    org.listed = listed.iter().map(|a| a.id.clone()).collect();
    let mut listed: Vec<&ListedAccount> = listed
        .iter()
        .filter(|a| is_active(a) && a.id != admin)
        .collect();
    listed.sort_by(|a, b| a.id.cmp(&b.id));
    // An account moved between OUs while the walk ran can be listed under both: it is one
    // account (the first listing's OU path is kept).
    listed.dedup_by(|a, b| a.id == b.id);
    for a in listed {
        let account_id = match AccountId::parse(&a.id) {
            Ok(id) => id,
            Err(why) => {
                // Never seen from Organizations, but not to be dropped silently either.
                org.problems.push(Problem::new(
                    &a.id,
                    "ListAccounts",
                    format!("Organizations listed an {why}"),
                ));
                continue;
            }
        };
        match a.email.as_deref().map(Email::parse) {
            Some(Ok(email)) => {
                let ous = a.ous.as_deref().unwrap_or_default();
                let place = policy.place(&a.id, ous, today);
                org.note(&a.id, &place, today);
                org.targets.push(Target {
                    name: clean_name(a.name.clone()).unwrap_or_else(|| a.id.clone()),
                    account_id,
                    email,
                    joined_at: a.joined_at,
                    plan: place.plan,
                    exception: place.excepted,
                })
            }
            Some(Err(why)) => org.problems.push(Problem::new(
                &a.id,
                "ListAccounts",
                format!("the account's {why}, so GuardDuty cannot invite it"),
            )),
            None => org.problems.push(Problem::new(
                &a.id,
                "ListAccounts",
                "Organizations lists the account without an email address",
            )),
        }
    }
    org
}

impl Organization {
    /// What a placement adds to the run: the rule's count, an expired exception's problem,
    /// an exception that ends soon.
    fn note(&mut self, account: &str, place: &Placement, today: Date) {
        if let Some(count) = place.rule.and_then(|r| self.rule_matches.get_mut(r)) {
            *count += 1;
        }
        if let Some(e) = &place.expired {
            self.problems.push(expired_exception(account, e));
        }
        if let Some(e) = &place.excepted {
            let days_left = e.until.days() - today.days();
            if days_left <= EXPIRING_WITHIN_DAYS {
                self.expiring.push(Expiring {
                    account_id: account.to_owned(),
                    owner: e.owner.clone(),
                    reason: e.reason.clone(),
                    until: e.until,
                    days_left,
                });
            }
        }
    }
}

/// Where one organization account starts in one region.
#[derive(Clone, Debug)]
pub struct Start {
    pub step: Step,
    /// Its relationship status as ListMembers returned it.
    pub status: Option<String>,
}

/// What one region needs, before any call of the flow.
#[derive(Debug)]
pub struct RegionPlan<'a> {
    pub region: &'a str,
    /// Per organization account, in the organization's order.
    pub starts: Vec<Start>,
    /// Members found `Resigned`, `Removed` or `Disabled`: someone took the account away from
    /// this administrator. By account id, the status found.
    pub left: HashMap<&'a str, String>,
    /// Relationship statuses before the run, as ListMembers returned them.
    pub members_by_status: BTreeMap<String, usize>,
    /// Members that are not accounts of the organization (invited from outside): left alone.
    pub outside_organization: usize,
    /// The members' plans, read while the listings went on.
    pub ahead: PlansRead,
}

impl<'a> RegionPlan<'a> {
    /// The slots of organization accounts `range` (a batch), ready for the flow.
    pub fn slots(&self, targets: &'a [Target], range: std::ops::Range<usize>) -> Vec<Slot<'a>> {
        range
            .filter_map(|i| {
                let start = self.starts.get(i)?;
                let target = targets.get(i)?;
                Some(Slot {
                    status: start.status.clone(),
                    read_ahead: self.ahead.get(&target.account_id),
                    ..Slot::new(target, self.region, start.step.clone())
                })
            })
            .collect()
    }
}

pub fn plan<'a>(
    region: &'a str,
    targets: &'a [Target],
    members: &[ListedMember],
    config: &Config,
    now: SystemTime,
) -> RegionPlan<'a> {
    let by_account: HashMap<&str, &ListedMember> =
        members.iter().map(|m| (m.account_id.as_str(), m)).collect();
    let mut members_by_status = BTreeMap::new();
    for m in members {
        *members_by_status
            .entry(m.relationship_status.clone())
            .or_default() += 1;
    }
    let mut left = HashMap::new();
    let starts = targets
        .iter()
        .map(|t| {
            if t.exception.is_some() {
                // Left alone: no call, no problem.
                return Start {
                    step: Step::Done(Outcome::Excepted),
                    status: by_account
                        .get(t.account_id.as_str())
                        .map(|m| m.relationship_status.clone()),
                };
            }
            let Some(m) = by_account.get(t.account_id.as_str()) else {
                return Start {
                    step: Step::ToCreate,
                    status: None,
                };
            };
            let status = m.relationship_status.as_str();
            if ["resigned", "removed", "disabled"].contains(&status.to_ascii_lowercase().as_str()) {
                left.insert(t.account_id.as_str(), status.to_owned());
            }
            Start {
                step: start_step(t, region, m, config, now),
                status: Some(status.to_owned()),
            }
        })
        .collect();
    let in_org: std::collections::HashSet<&str> =
        targets.iter().map(|t| t.account_id.as_str()).collect();
    RegionPlan {
        region,
        starts,
        left,
        members_by_status,
        outside_organization: members
            .iter()
            .filter(|m| !in_org.contains(m.account_id.as_str()))
            .count(),
        ahead: PlansRead::default(),
    }
}

/// How many of a region's members are not accounts of the organization (invited from
/// outside). An account Organizations lists in any state (suspended, closed) is not one.
pub fn outside_organization(members: &[ListedMember], org: &Organization) -> usize {
    members
        .iter()
        .filter(|m| !org.listed.contains(&m.account_id))
        .count()
}

/// The step a member's listed status calls for.
fn start_step(
    t: &Target,
    region: &str,
    m: &ListedMember,
    config: &Config,
    now: SystemTime,
) -> Step {
    let status = m.relationship_status.as_str();
    let problem = |reason: String| {
        Step::Done(Outcome::Problem(Box::new(
            Problem::new(t.account_id.as_str(), "ListMembers", reason)
                .in_region(region, None)
                .with_status(status),
        )))
    };
    // Every account of a reconcile is an organization account (ListAccounts).
    match member_action(status, false, true) {
        MemberAction::Invite => Step::ToInvite,
        MemberAction::Associate => Step::ToCreate,
        MemberAction::StartMonitoring => Step::ToStartMonitoring,
        MemberAction::VerificationPending => Step::Done(Outcome::InvitationPending),
        MemberAction::AlreadyInvited if config.member_role.is_some() => {
            Step::Done(Outcome::AlreadyInvited)
        }
        MemberAction::AlreadyInvited => match stale_for(m, config.stale_invitation_days, now) {
            Some(days) => problem(format!(
                "invited {days} days ago and still not accepted, so GuardDuty does not protect the account: accept \
                 the invitation in the account, or set MEMBER_ROLE_NAME so that the function accepts it"
            )),
            None => Step::Done(Outcome::AlreadyInvited),
        },
        MemberAction::AlreadyEnabled | MemberAction::EnabledByOrganization => {
            Step::Done(Outcome::AlreadyEnabled)
        }
        MemberAction::Problem(reason) => problem(reason),
    }
}

/// Days since the invitation, when that is more than `limit`.
fn stale_for(m: &ListedMember, limit: u32, now: SystemTime) -> Option<u64> {
    let invited = DateTime::from_str(m.invited_at.as_deref()?, Format::DateTime).ok()?;
    let invited = SystemTime::try_from(invited).ok()?;
    let days = now.duration_since(invited).ok()?.as_secs() / 86_400;
    (days > u64::from(limit)).then_some(days)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn listed(id: &str, status: Option<&str>, state: Option<&str>) -> ListedAccount {
        ListedAccount {
            id: id.into(),
            email: Some(format!("a{id}@example.com")),
            name: Some(format!("n{id}")),
            status: status.map(str::to_owned),
            state: state.map(str::to_owned),
            joined_at: None,
            ous: Some(Vec::new()),
        }
    }

    fn today() -> Date {
        Date::of(SystemTime::now())
    }

    fn config(extra: &[(&str, &str)]) -> Config {
        let mut pairs = vec![
            ("SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:t"),
            ("AWS_REGION", "us-east-1"),
        ];
        pairs.extend_from_slice(extra);
        Config::from_pairs(&pairs).unwrap()
    }

    fn member(id: &str, status: &str, invited_at: Option<&str>) -> ListedMember {
        ListedMember {
            account_id: id.into(),
            relationship_status: status.into(),
            invited_at: invited_at.map(str::to_owned),
        }
    }

    #[test]
    fn only_active_accounts_by_status_or_state_and_never_the_administrator() {
        let accounts = [
            listed("111111111111", Some("ACTIVE"), None),
            listed("222222222222", None, Some("ACTIVE")),
            listed("333333333333", Some("SUSPENDED"), None),
            listed("444444444444", Some("ACTIVE"), Some("CLOSED")),
            listed("555555555555", Some("PENDING_CLOSURE"), None),
            listed("123456789012", Some("ACTIVE"), Some("ACTIVE")),
        ];
        let org = organization(&accounts, "123456789012", &Policy::default(), today());
        let ids: Vec<&str> = org.targets.iter().map(|t| t.account_id.as_str()).collect();
        assert_eq!(ids, ["111111111111", "222222222222"]);
        assert!(org.problems.is_empty());
    }

    #[test]
    fn an_account_the_ou_walk_lists_twice_is_counted_once() {
        // Moved from one OU to another while the walk ran: listed under both.
        let mut before = listed("111111111111", Some("ACTIVE"), None);
        before.ous = Some(vec!["ou-a".into()]);
        let mut after = before.clone();
        after.ous = Some(vec!["ou-b".into()]);
        let accounts = [before, listed("222222222222", Some("ACTIVE"), None), after];
        let org = organization(&accounts, "123456789012", &Policy::default(), today());
        let ids: Vec<&str> = org.targets.iter().map(|t| t.account_id.as_str()).collect();
        assert_eq!(ids, ["111111111111", "222222222222"]);
    }

    #[test]
    fn an_active_account_that_cannot_be_a_member_is_a_problem_not_dropped() {
        let mut bad_email = listed("111111111111", Some("ACTIVE"), None);
        bad_email.email = Some("not-an-email".into());
        let mut no_email = listed("222222222222", Some("ACTIVE"), None);
        no_email.email = None;
        let bad_id = listed("42", Some("ACTIVE"), None);
        let org = organization(
            &[bad_email, no_email, bad_id],
            "123456789012",
            &Policy::default(),
            today(),
        );
        assert!(org.targets.is_empty());
        let ids: Vec<&str> = org.problems.iter().map(|p| p.account_id.as_str()).collect();
        assert_eq!(ids, ["111111111111", "222222222222", "42"]);
    }

    fn kind(s: &Start) -> &'static str {
        match &s.step {
            Step::ToCreate => "create",
            Step::ToInvite => "invite",
            Step::Done(Outcome::AlreadyInvited) => "invited",
            Step::Done(Outcome::AlreadyEnabled) => "enabled",
            Step::Done(Outcome::Problem(_)) => "problem",
            Step::ToStartMonitoring => "start-monitoring",
            _ => "other",
        }
    }

    #[test]
    fn every_account_gets_a_start_and_gone_members_are_invited_again_and_remembered() {
        let ids = [
            "100000000001",
            "100000000002",
            "100000000003",
            "100000000004",
            "100000000005",
            "100000000006",
            "100000000007",
        ];
        let accounts: Vec<ListedAccount> = ids
            .iter()
            .map(|id| listed(id, Some("ACTIVE"), None))
            .collect();
        let org = organization(&accounts, "123456789012", &Policy::default(), today());
        let members = [
            member("100000000002", "Resigned", None),
            member("100000000003", "Invited", Some("2026-01-01T00:00:00Z")),
            member("100000000004", "Invited", Some("2026-11-25T00:00:00Z")),
            member("100000000005", "EmailVerificationFailed", None),
            member("100000000006", "Enabled", None),
            member("100000000007", "Disabled", None),
            member("900000000009", "Enabled", None),
        ];
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_651_200); // 2026-11-26
        let plan = plan("us-east-1", &org.targets, &members, &config(&[]), now);
        let kinds: Vec<&str> = plan.starts.iter().map(kind).collect();
        assert_eq!(
            kinds,
            ["create", "invite", "problem", "invited", "problem", "enabled", "start-monitoring"],
            "the old invitation is stale, the recent one is not; a Disabled member is started again"
        );
        assert_eq!(plan.starts[5].status.as_deref(), Some("Enabled"));
        assert_eq!(plan.outside_organization, 1);
        assert_eq!(plan.members_by_status["Invited"], 2);
        let mut left: Vec<(&str, &str)> = plan.left.iter().map(|(a, s)| (*a, s.as_str())).collect();
        left.sort_unstable();
        assert_eq!(
            left,
            [("100000000002", "Resigned"), ("100000000007", "Disabled")]
        );
        assert_eq!(plan.slots(&org.targets, 5..7).len(), 2);
    }

    #[test]
    fn with_a_role_invited_members_wait_for_acceptance_not_for_a_person() {
        let accounts = [listed("100000000003", Some("ACTIVE"), None)];
        let org = organization(&accounts, "123456789012", &Policy::default(), today());
        let members = [member(
            "100000000003",
            "Invited",
            Some("2026-01-01T00:00:00Z"),
        )];
        let config = config(&[("MEMBER_ROLE_NAME", "OrganizationAccountAccessRole")]);
        let plan = plan(
            "us-east-1",
            &org.targets,
            &members,
            &config,
            SystemTime::now(),
        );
        assert_eq!(kind(&plan.starts[0]), "invited");
    }
}
