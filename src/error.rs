//! Errors of an invocation, each mapped to a stable Lambda error type.

use std::collections::BTreeMap;
use std::fmt;

use lambda_runtime::Diagnostic;

use crate::account::{cap_chars, mask_emails_in};
use crate::event::EventError;

/// Lambda truncates long error messages anyway; this keeps them whole and readable.
const ERROR_MESSAGE_MAX_CHARS: usize = 16_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    GuardDuty,
    Organizations,
    Sns,
    Sts,
    SecurityHub,
    S3,
    Ssm,
    Account,
    Scheduler,
}

impl Service {
    /// The service's prefix in IAM actions (`guardduty:CreateMembers`), which also names it in
    /// `API_RATE_LIMITS`.
    pub fn iam_prefix(self) -> &'static str {
        match self {
            Self::GuardDuty => "guardduty",
            Self::Organizations => "organizations",
            Self::Sns => "sns",
            Self::Sts => "sts",
            Self::SecurityHub => "securityhub",
            Self::S3 => "s3",
            Self::Ssm => "ssm",
            Self::Account => "account",
            Self::Scheduler => "scheduler",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::GuardDuty => "GuardDuty",
            Self::Organizations => "Organizations",
            Self::Sns => "SNS",
            Self::Sts => "STS",
            Self::SecurityHub => "SecurityHub",
            Self::S3 => "S3",
            Self::Ssm => "SSM",
            Self::Account => "Account",
            Self::Scheduler => "Scheduler",
        })
    }
}

/// Why an AWS call failed, as far as the caller can act on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// Throttling, 5xx, timeouts, connection failures, after the SDK's bounded retries.
    Transient,
    /// The function's role lacks a permission: fix the deployment.
    AccessDenied,
    /// The service rejected the request (4xx): retrying the same request will not help.
    Rejected,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Transient => "Transient",
            Self::AccessDenied => "AccessDenied",
            Self::Rejected => "Rejected",
        })
    }
}

/// A failed AWS call: which service and operation, where, and what AWS said (its error
/// code and message) or, when no answer came, the cause in words. One line; the kind is in
/// the Lambda error type, not here.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{service} {operation}{} failed: {}{message}", region.as_ref().map(|r| format!(" in {r}")).unwrap_or_default(), code.as_ref().map(|c| format!("{c}: ")).unwrap_or_default())]
pub struct AwsError {
    pub service: Service,
    pub operation: &'static str,
    pub region: Option<String>,
    pub kind: FailureKind,
    pub code: Option<String>,
    pub message: String,
}

