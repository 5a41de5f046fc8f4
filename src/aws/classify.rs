//! Turns an SDK error (after the SDK's own retries) into a typed [`AwsError`].

use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_sdk_guardduty::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sns::config::http::HttpResponse;

use crate::account::mask_emails_in;
use crate::error::{AwsError, FailureKind, Service};

/// What a brand-new account answers while its GuardDuty subscription is still being set
/// up: it passes, so the run is retried.
const NOT_READY: &[&str] = &["SubscriptionRequiredException", "OptInRequired"];

/// Classifies an SDK error and keeps AWS's message (emails masked). The throttling and
/// transient codes are the SDK retry classifier's own lists, so what the SDK retried as
/// "slow down" is labelled transient here too.
pub fn aws_error<E>(
    service: Service,
    operation: &'static str,
    region: Option<&str>,
    err: &SdkError<E, HttpResponse>,
) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = err.code().map(str::to_owned);
    let kind = match err {
        SdkError::ServiceError(se) => kind_of(
            se.raw().status().as_u16(),
            code.as_deref().unwrap_or_default(),
        ),
        SdkError::ConstructionFailure(_) => FailureKind::Rejected,
        // Timeouts, dispatch (connection) failures and unreadable responses.
        _ => FailureKind::Transient,
    };
    let message = err
        .message()
        .map(str::to_owned)
        .unwrap_or_else(|| DisplayErrorContext(err).to_string());
    AwsError {
        service,
        operation,
        region: region.map(str::to_owned),
        kind,
        code,
        message: mask_emails_in(&message),
    }
}

/// The kind of a service error from its HTTP status and error code.
pub fn kind_of(status: u16, code: &str) -> FailureKind {
    if status >= 500
        || status == 429
        || THROTTLING_ERRORS.contains(&code)
        || TRANSIENT_ERRORS.contains(&code)
        || NOT_READY.contains(&code)
    {
        FailureKind::Transient
    } else if status == 403 || code.contains("AccessDenied") || code == "AuthorizationError" {
        FailureKind::AccessDenied
    } else {
        FailureKind::Rejected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_the_sdk_retries_as_throttling_is_transient() {
        for code in [
            "RequestThrottledException",
            "LimitExceededException",
            "ThrottlingException",
            "TooManyRequestsException",
            "RequestTimeout",
            "SubscriptionRequiredException",
            "OptInRequired",
        ] {
            assert_eq!(kind_of(400, code), FailureKind::Transient, "{code}");
        }
    }

    #[test]
    fn server_errors_are_transient_denials_and_validation_are_not() {
        assert_eq!(
            kind_of(500, "InternalServerErrorException"),
            FailureKind::Transient
        );
        assert_eq!(kind_of(503, ""), FailureKind::Transient);
        assert_eq!(
            kind_of(403, "AccessDeniedException"),
            FailureKind::AccessDenied
        );
        assert_eq!(kind_of(400, "AccessDenied"), FailureKind::AccessDenied);
        assert_eq!(kind_of(400, "BadRequestException"), FailureKind::Rejected);
    }
}
