//! What an invocation reports: per-account, per-region outcomes, the problems that go to SNS,
//! and the JSON response (the same from Lambda and from `invoke`).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::account::AccountId;
use crate::event::{EventKind, EventMeta};

/// A permanent, per-account problem: published to SNS, never retried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    pub account_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detector_id: Option<String>,
    /// The AWS operation whose answer is the problem (GuardDuty's or Organizations').
    pub operation: String,
    /// AWS's own `result` text, verbatim, when AWS gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relationship_status: Option<String>,
    /// What it means and what a person should do.
    pub reason: String,
    /// A problem of the whole region (`account_id` is `*`): how many accounts it leaves
    /// unprotected there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affected_accounts: Option<usize>,
    /// The fix, when the finder knows it better than the operation tells (a check's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Problem {
    pub fn new(account_id: &str, operation: &str, reason: impl Into<String>) -> Self {
        Self {
            account_id: account_id.to_owned(),
            region: None,
            detector_id: None,
            operation: operation.to_owned(),
            result: None,
            relationship_status: None,
            reason: reason.into(),
            affected_accounts: None,
            fix: None,
        }
    }

    pub fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    pub fn in_region(mut self, region: &str, detector_id: Option<&str>) -> Self {
        self.region = Some(region.to_owned());
        self.detector_id = detector_id.map(str::to_owned);
        self
    }

    pub fn with_result(mut self, result: impl Into<String>) -> Self {
        self.result = Some(result.into());
        self
    }

    pub fn with_status(mut self, status: impl Into<String>) -> Self {
        self.relationship_status = Some(status.into());
        self
    }

    /// AWS's own answer when it gave one, else what the problem means.
    pub fn detail(&self) -> &str {
        self.result.as_deref().unwrap_or(&self.reason)
    }

    pub fn one_line(&self) -> String {
        let who = match self.affected_accounts {
            Some(n) => format!("{n} accounts"),
            None => self.account_id.clone(),
        };
        format!(
            "{} {} ({}): {}",
            who,
            self.region
                .as_deref()
                .map_or_else(|| "before any region".to_owned(), |r| format!("in {r}")),
            self.operation,
            self.detail()
        )
    }
}

/// The account id of a problem of a whole region.
pub const WHOLE_REGION: &str = "*";

/// Operations whose failure is a condition of the region, not of an account: the
/// administrator has no detector there.
const REGION_LEVEL: &[&str] = &["ListDetectors"];

/// Says each region-level problem once: the per-account problems of one region that share
/// a region-level cause (no detector there), or that GuardDuty gave with the same answer to
/// every account the run tried in the region (`tried`: accounts per region and operation),
/// become one problem with the number of accounts it leaves unprotected.
pub fn fold_region_problems(
    problems: Vec<Problem>,
    tried: &HashMap<(String, String), usize>,
) -> Vec<Problem> {
    let mut groups: BTreeMap<(String, String, String), Vec<Problem>> = BTreeMap::new();
    let mut out = Vec::new();
    for p in problems {
        match &p.region {
            Some(region) if p.affected_accounts.is_none() => groups
                .entry((region.clone(), p.operation.clone(), p.detail().to_owned()))
                .or_default()
                .push(p),
            _ => out.push(p),
        }
    }
    for ((region, operation, _), group) in groups {
        let everyone = tried
            .get(&(region.clone(), operation.clone()))
            .is_some_and(|n| *n == group.len());
        let fold = group.len() > 1 && (REGION_LEVEL.contains(&operation.as_str()) || everyone);
        let Some(first) = group.first().filter(|_| fold) else {
            out.extend(group);
            continue;
        };
        out.push(Problem {
            account_id: WHOLE_REGION.into(),
            reason: format!(
                "{} (every one of the {} accounts in {region} has this problem, so it is said once)",
                first.reason,
                group.len()
            ),
            affected_accounts: Some(group.len()),
            relationship_status: None,
            ..first.clone()
        });
    }
    out
}

/// A member that left this administrator, or whose wanted plans were turned off: found by
/// a reconcile and reported even when the run repaired it, because someone in that account
/// (or with its credentials) took protection away.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    pub account_id: String,
    pub region: String,
    pub kind: DriftKind,
    /// What was found, e.g. "relationship status Resigned" or "plans off: S3_DATA_EVENTS".
    pub found: String,
    /// What the run did about it, e.g. "re-invited" or "plans re-enabled".
    pub action: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// `Resigned`, `Removed` or `Disabled`: the member left (or was taken from) the
    /// administrator, a classic step to evade detection.
    LeftAdministrator,
    /// A wanted plan or agent setting was found off.
    PlansOff,
    /// The account's plan (its OU's, or a rule's) turns a plan off, and the run did: less
    /// protection, by policy, which the security team must hear of too.
    PlansTurnedOff,
}