impl AwsError {
    /// The stable Lambda error type: `<Service>.<Operation>.<Kind>`.
    pub fn error_type(&self) -> String {
        format!("{}.{}.{}", self.service, self.operation, self.kind)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Its type, `InvalidEvent`, already says what it is: the message is what is wrong.
    #[error("{0}")]
    InvalidEvent(#[from] EventError),

    /// Some work could not be done; the event must be retried. The problems found on the
    /// way were published before failing (as far as SNS took them): this says how many and
    /// where, never the problems themselves, which a capped message could cut.
    #[error("{}", incomplete_message(failures, published))]
    Incomplete {
        failures: Vec<AwsError>,
        published: Published,
    },

    #[error("the invocation's time budget of {budget_ms} ms ran out before {stage} finished; the event must be retried")]
    Timeout { budget_ms: u64, stage: &'static str },

    /// The run stopped starting work at its cut-off (the deadline less the time kept to
    /// publish) and published what it found: the event must be retried for the accounts it
    /// did not reach (by region), and for the failures beside them.
    #[error("{}", deadline_message(not_reached, failures, published))]
    DeadlineReached {
        not_reached: BTreeMap<String, u64>,
        failures: Vec<AwsError>,
        published: Published,
    },

    /// The protection policy cannot be used: fix the parameter (a retry reads it again).
    #[error("the protection policy in {parameter} is invalid: {error}")]
    InvalidPolicy {
        parameter: String,
        error: crate::policy::PolicyError,
    },

    /// The protection policy's parameter cannot be read (missing, denied, a key the role
    /// cannot use): fix the deployment.
    #[error("the protection policy in {parameter} cannot be read: {reason} ({error})")]
    PolicyUnreadable {
        parameter: String,
        reason: &'static str,
        // Boxed: this rare variant would otherwise make every handler result larger.
        error: Box<AwsError>,
    },
}

/// What a failed run published before failing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// Problems on the SNS topic.
    pub problems: usize,
    pub message_ids: Vec<String>,
    /// Problems found but not on the topic (SNS failed): each is in the log, and the retry
    /// publishes it.
    pub unpublished: usize,
    /// Where a failed reconcile wrote its partial coverage report (S3).
    pub partial_coverage_report: Option<String>,
}

impl Published {
    /// Nothing found, nothing published: a run that failed before finding anything.
    pub fn nothing() -> Self {
        Self::default()
    }
}

fn incomplete_message(failures: &[AwsError], published: &Published) -> String {
    let mut msg = failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if published.problems > 0 {
        msg.push_str(&format!(
            " | {} problem(s) found so far were published in SNS message(s) {}",
            published.problems,
            published.message_ids.join(", ")
        ));
    }
    if published.unpublished > 0 {
        msg.push_str(&format!(
            " | {} problem(s) could not be published (each is in the log; the retry publishes them)",
            published.unpublished
        ));
    }
    if let Some(at) = &published.partial_coverage_report {
        msg.push_str(&format!(
            " | a partial coverage report (only the batches that finished) was written to {at}; \
             the day's complete report, if any, is not replaced"
        ));
    }
    msg
}

/// "the deadline came before 3 account-region(s) were reached (2 in eu-west-1, 1 in
/// us-west-2) ... | N problem(s) ... published ...".
fn deadline_message(
    not_reached: &BTreeMap<String, u64>,
    failures: &[AwsError],
    published: &Published,
) -> String {
    let total: u64 = not_reached.values().sum();
    let regions = not_reached
        .iter()
        .map(|(r, n)| format!("{n} in {r}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut msg = format!(
        "the deadline came before {total} account-region(s) were reached ({regions}): the run \
         stopped there and published what it had found; the event must be retried"
    );
    if published.problems == 0 && published.unpublished == 0 {
        msg.push_str(" | no problem found before the deadline");
    }
    let rest = incomplete_message(failures, published);
    if !rest.is_empty() {
        msg.push_str(" | ");
        msg.push_str(rest.trim_start_matches(" | "));
    }
    msg
}

impl HandlerError {
    pub fn error_type(&self) -> String {
        match self {
            Self::InvalidEvent(_) => "InvalidEvent".into(),
            Self::Incomplete { failures, .. } => failures
                .first()
                .map(AwsError::error_type)
                .unwrap_or_else(|| "Incomplete".into()),
            Self::Timeout { .. } => "Timeout".into(),
            Self::DeadlineReached { .. } => "DeadlineReached".into(),
            Self::InvalidPolicy { .. } => "InvalidPolicy".into(),
            Self::PolicyUnreadable { .. } => "PolicyUnreadable".into(),
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Self {
        Diagnostic {
            error_type: error.error_type(),
            error_message: cap_chars(&mask_emails_in(&error.to_string()), ERROR_MESSAGE_MAX_CHARS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttled_invite() -> AwsError {
        AwsError {
            service: Service::GuardDuty,
            operation: "InviteMembers",
            region: Some("eu-west-1".into()),
            kind: FailureKind::Transient,
            code: Some("ThrottlingException".into()),
            message: "Rate exceeded".into(),
        }
    }

    #[test]
    fn lambda_error_type_names_service_operation_and_kind() {
        let d: Diagnostic = HandlerError::Incomplete {
            failures: vec![throttled_invite()],
            published: Published::nothing(),
        }
        .into();
        assert_eq!(d.error_type, "GuardDuty.InviteMembers.Transient");
        assert_eq!(
            throttled_invite().to_string(),
            "GuardDuty InviteMembers in eu-west-1 failed: ThrottlingException: Rate exceeded"
        );
        assert!(
            d.error_message.contains("in eu-west-1")
                && d.error_message.contains("ThrottlingException"),
            "{}",
            d.error_message
        );
    }

    #[test]
    fn every_service_and_kind_is_named_in_the_error_type_and_message() {
        let cases = [
            (
                Service::GuardDuty,
                FailureKind::Transient,
                "GuardDuty.X.Transient",
            ),
            (
                Service::Organizations,
                FailureKind::AccessDenied,
                "Organizations.X.AccessDenied",
            ),
            (Service::Sns, FailureKind::Rejected, "SNS.X.Rejected"),
            (Service::Sts, FailureKind::Transient, "STS.X.Transient"),
        ];
        for (service, kind, expected) in cases {
            let e = AwsError {
                service,
                operation: "X",
                region: None,
                kind,
                code: None,
                message: "said".into(),
            };
            assert_eq!(e.error_type(), expected);
            let service_name = expected.split('.').next().unwrap();
            assert_eq!(e.to_string(), format!("{service_name} X failed: said"));
        }
    }

    #[test]
    fn a_timeout_and_an_incomplete_run_without_failures_have_their_own_types() {
        let t = HandlerError::Timeout {
            budget_ms: 58_500,
            stage: "the invitations",
        };
        assert_eq!(t.error_type(), "Timeout");
        assert!(t.to_string().contains("58500 ms"), "{t}");
        let empty = HandlerError::Incomplete {
            failures: vec![],
            published: Published::nothing(),
        };
        assert_eq!(empty.error_type(), "Incomplete");
    }

    #[test]
    fn a_run_cut_by_the_deadline_names_the_regions_and_accounts_not_reached_and_what_it_published()
    {
        let d: Diagnostic = HandlerError::DeadlineReached {
            not_reached: [("eu-west-1".to_owned(), 2), ("us-west-2".to_owned(), 1)].into(),
            failures: vec![],
            published: Published {
                problems: 4,
                message_ids: vec!["m-1".into()],
                unpublished: 0,
                partial_coverage_report: Some("coverage/2026-12-05.partial.csv".into()),
            },
        }
        .into();
        assert_eq!(d.error_type, "DeadlineReached");
        assert!(
            d.error_message.starts_with(
                "the deadline came before 3 account-region(s) were reached (2 in eu-west-1, 1 in us-west-2)"
            ),
            "{}",
            d.error_message
        );
        assert!(
            d.error_message
                .contains("| 4 problem(s) found so far were published in SNS message(s) m-1"),
            "{}",
            d.error_message
        );
        assert!(
            d.error_message
                .contains("partial coverage report (only the batches that finished) was written to coverage/2026-12-05.partial.csv"),
            "{}",
            d.error_message
        );
        let nothing = HandlerError::DeadlineReached {
            not_reached: [("eu-west-1".to_owned(), 1)].into(),
            failures: vec![throttled_invite()],
            published: Published::nothing(),
        }
        .to_string();
        assert!(
            nothing.contains("| no problem found before the deadline | GuardDuty InviteMembers"),
            "{nothing}"
        );
    }

    #[test]
    fn a_long_error_message_is_capped_for_lambda() {
        let failures: Vec<AwsError> = (0..2_000)
            .map(|i| AwsError {
                message: format!("{i} {}", "x".repeat(100)),
                ..throttled_invite()
            })
            .collect();
        let d: Diagnostic = HandlerError::Incomplete {
            failures,
            published: Published::nothing(),
        }
        .into();
        assert_eq!(d.error_message.chars().count(), ERROR_MESSAGE_MAX_CHARS);
    }

    #[test]
    fn invalid_event_has_its_own_type() {
        let d: Diagnostic =
            HandlerError::InvalidEvent(EventError::Missing("detail.accounts".into())).into();
        assert_eq!(d.error_type, "InvalidEvent");
        assert_eq!(d.error_message, "missing field detail.accounts");
    }

    #[test]
    fn a_failed_run_says_how_many_problems_it_published_and_where_not_which() {
        let d: Diagnostic = HandlerError::Incomplete {
            failures: vec![throttled_invite()],
            published: Published {
                problems: 120,
                message_ids: vec!["m-1".into(), "m-2".into()],
                unpublished: 3,
                partial_coverage_report: None,
            },
        }
        .into();
        assert!(
            d.error_message
                .contains("120 problem(s) found so far were published in SNS message(s) m-1, m-2"),
            "{}",
            d.error_message
        );
        assert!(d
            .error_message
            .contains("3 problem(s) could not be published"));
        assert_eq!(d.error_type, "GuardDuty.InviteMembers.Transient");
    }
}
