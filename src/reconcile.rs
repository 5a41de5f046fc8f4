//! Reconcile: the organization against the members of every region, so that an account whose
//! event was missed, that joined by invitation, or that drifted (resigned, removed, stale) is
//! found. The accounts that need work go through the same stages as an event.
//!
//! ```text
//! list accounts → per region: list members → plan → (unless dry run) the flow's stages
//!               → publish the problems → one summary, metrics per region
//! ```

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime};

use aws_sdk_guardduty::primitives::{DateTime, DateTimeFormat as Format};
use futures::future::join_all;
use serde::Serialize;

use crate::account::{clean_name, AccountId, Email};
use crate::aws::{Aws, ListedAccount, ListedMember};
use crate::config::Config;
use crate::decision::{member_action, MemberAction};
use crate::error::{AwsError, HandlerError, Published};
use crate::event::EventMeta;
use crate::flow::{Flow, Ran, Slot, Step, Target};
use crate::handler::finish;
use crate::logging::Progress;
use crate::publish;
use crate::report::{Outcome, Problem};

/// The organization's accounts to protect: active, not the administrator itself.
#[derive(Debug, Default)]
pub struct Organization {
    pub targets: Vec<Target>,
    /// Active accounts that cannot be members (an email GuardDuty refuses).
    pub problems: Vec<Problem>,
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

pub fn organization(listed: &[ListedAccount], admin: &str) -> Organization {
    let mut org = Organization::default();
    for a in listed.iter().filter(|a| is_active(a) && a.id != admin) {
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
            Some(Ok(email)) => org.targets.push(Target {
                name: clean_name(a.name.clone()).unwrap_or_else(|| a.id.clone()),
                account_id,
                email,
                joined_at: a.joined_at,
            }),
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

/// What one region needs.
#[derive(Debug)]
pub struct RegionPlan<'a> {
    pub region: &'a str,
    /// Slots for the flow: missing, removed or resigned accounts from the start; invited ones
    /// for acceptance; enabled ones for their features.
    pub slots: Vec<Slot<'a>>,
    /// Stale invitations and members in a status no invitation fixes.
    pub problems: Vec<Problem>,
    pub members_by_status: BTreeMap<String, usize>,
    /// Members that are not accounts of the organization (invited from outside): left alone.
    pub outside_organization: usize,
    /// Organization accounts `Enabled` now.
    pub enabled: HashSet<&'a str>,
}

pub fn plan<'a>(
    region: &'a str,
    targets: &'a [Target],
    members: &[ListedMember],
    config: &Config,
    now: SystemTime,
) -> RegionPlan<'a> {
    let by_account: BTreeMap<&str, &ListedMember> =
        members.iter().map(|m| (m.account_id.as_str(), m)).collect();
    let org: HashSet<&str> = targets.iter().map(|t| t.account_id.as_str()).collect();
    let mut plan = RegionPlan {
        region,
        slots: Vec::new(),
        problems: Vec::new(),
        members_by_status: BTreeMap::new(),
        outside_organization: members
            .iter()
            .filter(|m| !org.contains(m.account_id.as_str()))
            .count(),
        enabled: HashSet::new(),
    };
    for m in members {
        *plan
            .members_by_status
            .entry(m.relationship_status.clone())
            .or_default() += 1;
    }
    for t in targets {
        let Some(m) = by_account.get(t.account_id.as_str()) else {
            plan.slots.push(Slot::new(t, region, Step::ToCreate));
            continue;
        };
        let status = m.relationship_status.as_str();
        let slot = |step| Slot {
            status: Some(status.to_owned()),
            ..Slot::new(t, region, step)
        };
        match member_action(status, false) {
            MemberAction::Invite => plan.slots.push(slot(Step::ToInvite)),
            MemberAction::AlreadyInvited if config.member_role.is_some() => {
                plan.slots.push(slot(Step::Done(Outcome::AlreadyInvited)))
            }
            MemberAction::AlreadyInvited => {
                if let Some(days) = stale_for(m, config.stale_invitation_days, now) {
                    plan.problems.push(stale(t, region, status, days));
                }
            }
            MemberAction::AlreadyEnabled | MemberAction::EnabledByOrganization => {
                plan.enabled.insert(t.account_id.as_str());
                if !config.plan.is_empty() {
                    plan.slots.push(slot(Step::Done(Outcome::AlreadyEnabled)));
                }
            }
            MemberAction::Problem(reason) => plan.problems.push(
                Problem::new(t.account_id.as_str(), "ListMembers", reason)
                    .in_region(region, None)
                    .with_status(status),
            ),
        }
    }
    plan
}