impl Drift {
    pub fn one_line(&self) -> String {
        format!(
            "{} in {}: {}; {}",
            self.account_id, self.region, self.found, self.action
        )
    }
}

/// What happened to one account in one region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Invited {
        email_sent: bool,
    },
    /// The invitation was already out.
    AlreadyInvited,
    /// GuardDuty is still verifying the member's email (EmailVerificationInProgress) and has
    /// not delivered the invitation yet: nothing to accept before it does; a later run
    /// accepts it. Not a problem.
    InvitationPending,
    /// Accepted in the member account, with the member role. `email_sent` is set when this
    /// run also sent the invitation. Whether GuardDuty shows it `Enabled` is the slot's
    /// status, read after the acceptance.
    Accepted {
        email_sent: Option<bool>,
    },
    /// Invited, but its member role cannot be assumed yet and the account joined the
    /// organization within the grace: a retry is scheduled. Not a problem, not a failure.
    /// `email_sent` as for `Accepted`.
    RolePending {
        email_sent: Option<bool>,
    },
    AlreadyEnabled,
    EnabledByOrganization,
    /// An opt-in region the account has not enabled: GuardDuty cannot run there for it, so
    /// it is skipped; not a problem, and not counted in the coverage.
    RegionNotEnabled,
    /// An opt-in region the account is still enabling (`ENABLING`): not usable until that
    /// ends, so skipped like one not enabled, and counted apart.
    RegionEnabling,
    /// Excepted by the protection policy: left alone, not a problem, not counted.
    Excepted,
    /// Boxed: a problem is rare, and every slot and start of a reconcile holds a `Step`.
    Problem(Box<Problem>),
}

/// The region outcome as the response and the logs name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OutcomeLabel {
    Invited,
    AlreadyInvited,
    InvitationPending,
    Accepted,
    RolePending,
    AlreadyEnabled,
    EnabledByOrganization,
    RegionNotEnabled,
    RegionEnabling,
    Excepted,
    Problem,
}

impl OutcomeLabel {
    /// The name the response and the logs use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invited => "invited",
            Self::AlreadyInvited => "already_invited",
            Self::InvitationPending => "invitation_pending",
            Self::Accepted => "accepted",
            Self::RolePending => "role_pending",
            Self::AlreadyEnabled => "already_enabled",
            Self::EnabledByOrganization => "enabled_by_organization",
            Self::RegionNotEnabled => "region_not_enabled",
            Self::RegionEnabling => "region_enabling",
            Self::Excepted => "excepted",
            Self::Problem => "problem",
        }
    }
}

impl Serialize for OutcomeLabel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Outcome {
    pub fn label(&self) -> OutcomeLabel {
        match self {
            Self::Invited { .. } => OutcomeLabel::Invited,
            Self::AlreadyInvited => OutcomeLabel::AlreadyInvited,
            Self::InvitationPending => OutcomeLabel::InvitationPending,
            Self::Accepted { .. } => OutcomeLabel::Accepted,
            Self::RolePending { .. } => OutcomeLabel::RolePending,
            Self::AlreadyEnabled => OutcomeLabel::AlreadyEnabled,
            Self::EnabledByOrganization => OutcomeLabel::EnabledByOrganization,
            Self::RegionNotEnabled => OutcomeLabel::RegionNotEnabled,
            Self::RegionEnabling => OutcomeLabel::RegionEnabling,
            Self::Excepted => OutcomeLabel::Excepted,
            Self::Problem(_) => OutcomeLabel::Problem,
        }
    }

    /// Whether this run sent the account's invitation (an acceptance or a pending role may
    /// follow one sent in the same run).
    pub fn invitation_sent(&self) -> bool {
        matches!(
            self,
            Self::Invited { .. }
                | Self::Accepted {
                    email_sent: Some(_)
                }
                | Self::RolePending {
                    email_sent: Some(_)
                }
        )
    }
}

/// What a run came to in one region: how many of its accounts ended in each outcome (by
/// whether this run sent the invitation), how many the deadline left, and what only a
/// reconcile knows. What happened, not a metric: the publishing side counts it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RegionOutcomes {
    pub ended: BTreeMap<(OutcomeLabel, bool), u64>,
    /// Not reached before the run's deadline.
    pub not_reached: u64,
    pub coverage: Option<RegionCoverage>,
}

