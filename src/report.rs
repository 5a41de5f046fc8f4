//! What an invocation reports: per-account, per-region outcomes, the problems that go to SNS,
//! and the JSON response (the same from Lambda and from `invoke`).

use std::collections::HashMap;

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
        }
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
        format!(
            "{} {} ({}): {}",
            self.account_id,
            self.region
                .as_deref()
                .map_or_else(|| "before any region".to_owned(), |r| format!("in {r}")),
            self.operation,
            self.detail()
        )
    }
}

/// What happened to one account in one region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Invited {
        email_sent: bool,
    },
    /// The invitation was already out; `status` as GetMembers showed it, `None` when
    /// InviteMembers answered "already invited" without one.
    AlreadyInvited {
        status: Option<String>,
    },
    /// Accepted in the member account, with the member role: now `Enabled`. `email_sent` is
    /// set when this run also sent the invitation.
    Accepted {
        email_sent: Option<bool>,
    },
    AlreadyEnabled,
    EnabledByOrganization,
    Problem(Problem),
}

impl Outcome {
    /// The member reports to this administrator: GuardDuty watches it.
    pub fn is_enabled(&self) -> bool {
        matches!(
            self,
            Self::Accepted { .. } | Self::AlreadyEnabled | Self::EnabledByOrganization
        )
    }
}

/// The region outcome as the response and the logs name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeLabel {
    Invited,
    AlreadyInvited,
    Accepted,
    AlreadyEnabled,
    EnabledByOrganization,
    Problem,
}

impl OutcomeLabel {
    /// The name the response and the logs use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invited => "invited",
            Self::AlreadyInvited => "already_invited",
            Self::Accepted => "accepted",
            Self::AlreadyEnabled => "already_enabled",
            Self::EnabledByOrganization => "enabled_by_organization",
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
            Self::AlreadyInvited { .. } => OutcomeLabel::AlreadyInvited,
            Self::Accepted { .. } => OutcomeLabel::Accepted,
            Self::AlreadyEnabled => OutcomeLabel::AlreadyEnabled,
            Self::EnabledByOrganization => OutcomeLabel::EnabledByOrganization,
            Self::Problem(_) => OutcomeLabel::Problem,
        }
    }
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relationship_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl RegionReport {
    pub fn new(region: &str, detector_id: Option<&str>, outcome: &Outcome) -> Self {
        let (email_sent, relationship_status, problem) = match outcome {
            Outcome::Invited { email_sent } => (Some(*email_sent), None, None),
            Outcome::AlreadyInvited { status } => (None, status.clone(), None),
            Outcome::Accepted { email_sent } => (*email_sent, Some("Enabled".to_owned()), None),
            Outcome::AlreadyEnabled | Outcome::EnabledByOrganization => {
                (None, Some("Enabled".to_owned()), None)
            }
            Outcome::Problem(p) => (
                None,
                p.relationship_status.clone(),
                Some(p.detail().to_owned()),
            ),
        };
        Self {
            region: region.to_owned(),
            detector_id: detector_id.map(str::to_owned),
            outcome: outcome.label(),
            email_sent,
            relationship_status,
            problem,
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
    /// (account, region, detector, outcome) of every slot that reached an outcome.
    pub outcomes: Vec<(&'s AccountId, &'s str, Option<&'s str>, &'s Outcome)>,
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
        let by_slot: HashMap<(&AccountId, &str), (Option<&str>, &Outcome)> = p
            .outcomes
            .iter()
            .map(|(a, region, det, o)| ((*a, *region), (*det, *o)))
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
                    .filter_map(|r| {
                        by_slot
                            .get(&(id, r.as_str()))
                            .map(|(det, o)| RegionReport::new(r, *det, o))
                    })
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

    fn region_json(outcome: &Outcome) -> Value {
        serde_json::to_value(RegionReport::new("eu-west-1", Some("det-1"), outcome)).unwrap()
    }

    #[test]
    fn each_outcome_is_reported_under_the_name_the_response_documents() {
        let cases = [
            (Outcome::Invited { email_sent: true }, "invited"),
            (
                Outcome::AlreadyInvited {
                    status: Some("Invited".into()),
                },
                "already_invited",
            ),
            (Outcome::Accepted { email_sent: None }, "accepted"),
            (Outcome::AlreadyEnabled, "already_enabled"),
            (Outcome::EnabledByOrganization, "enabled_by_organization"),
            (Outcome::Problem(problem()), "problem"),
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
            json!({"region": "eu-west-1", "detectorId": "det-1", "outcome": "invited", "emailSent": false})
        );
        assert_eq!(
            region_json(&Outcome::AlreadyInvited {
                status: Some("EmailVerificationInProgress".into())
            })["relationshipStatus"],
            "EmailVerificationInProgress"
        );
        for enabled in [
            Outcome::Accepted { email_sent: None },
            Outcome::AlreadyEnabled,
            Outcome::EnabledByOrganization,
        ] {
            assert_eq!(region_json(&enabled)["relationshipStatus"], "Enabled");
        }
        let p = region_json(&Outcome::Problem(problem().with_status("Disabled")));
        assert_eq!(
            p["problem"],
            "already an associated member of another master account"
        );
        assert_eq!(p["relationshipStatus"], "Disabled");
        assert!(p.get("emailSent").is_none());
    }

    #[test]
    fn only_members_reporting_to_the_administrator_count_as_enabled() {
        assert!(Outcome::Accepted { email_sent: None }.is_enabled());
        assert!(Outcome::AlreadyEnabled.is_enabled());
        assert!(Outcome::EnabledByOrganization.is_enabled());
        assert!(!Outcome::Invited { email_sent: true }.is_enabled());
        assert!(!Outcome::AlreadyInvited { status: None }.is_enabled());
        assert!(!Outcome::Problem(problem()).is_enabled());
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
        let other = Outcome::Problem(problem());
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
                (&ids[1], "eu-west-1", Some("d-eu"), &invited),
                (&ids[0], "eu-west-1", Some("det-1"), &other),
                (&ids[1], "us-east-1", Some("d-us"), &invited),
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
