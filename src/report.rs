//! What an invocation reports: per-account, per-region outcomes, the problems that go to SNS,
//! and the JSON response (the same from Lambda and from `invoke`).

use serde::Serialize;

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

    pub fn one_line(&self) -> String {
        format!(
            "{} in {} ({}): {}",
            self.account_id,
            self.region.as_deref().unwrap_or("-"),
            self.operation,
            self.result.as_deref().unwrap_or(&self.reason)
        )
    }
}

/// What happened to one account in one region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Invited { email_sent: bool },
    AlreadyInvited { status: String },
    AlreadyEnabled,
    EnabledByOrganization,
    Problem(Problem),
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Invited { .. } => "invited",
            Self::AlreadyInvited { .. } => "already_invited",
            Self::AlreadyEnabled => "already_enabled",
            Self::EnabledByOrganization => "enabled_by_organization",
            Self::Problem(_) => "problem",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionReport {
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detector_id: Option<String>,
    pub outcome: &'static str,
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
            Outcome::AlreadyInvited { status } => (None, Some(status.clone()), None),
            Outcome::AlreadyEnabled | Outcome::EnabledByOrganization => {
                (None, Some("Enabled".to_owned()), None)
            }
            Outcome::Problem(p) => (
                None,
                p.relationship_status.clone(),
                Some(p.result.clone().unwrap_or_else(|| p.reason.clone())),
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

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub event_id: String,
    pub source: String,
    pub detail_type: String,
    pub event_kind: EventKind,
    /// `processed` or `skipped`.
    pub status: &'static str,
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
            status: "skipped",
            skip_reason: Some(reason.to_owned()),
            accounts: Vec::new(),
            problems: 0,
            notification_message_ids: Vec::new(),
        }
    }
}
