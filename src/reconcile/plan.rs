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

/// The id and email GuardDuty needs of a listed account, or why it cannot be a member.
fn target(a: &ListedAccount) -> Result<(AccountId, Email), String> {
    // An id Organizations never gives, but not to be dropped silently either.
    let account_id =
        AccountId::parse(&a.id).map_err(|why| format!("Organizations listed an {why}"))?;
    match a.email.as_deref().map(Email::parse) {
        Some(Ok(email)) => Ok((account_id, email)),
        Some(Err(why)) => Err(format!(
            "the account's {why}, so GuardDuty cannot invite it"
        )),
        None => Err("Organizations lists the account without an email address".into()),
    }
}

impl Organization {
    pub fn new(policy: &Policy) -> Self {
        Self {
            rule_matches: vec![0; policy.rules.len()],
            ..Self::default()
        }
    }

    /// Adds one page of the listing, and answers the accounts to protect it brings: those
    /// active, not the administrator, not listed before. An account moved between OUs while
    /// the walk ran can be listed under both: it is one account (the first listing's OU
    /// path is kept).
    pub fn add(
        &mut self,
        page: Vec<ListedAccount>,
        admin: &str,
        policy: &Policy,
        today: Date,
    ) -> Vec<Target> {
        let first = self.targets.len();
        for a in page {
            if !self.listed.insert(a.id.clone()) || !is_active(&a) || a.id == admin {
                continue;
            }
            match target(&a) {
                Ok((account_id, email)) => {
                    let ous = a.ous.as_deref().unwrap_or_default();
                    let place = policy.place(&a.id, ous, today);
                    self.note(&a.id, &place, today);
                    self.targets.push(Target {
                        name: clean_name(a.name).unwrap_or_else(|| a.id.clone()),
                        account_id,
                        email,
                        joined_at: a.joined_at,
                        plan: place.plan,
                        exception: place.excepted,
                    })
                }
                Err(reason) => self
                    .problems
                    .push(Problem::new(&a.id, "ListAccounts", reason)),
            }
        }
        self.targets.get(first..).unwrap_or_default().to_vec()
    }

    /// After the last page: the accounts, and the exceptions ending soon, by account id.
    pub fn finish(&mut self) {
        self.targets.sort_by(|a, b| a.account_id.cmp(&b.account_id));
        self.expiring
            .sort_by(|a, b| a.account_id.cmp(&b.account_id));
    }

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

/// What one region needs, before any call of the flow: its members as ListMembers returned
/// them, from which each organization account's start is decided as it is listed.
#[derive(Debug)]
pub struct RegionPlan<'a> {
    pub region: &'a str,
    config: &'a Config,
    now: SystemTime,
    /// By account id (its 12 digits as a number: a key of 8 bytes rather than a second copy
    /// of the id, for up to 50,000 members in each of 17 regions).
    members: HashMap<u64, ListedMember>,
    /// Members whose id is not 12 digits (never seen from GuardDuty): no account of the
    /// organization, so counted among those from outside.
    odd: usize,
    /// Relationship statuses before the run, as ListMembers returned them.
    pub members_by_status: BTreeMap<String, usize>,
    /// Members that are not accounts of the organization (invited from outside): left alone.
    /// Counted once the organization is listed.
    pub outside_organization: usize,
    /// The members' plans, read while the listings went on.
    pub ahead: PlansRead,
}

impl<'a> RegionPlan<'a> {
    pub fn new(
        region: &'a str,
        members: Vec<ListedMember>,
        ahead: PlansRead,
        config: &'a Config,
        now: SystemTime,
    ) -> Self {
        let mut members_by_status = BTreeMap::new();
        for m in &members {
            *members_by_status
                .entry(m.relationship_status.clone())
                .or_default() += 1;
        }
        let total = members.len();
        let members: HashMap<u64, ListedMember> = members
            .into_iter()
            .filter_map(|m| Some((id_key(&m.account_id)?, m)))
            .collect();
        Self {
            region,
            config,
            now,
            odd: total - members.len(),
            members,
            members_by_status,
            outside_organization: 0,
            ahead,
        }
    }

    /// Where an organization account starts in this region.
    pub fn start(&self, t: &Target) -> Start {
        let member = self.member(t);
        if t.exception.is_some() {
            // Left alone: no call, no problem.
            return Start {
                step: Step::Done(Outcome::Excepted),
                status: member.map(|m| m.relationship_status.clone()),
            };
        }
        match member {
            None => Start {
                step: Step::ToCreate,
                status: None,
            },
            Some(m) => Start {
                step: start_step(t, self.region, m, self.config, self.now),
                status: Some(m.relationship_status.clone()),
            },
        }
    }

    /// The status of an organization account found `Resigned`, `Removed` or `Disabled`:
    /// someone took it away from this administrator (`None` for an account the policy
    /// excepts: it is left alone).
    pub fn left(&self, t: &Target) -> Option<&str> {
        if t.exception.is_some() {
            return None;
        }
        let status = self.member(t)?.relationship_status.as_str();
        // Asked of every account-region a batch keeps: compared in place, not lowercased
        // into a new string each time.
        ["resigned", "removed", "disabled"]
            .iter()
            .any(|left| status.eq_ignore_ascii_case(left))
            .then_some(status)
    }