/// Days since the invitation, when that is more than `limit`.
fn stale_for(m: &ListedMember, limit: u32, now: SystemTime) -> Option<u64> {
    let invited = DateTime::from_str(m.invited_at.as_deref()?, Format::DateTime).ok()?;
    let invited = SystemTime::try_from(invited).ok()?;
    let days = now.duration_since(invited).ok()?.as_secs() / 86_400;
    (days > u64::from(limit)).then_some(days)
}

fn stale(t: &Target, region: &str, status: &str, days: u64) -> Problem {
    Problem::new(
        t.account_id.as_str(),
        "ListMembers",
        format!(
            "invited {days} days ago and still not accepted, so GuardDuty does not protect the account: accept \
             the invitation in the account, or set MEMBER_ROLE_NAME so that the function accepts it"
        ),
    )
    .in_region(region, None)
    .with_status(status)
}

/// The reads of one region: the administrator's detector and every member.
pub struct RegionRead {
    pub region: String,
    /// `None`: no detector, so nothing can be a member there.
    pub detector_id: Option<String>,
    pub members: Vec<ListedMember>,
}

pub async fn read_region(aws: &Aws, region: &str) -> Result<RegionRead, AwsError> {
    let detector_id = aws.detector(region).await?;
    let members = match &detector_id {
        Some(d) => aws.list_members(region, d).await?,
        None => Vec::new(),
    };
    Ok(RegionRead {
        region: region.to_owned(),
        detector_id,
        members,
    })
}

/// Every region's reads, concurrently (the in-flight cap is Aws's own).
pub async fn read_regions(aws: &Aws, config: &Config) -> Result<Vec<RegionRead>, AwsError> {
    join_all(config.regions.iter().map(|r| read_region(aws, r)))
        .await
        .into_iter()
        .collect()
}

/// One region's line of the summary.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionSummary {
    pub region: String,
    pub organization_accounts: usize,
    pub members_by_status: BTreeMap<String, usize>,
    pub outside_organization: usize,
    pub invited_now: usize,
    pub accepted_now: usize,
    pub problems: usize,
    pub unprotected_accounts: usize,
    /// Dry run: the accounts it would put through the flow, and those it would accept.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_invite: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_accept: Vec<String>,
}

/// The time a reconcile may take when nobody set a deadline (by hand, from a terminal).
pub const RECONCILE_BUDGET: Duration = Duration::from_secs(15 * 60);

/// What a reconcile reports: one summary per run.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileReport {
    pub event_id: String,
    pub dry_run: bool,
    pub organization_accounts: usize,
    pub regions: Vec<RegionSummary>,
    pub problems: usize,
    /// Dry run: the problems it sees, one line each (nothing is published).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problem_lines: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notification_message_ids: Vec<String>,
}

/// The stages of a reconcile, in order.
pub async fn run(
    aws: &Aws,
    config: &Config,
    meta: &EventMeta,
    dry_run: bool,
) -> Result<ReconcileReport, HandlerError> {
    let progress = Progress::start("reconcile");
    let failed = |e: AwsError| HandlerError::Incomplete {
        failures: vec![e],
        published: Published::nothing(),
    };
    let admin = aws.admin_account().await.map_err(failed)?;
    let org = organization(&aws.list_accounts().await.map_err(failed)?, &admin);
    progress.say(format!(
        "{} organization accounts listed",
        org.targets.len()
    ));
    let reads = read_regions(aws, config).await.map_err(failed)?;
    progress.say(format!("{} regions' members read", reads.len()));
    let now = SystemTime::now();
    let plans: Vec<RegionPlan<'_>> = reads
        .iter()
        .map(|r| plan(&r.region, &org.targets, &r.members, config, now))
        .collect();
    let report = if dry_run {
        dry_run_report(meta, &org, plans)
    } else {
        apply(aws, config, meta, &org, plans, &progress).await?
    };
    progress.finish(format!(
        "{} problem(s); {} unprotected account-region(s)",
        report.problems,
        report
            .regions
            .iter()
            .map(|r| r.unprotected_accounts)
            .sum::<usize>()
    ));
    Ok(report)
}

