//! What to do about a failed call, per kind of failure.

use super::CheckLine;
use crate::error::{AwsError, FailureKind, Service};

/// A check that failed because its call failed: AWS's words, and what to do about them.
pub(super) fn call_failed(check: &'static str, region: Option<&str>, e: AwsError) -> CheckLine {
    let fix = fix_for(&e);
    CheckLine::failed(check, region, e.to_string(), fix)
}

/// What to do about a failed call of the function's own role.
pub(super) fn fix_for(e: &AwsError) -> String {
    match (e.kind, e.code.as_deref()) {
        (_, Some("AWSOrganizationsNotInUseException")) => {
            "run the function in the organization's management account or its delegated administrator".to_owned()
        }
        (_, Some(crate::aws::NO_CREDENTIALS)) => {
            "give the command credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or \
             AWS_PROFILE), then run check again"
                .to_owned()
        }
        (_, Some("NotFound" | "NotFoundException")) if e.service == Service::Sns => {
            "create the topic, or set SNS_TOPIC_ARN to an existing topic's ARN".to_owned()
        }
        (FailureKind::AccessDenied, _) => format!(
            "allow {} to the role the function runs as (template.yaml grants it); run by hand, \
             the call used your own credentials, which may lack it",
            iam_action(e)
        ),
        (FailureKind::Transient, Some(code)) => {
            format!("AWS answered {code}, which passes: run check again in a minute")
        }
        (FailureKind::Transient, None) => {
            "no answer from AWS: check the endpoint (AWS_ENDPOINT_URL), the network or proxy and \
             the trust store (SSL_CERT_FILE), then run check again"
                .to_owned()
        }
        (FailureKind::Rejected, _) => {
            "AWS refused the request as made: correct what the message names; running check \
             again will not help until then"
                .to_owned()
        }
    }
}

/// The IAM action of the failed call: `<service prefix>:<Operation>`.
pub(super) fn iam_action(e: &AwsError) -> String {
    format!("{}:{}", e.service.iam_prefix(), e.operation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(service: Service, kind: FailureKind, code: Option<&str>) -> AwsError {
        AwsError {
            service,
            operation: "GetTopicAttributes",
            region: None,
            kind,
            code: code.map(str::to_owned),
            message: "said".into(),
        }
    }

    #[test]
    fn each_kind_of_failure_has_its_own_fix() {
        let sns = |kind, code| fix_for(&error(Service::Sns, kind, code));
        assert_eq!(
            sns(FailureKind::Rejected, Some("NotFound")),
            "create the topic, or set SNS_TOPIC_ARN to an existing topic's ARN"
        );
        assert!(sns(FailureKind::AccessDenied, Some("AuthorizationError"))
            .starts_with("allow sns:GetTopicAttributes to the role the function runs as"));
        assert_eq!(
            sns(FailureKind::Transient, Some("Throttling")),
            "AWS answered Throttling, which passes: run check again in a minute"
        );
        assert!(sns(FailureKind::Transient, None).starts_with("no answer from AWS"));
        assert!(sns(FailureKind::Rejected, Some("InvalidParameter"))
            .starts_with("AWS refused the request as made"));
        // Only SNS's NotFound is a missing topic.
        assert!(fix_for(&error(
            Service::GuardDuty,
            FailureKind::Rejected,
            Some("NotFound")
        ))
        .starts_with("AWS refused"));
        assert!(fix_for(&error(
            Service::Organizations,
            FailureKind::AccessDenied,
            Some("AWSOrganizationsNotInUseException")
        ))
        .contains("management account"));
    }
}