/// A region's coverage after a reconcile, as GuardDuty returned it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RegionCoverage {
    /// Organization account-regions not protected.
    pub unprotected: u64,
    pub protected: u64,
    pub percent: f64,
    pub drift: u64,
}

impl RegionOutcomes {
    pub fn add(&mut self, outcome: &Outcome) {
        *self
            .ended
            .entry((outcome.label(), outcome.invitation_sent()))
            .or_default() += 1;
    }

    /// Adds another region's outcomes to these (the coverage is a whole run's, not added).
    pub fn merge(&mut self, other: &RegionOutcomes) {
        for (key, n) in &other.ended {
            *self.ended.entry(*key).or_default() += n;
        }
        self.not_reached += other.not_reached;
    }

    /// How many accounts ended in `label`.
    pub fn count(&self, label: OutcomeLabel) -> u64 {
        self.ended
            .iter()
            .filter(|((l, _), _)| *l == label)
            .map(|(_, n)| n)
            .sum()
    }

    /// How many invitations this run sent.
    pub fn invitations_sent(&self) -> u64 {
        self.ended
            .iter()
            .filter(|((_, sent), _)| *sent)
            .map(|(_, n)| n)
            .sum()
    }
}

/// What GuardDuty returned for a member in one region, beside what the run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// The relationship status GuardDuty last returned; `None` when none was read.
    pub status: Option<String>,
    pub detector_resumed: bool,
    /// Each wanted plan and agent setting as GetMemberDetectors returned it; `None` when no
    /// plan is wanted or none was read.
    pub plans: Option<BTreeMap<String, String>>,
    /// `Enabled`, and every wanted plan and agent setting `ENABLED`, as GuardDuty returned them.
    pub protected: bool,
    /// A problem with the plans, beside the outcome.
    pub plans_problem: Option<String>,
    /// The policy's exception that leaves the account alone.
    pub exception: Option<std::sync::Arc<crate::policy::Exception>>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionReport {
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detector_id: Option<String>,
    pub outcome: OutcomeLabel,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_sent: Option<bool>,
    /// What GuardDuty last returned, never a value the code assumed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relationship_status: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub detector_resumed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plans: Option<BTreeMap<String, String>>,
    pub protected: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plans_problem: Option<String>,
    /// Excepted by the protection policy: owner, reason, until.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<std::sync::Arc<crate::policy::Exception>>,
}