/// What a dry run would do, from the plans alone: read calls only.
fn dry_run_report(
    meta: &EventMeta,
    org: &Organization,
    plans: Vec<RegionPlan<'_>>,
) -> ReconcileReport {
    let mut problems = org.problems.clone();
    let regions = plans
        .into_iter()
        .map(|p| {
            let ids = |pick: fn(&Step) -> bool| -> Vec<String> {
                p.slots
                    .iter()
                    .filter(|s| pick(&s.step))
                    .map(|s| s.account_id().to_string())
                    .collect()
            };
            let summary = RegionSummary {
                would_invite: ids(|s| matches!(s, Step::ToCreate | Step::ToInvite)),
                would_accept: ids(|s| matches!(s, Step::Done(Outcome::AlreadyInvited))),
                ..region_summary(&p, org.targets.len(), p.problems.len(), p.enabled.len())
            };
            problems.extend(p.problems);
            summary
        })
        .collect();
    report(meta, true, org, regions, &problems, Vec::new())
}

/// Runs the plans through the flow's stages, publishes the problems, emits the metrics.
async fn apply(
    aws: &Aws,
    config: &Config,
    meta: &EventMeta,
    org: &Organization,
    plans: Vec<RegionPlan<'_>>,
    progress: &Progress,
) -> Result<ReconcileReport, HandlerError> {
    let flow = Flow::new(aws, config);
    let (slots, plans): (Vec<Vec<Slot<'_>>>, Vec<RegionPlan<'_>>) = plans
        .into_iter()
        .map(|mut p| (std::mem::take(&mut p.slots), p))
        .unzip();
    let ran = flow.run_slots(slots.into_iter().flatten().collect()).await;
    let tally = ran.tally();
    let mut problems = org.problems.clone();
    let mut per_region = tally.per_region;
    let mut regions = Vec::new();
    for p in plans {
        let counts = per_region.entry(p.region.to_owned()).or_default();
        counts.problems += p.problems.len() as u64;
        let enabled = enabled_after(&p, &ran);
        counts.unprotected = Some(org.targets.len().saturating_sub(enabled) as u64);
        regions.push(RegionSummary {
            invited_now: counts.invited as usize,
            accepted_now: counts.accepted as usize,
            ..region_summary(&p, org.targets.len(), counts.problems as usize, enabled)
        });
        problems.extend(p.problems);
    }
    progress.say(format!(
        "{} invitation(s) sent, {} accepted",
        regions.iter().map(|r| r.invited_now).sum::<usize>(),
        regions.iter().map(|r| r.accepted_now).sum::<usize>()
    ));
    problems.extend(tally.problems);
    publish::sort(&mut problems);
    let mut failures = tally.failures;
    let delivered = publish::deliver_all(
        aws,
        config,
        &publish::Report {
            meta,
            problems: &problems,
            per_region: &per_region,
            now: SystemTime::now(),
        },
    )
    .await;
    let ids = finish(&delivered, &problems, &mut failures)?.message_ids;
    Ok(report(meta, false, org, regions, &problems, ids))
}

/// Organization accounts `Enabled` in `region` after the run: those enabled before, less
/// those the run found a problem with, plus those the run enabled.
fn enabled_after(p: &RegionPlan<'_>, ran: &Ran<'_>) -> usize {
    let mut enabled: HashSet<&str> = p.enabled.clone();
    for s in ran.slots.iter().filter(|s| s.region == p.region) {
        if s.reads_enabled() {
            enabled.insert(s.account_id().as_str());
        } else {
            enabled.remove(s.account_id().as_str());
        }
    }
    enabled.len()
}

fn region_summary(
    p: &RegionPlan<'_>,
    org_accounts: usize,
    problems: usize,
    enabled: usize,
) -> RegionSummary {
    RegionSummary {
        region: p.region.to_owned(),
        organization_accounts: org_accounts,
        members_by_status: p.members_by_status.clone(),
        outside_organization: p.outside_organization,
        problems,
        unprotected_accounts: org_accounts.saturating_sub(enabled),
        ..RegionSummary::default()
    }
}