    /// The slots of a batch of organization accounts, ready for the flow.
    pub fn slots(&self, targets: &'a [Target]) -> Vec<Slot<'a>> {
        targets
            .iter()
            .map(|target| {
                let start = self.start(target);
                Slot {
                    status: start.status,
                    read_ahead: self.ahead.get(&target.account_id),
                    ..Slot::new(target, self.region, start.step)
                }
            })
            .collect()
    }

    /// Once the organization is listed: its members that are not accounts of it.
    pub fn count_outside(&mut self, org: &Organization) {
        self.outside_organization = self.odd
            + self
                .members
                .values()
                .filter(|m| !org.listed.contains(&m.account_id))
                .count();
    }

    fn member(&self, t: &Target) -> Option<&ListedMember> {
        self.members.get(&id_key(t.account_id.as_str())?)
    }
}

/// An account id as a map key: its 12 digits as a number.
fn id_key(id: &str) -> Option<u64> {
    (id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()))
        .then(|| id.parse().ok())
        .flatten()
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

    /// The organization's accounts to protect, from the whole listing as one page.
    fn organization(
        listed: &[ListedAccount],
        admin: &str,
        policy: &Policy,
        today: Date,
    ) -> Organization {
        let mut org = Organization::new(policy);
        org.add(listed.to_vec(), admin, policy, today);
        org.finish();
        org
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
    fn each_page_brings_only_the_accounts_not_listed_before_and_the_end_sorts_them() {
        let policy = Policy::default();
        let mut org = Organization::new(&policy);
        let page = |ids: &[&str]| -> Vec<ListedAccount> {
            ids.iter()
                .map(|id| listed(id, Some("ACTIVE"), None))
                .collect()
        };
        let ids = |targets: &[Target]| -> Vec<String> {
            targets.iter().map(|t| t.account_id.to_string()).collect()
        };
        let first = org.add(
            page(&["333333333333", "111111111111"]),
            "123456789012",
            &policy,
            today(),
        );
        assert_eq!(ids(&first), ["333333333333", "111111111111"]);
        // Listed again under another OU (moved during the walk), and the administrator.
        let second = org.add(
            page(&["111111111111", "222222222222", "123456789012"]),
            "123456789012",
            &policy,
            today(),
        );
        assert_eq!(ids(&second), ["222222222222"]);
        org.finish();
        assert_eq!(
            ids(&org.targets),
            ["111111111111", "222222222222", "333333333333"]
        );
        assert_eq!(
            org.listed.len(),
            4,
            "every account listed, the administrator too"
        );
    }

    #[test]
    fn a_member_that_left_is_not_drift_when_the_policy_excepts_its_account() {
        let accounts = [listed("100000000002", Some("ACTIVE"), None)];
        let mut org = organization(&accounts, "123456789012", &Policy::default(), today());
        let config = config(&[]);
        let members = vec![member("100000000002", "Resigned", None)];
        let plan = RegionPlan::new(
            "us-east-1",
            members,
            PlansRead::default(),
            &config,
            SystemTime::now(),
        );
        assert_eq!(plan.left(&org.targets[0]), Some("Resigned"));
        org.targets[0].exception = Some(std::sync::Arc::new(crate::policy::Exception {
            owner: "team".into(),
            reason: "sandbox".into(),
            until: today(),
            rule: 0,
        }));
        assert_eq!(plan.left(&org.targets[0]), None);
        assert!(matches!(
            plan.start(&org.targets[0]).step,
            Step::Done(Outcome::Excepted)
        ));
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
        let config = config(&[]);
        let mut plan = RegionPlan::new(
            "us-east-1",
            members.to_vec(),
            PlansRead::default(),
            &config,
            now,
        );
        let starts: Vec<Start> = org.targets.iter().map(|t| plan.start(t)).collect();
        let kinds: Vec<&str> = starts.iter().map(kind).collect();
        assert_eq!(
            kinds,
            ["create", "invite", "problem", "invited", "problem", "enabled", "start-monitoring"],
            "the old invitation is stale, the recent one is not; a Disabled member is started again"
        );
        assert_eq!(starts[5].status.as_deref(), Some("Enabled"));
        plan.count_outside(&org);
        assert_eq!(plan.outside_organization, 1);
        assert_eq!(plan.members_by_status["Invited"], 2);
        let left: Vec<(&str, &str)> = org
            .targets
            .iter()
            .filter_map(|t| Some((t.account_id.as_str(), plan.left(t)?)))
            .collect();
        assert_eq!(
            left,
            [("100000000002", "Resigned"), ("100000000007", "Disabled")]
        );
        assert_eq!(plan.slots(&org.targets[5..7]).len(), 2);
    }

    #[test]
    fn only_a_twelve_digit_id_is_a_member_key_so_a_shorter_one_cannot_stand_for_an_account() {
        assert_eq!(id_key("000000000042"), Some(42));
        // "42" would be the same number: it must not find the member 000000000042.
        for odd in ["42", "0000000000042", "00000000004x", ""] {
            assert_eq!(id_key(odd), None, "{odd:?}");
        }
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
        let plan = RegionPlan::new(
            "us-east-1",
            members.to_vec(),
            PlansRead::default(),
            &config,
            SystemTime::now(),
        );
        assert_eq!(kind(&plan.start(&org.targets[0])), "invited");
    }
}