impl RegionReport {
    pub fn new(region: &str, detector_id: Option<&str>, outcome: &Outcome, seen: Observed) -> Self {
        let (email_sent, problem) = match outcome {
            Outcome::Invited { email_sent } => (Some(*email_sent), None),
            Outcome::Accepted { email_sent } | Outcome::RolePending { email_sent } => {
                (*email_sent, None)
            }
            Outcome::Problem(p) => (None, Some(p.detail().to_owned())),
            _ => (None, None),
        };
        let problem_status = match outcome {
            Outcome::Problem(p) => p.relationship_status.clone(),
            _ => None,
        };
        Self {
            region: region.to_owned(),
            detector_id: detector_id.map(str::to_owned),
            outcome: outcome.label(),
            email_sent,
            relationship_status: seen.status.or(problem_status),
            detector_resumed: seen.detector_resumed,
            plans: seen.plans,
            protected: seen.protected,
            problem,
            plans_problem: seen.plans_problem,
            exception: seen.exception,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountReport {
    pub account_id: String,
    /// A problem before any region was tried (no email to be found).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    pub regions: Vec<RegionReport>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Processed,
    Skipped,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub event_id: String,
    pub source: String,
    pub detail_type: String,
    pub event_kind: EventKind,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
    pub accounts: Vec<AccountReport>,
    pub problems: usize,
    /// SNS message ids of the notification, when there were problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notification_message_ids: Vec<String>,
}

impl Response {
    pub fn skipped(meta: &EventMeta, kind: EventKind, reason: &str) -> Self {
        Self {
            event_id: meta.id.clone(),
            source: meta.source.clone(),
            detail_type: meta.detail_type.clone(),
            event_kind: kind,
            status: Status::Skipped,
            skip_reason: Some(reason.to_owned()),
            accounts: Vec::new(),
            problems: 0,
            notification_message_ids: Vec::new(),
        }
    }
}

/// What a processed event reports: the slots the flow finished, by account and region.
pub struct Processed<'s> {
    pub meta: &'s EventMeta,
    pub kind: EventKind,
    /// The accounts of the request, in its order.
    pub accounts: &'s [AccountId],
    pub regions: &'s [String],
    /// The report of every slot that reached an outcome, by account.
    pub outcomes: Vec<(&'s AccountId, RegionReport)>,
    pub problems: &'s [Problem],
    pub message_ids: Vec<String>,
}

impl Response {
    pub fn processed(p: Processed<'_>) -> Self {
        // Problems before any region (no email to be found), by account.
        let account_problem = |id: &AccountId| {
            p.problems
                .iter()
                .find(|pr| pr.region.is_none() && pr.account_id == id.as_str())
                .map(|pr| pr.reason.clone())
        };
        let by_slot: HashMap<(&AccountId, &str), &RegionReport> = p
            .outcomes
            .iter()
            .map(|(a, r)| ((*a, r.region.as_str()), r))
            .collect();
        let accounts = p
            .accounts
            .iter()
            .map(|id| AccountReport {
                account_id: id.to_string(),
                problem: account_problem(id),
                regions: p
                    .regions
                    .iter()
                    .filter_map(|r| by_slot.get(&(id, r.as_str())).map(|r| (*r).clone()))
                    .collect(),
            })
            .collect();
        Self {
            event_id: p.meta.id.clone(),
            source: p.meta.source.clone(),
            detail_type: p.meta.detail_type.clone(),
            event_kind: p.kind,
            status: Status::Processed,
            skip_reason: None,
            accounts,
            problems: p.problems.len(),
            notification_message_ids: p.message_ids,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn problem() -> Problem {
        Problem::new(
            "444455556666",
            "CreateMembers",
            "belongs to another administrator",
        )
        .in_region("eu-west-1", Some("det-1"))
        .with_result("already an associated member of another master account")
    }

    fn report(region: &str, detector: Option<&str>, outcome: &Outcome) -> RegionReport {
        RegionReport::new(region, detector, outcome, Observed::default())
    }

    fn region_json(outcome: &Outcome) -> Value {
        serde_json::to_value(RegionReport::new(
            "eu-west-1",
            Some("det-1"),
            outcome,
            Observed::default(),
        ))
        .unwrap()
    }

    #[test]
    fn each_outcome_is_reported_under_the_name_the_response_documents() {
        let cases = [
            (Outcome::Invited { email_sent: true }, "invited"),
            (Outcome::AlreadyInvited, "already_invited"),
            (Outcome::Accepted { email_sent: None }, "accepted"),
            (Outcome::AlreadyEnabled, "already_enabled"),
            (Outcome::EnabledByOrganization, "enabled_by_organization"),
            (Outcome::Problem(Box::new(problem())), "problem"),
        ];
        for (outcome, name) in cases {
            assert_eq!(region_json(&outcome)["outcome"], name, "{outcome:?}");
            assert_eq!(outcome.label().as_str(), name);
        }
    }

    #[test]
    fn a_region_report_carries_what_each_outcome_has_to_say() {
        assert_eq!(
            region_json(&Outcome::Invited { email_sent: false }),
            json!({"region": "eu-west-1", "detectorId": "det-1", "outcome": "invited", "emailSent": false, "protected": false})
        );
        let p = region_json(&Outcome::Problem(Box::new(
            problem().with_status("Disabled"),
        )));
        assert_eq!(
            p["problem"],
            "already an associated member of another master account"
        );
        assert_eq!(p["relationshipStatus"], "Disabled");
        assert!(p.get("emailSent").is_none());
    }

    #[test]
    fn the_status_reported_is_the_one_guardduty_returned_never_assumed() {
        for outcome in [
            Outcome::Accepted { email_sent: None },
            Outcome::AlreadyEnabled,
            Outcome::EnabledByOrganization,
            Outcome::AlreadyInvited,
        ] {
            assert!(
                region_json(&outcome).get("relationshipStatus").is_none(),
                "{outcome:?}: no status read, none reported"
            );
        }
        let seen = Observed {
            status: Some("Invited".into()),
            detector_resumed: true,
            plans: Some(BTreeMap::from([(
                "S3_DATA_EVENTS".into(),
                "DISABLED".into(),
            )])),
            protected: false,
            plans_problem: Some("refused".into()),
            exception: None,
        };
        let r = serde_json::to_value(RegionReport::new(
            "eu-west-1",
            None,
            &Outcome::Accepted { email_sent: None },
            seen,
        ))
        .unwrap();
        assert_eq!(r["outcome"], "accepted");
        assert_eq!(r["relationshipStatus"], "Invited");
        assert_eq!(r["detectorResumed"], true);
        assert_eq!(r["plans"]["S3_DATA_EVENTS"], "DISABLED");
        assert_eq!(r["protected"], false);
        assert_eq!(r["plansProblem"], "refused");
    }

    #[test]
    fn a_problem_in_one_line_names_account_region_operation_and_aws_answer() {
        assert_eq!(
            problem().one_line(),
            "444455556666 in eu-west-1 (CreateMembers): already an associated member of another master account"
        );
        let no_region = Problem::new("111122223333", "DescribeAccount", "not in the organization");
        assert_eq!(
            no_region.one_line(),
            "111122223333 before any region (DescribeAccount): not in the organization"
        );
        assert_eq!(no_region.detail(), "not in the organization");
    }

    #[test]
    fn a_processed_response_lists_the_requests_accounts_in_order_with_their_regions() {
        let meta = EventMeta {
            id: "evt-1".into(),
            source: "tests".into(),
            detail_type: "GuardDuty Invite Request".into(),
        };
        let ids = [
            AccountId::parse("444455556666").unwrap(),
            AccountId::parse("111122223333").unwrap(),
            AccountId::parse("999988887777").unwrap(),
        ];
        let regions = ["us-east-1".to_owned(), "eu-west-1".to_owned()];
        let invited = Outcome::Invited { email_sent: true };
        let other = Outcome::Problem(Box::new(problem()));
        let no_email = Problem::new(
            "999988887777",
            "DescribeAccount",
            "unknown to Organizations",
        );
        let problems = [problem(), no_email];
        let response = Response::processed(Processed {
            meta: &meta,
            kind: EventKind::ManualRequest,
            accounts: &ids,
            regions: &regions,
            outcomes: vec![
                (&ids[1], report("eu-west-1", Some("d-eu"), &invited)),
                (&ids[0], report("eu-west-1", Some("det-1"), &other)),
                (&ids[1], report("us-east-1", Some("d-us"), &invited)),
            ],
            problems: &problems,
            message_ids: vec!["m-1".into()],
        });
        let v = serde_json::to_value(&response).unwrap();
        assert_eq!(v["status"], "processed");
        assert_eq!(v["eventId"], "evt-1");
        assert_eq!(v["eventKind"], "ManualRequest");
        assert_eq!(v["problems"], 2);
        assert_eq!(v["notificationMessageIds"], json!(["m-1"]));
        let accounts = v["accounts"].as_array().unwrap();
        let order: Vec<&str> = accounts
            .iter()
            .map(|a| a["accountId"].as_str().unwrap())
            .collect();
        assert_eq!(order, ["444455556666", "111122223333", "999988887777"]);
        let regions_of = |i: usize| -> Vec<(String, String)> {
            accounts[i]["regions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["region"].as_str().unwrap().into(),
                        r["outcome"].as_str().unwrap().into(),
                    )
                })
                .collect()
        };
        assert_eq!(regions_of(0), [("eu-west-1".into(), "problem".into())]);
        assert_eq!(
            regions_of(1),
            [
                ("us-east-1".into(), "invited".into()),
                ("eu-west-1".into(), "invited".into())
            ],
            "in the configured regions' order"
        );
        assert!(
            accounts[0].get("problem").is_none(),
            "its problem is per region"
        );
        assert_eq!(accounts[2]["problem"], "unknown to Organizations");
        assert_eq!(accounts[2]["regions"], json!([]));
    }

    #[test]
    fn a_skipped_response_says_why_and_lists_no_account() {
        let meta = EventMeta {
            id: "evt-2".into(),
            source: "aws.organizations".into(),
            detail_type: "AWS Service Event via CloudTrail".into(),
        };
        let v = serde_json::to_value(Response::skipped(
            &meta,
            EventKind::CreateAccountResult,
            "state is FAILED",
        ))
        .unwrap();
        assert_eq!(v["status"], "skipped");
        assert_eq!(v["skipReason"], "state is FAILED");
        assert_eq!(v["source"], "aws.organizations");
        assert_eq!(v["detailType"], "AWS Service Event via CloudTrail");
        assert_eq!(v["accounts"], json!([]));
        assert_eq!(v["problems"], 0);
        assert!(v.get("notificationMessageIds").is_none());
    }
}