fn report(
    meta: &EventMeta,
    dry_run: bool,
    org: &Organization,
    regions: Vec<RegionSummary>,
    problems: &[Problem],
    ids: Vec<String>,
) -> ReconcileReport {
    ReconcileReport {
        event_id: meta.id.clone(),
        dry_run,
        organization_accounts: org.targets.len() + org.problems.len(),
        regions,
        problems: problems.len(),
        problem_lines: if dry_run {
            problems.iter().map(Problem::one_line).collect()
        } else {
            Vec::new()
        },
        notification_message_ids: ids,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(id: &str, status: Option<&str>, state: Option<&str>) -> ListedAccount {
        ListedAccount {
            id: id.into(),
            email: Some(format!("a{id}@example.com")),
            name: Some(format!("n{id}")),
            status: status.map(str::to_owned),
            state: state.map(str::to_owned),
            joined_at: None,
        }
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
        let org = organization(&accounts, "123456789012");
        let ids: Vec<&str> = org.targets.iter().map(|t| t.account_id.as_str()).collect();
        assert_eq!(ids, ["111111111111", "222222222222"]);
        assert!(org.problems.is_empty());
    }

    #[test]
    fn an_active_account_that_cannot_be_a_member_is_a_problem_not_dropped() {
        let mut bad_email = listed("111111111111", Some("ACTIVE"), None);
        bad_email.email = Some("not-an-email".into());
        let mut no_email = listed("222222222222", Some("ACTIVE"), None);
        no_email.email = None;
        let bad_id = listed("42", Some("ACTIVE"), None);
        let org = organization(&[bad_email, no_email, bad_id], "123456789012");
        assert!(org.targets.is_empty());
        let ids: Vec<&str> = org.problems.iter().map(|p| p.account_id.as_str()).collect();
        assert_eq!(ids, ["111111111111", "222222222222", "42"]);
    }

    #[test]
    fn the_plan_sends_missing_and_gone_members_through_the_flow_and_reports_the_rest() {
        let accounts: Vec<ListedAccount> = [
            "100000000001",
            "100000000002",
            "100000000003",
            "100000000004",
            "100000000005",
            "100000000006",
        ]
        .iter()
        .map(|id| listed(id, Some("ACTIVE"), None))
        .collect();
        let org = organization(&accounts, "123456789012");
        let members = [
            member("100000000002", "Resigned", None),
            member("100000000003", "Invited", Some("2026-01-01T00:00:00Z")),
            member("100000000004", "Invited", Some("2026-11-25T00:00:00Z")),
            member("100000000005", "EmailVerificationFailed", None),
            member("100000000006", "Enabled", None),
            member("900000000009", "Enabled", None),
        ];
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_651_200); // 2026-11-26
        let plan = plan("us-east-1", &org.targets, &members, &config(&[]), now);
        let new: Vec<&str> = plan
            .slots
            .iter()
            .filter(|s| matches!(s.step, Step::ToCreate | Step::ToInvite))
            .map(|s| s.account_id().as_str())
            .collect();
        assert_eq!(new, ["100000000001", "100000000002"]);
        assert_eq!(
            plan.slots.len(),
            2,
            "nothing else needs the flow without a role or features"
        );
        let reported: Vec<&str> = plan
            .problems
            .iter()
            .map(|p| p.account_id.as_str())
            .collect();
        assert_eq!(
            reported,
            ["100000000003", "100000000005"],
            "the recent invitation is not stale"
        );
        assert_eq!(plan.outside_organization, 1);
        assert_eq!(plan.enabled.len(), 1);
        assert_eq!(plan.members_by_status["Invited"], 2);
    }

    #[test]
    fn with_a_role_invited_members_are_accepted_and_with_features_enabled_ones_are_checked() {
        let accounts = [
            listed("100000000003", Some("ACTIVE"), None),
            listed("100000000006", Some("ACTIVE"), None),
        ];
        let org = organization(&accounts, "123456789012");
        let members = [
            member("100000000003", "Invited", Some("2026-01-01T00:00:00Z")),
            member("100000000006", "Enabled", None),
        ];
        let config = config(&[
            ("MEMBER_ROLE_NAME", "OrganizationAccountAccessRole"),
            ("MEMBER_FEATURES", "S3_DATA_EVENTS"),
        ]);
        let plan = plan(
            "us-east-1",
            &org.targets,
            &members,
            &config,
            SystemTime::now(),
        );
        assert!(
            plan.problems.is_empty(),
            "no stale report when the function accepts"
        );
        let steps: Vec<(&str, bool, bool)> = plan
            .slots
            .iter()
            .map(|s| {
                (
                    s.account_id().as_str(),
                    matches!(s.step, Step::Done(Outcome::AlreadyInvited)),
                    matches!(s.step, Step::Done(Outcome::AlreadyEnabled)),
                )
            })
            .collect();
        assert_eq!(
            steps,
            [("100000000003", true, false), ("100000000006", false, true)]
        );
    }
}
