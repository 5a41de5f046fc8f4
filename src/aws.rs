//! The one place that talks to AWS: GuardDuty (one client per region), Organizations and SNS.
//! Everything here is a thin call; decisions live in `decision` and `invite`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_guardduty::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_guardduty::types::AccountDetail;
use aws_sdk_sns::config::http::HttpResponse;
use aws_sdk_sns::types::MessageAttributeValue;
use tokio::sync::OnceCell;

use crate::account::{mask_emails_in, AccountId, Email};
use crate::error::{AwsError, FailureKind, Service};
use crate::notify::Notification;

/// The IAM actions the code calls: the deployment template's policy must grant exactly these
/// (a test reads the template against this list).
pub const IAM_ACTIONS: &[&str] = &[
    "guardduty:ListDetectors",
    "guardduty:GetDetector",
    "guardduty:CreateMembers",
    "guardduty:GetMembers",
    "guardduty:InviteMembers",
    "guardduty:ListMembers",
    "guardduty:UpdateMemberDetectors",
    "guardduty:GetMemberDetectors",
    "organizations:DescribeAccount",
    "organizations:ListAccounts",
    "organizations:DescribeOrganization",
    "sns:Publish",
    "sns:GetTopicAttributes",
];

/// The IAM actions the code calls only when `MEMBER_ROLE_NAME` is set (the role it assumes in
/// each member account); the template grants them only then.
pub const MEMBER_ROLE_ACTIONS: &[&str] = &["sts:AssumeRole"];

/// Retry and timeout policy shared by every client. The SDK's defaults have no operation
/// timeout, so one hung call could outlive the Lambda; these bound a call to
/// `OPERATION_TIMEOUT` including retries, well inside a 60 s function timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(20);
pub const MAX_ATTEMPTS: u32 = 4;

/// Loads the shared SDK configuration (region, credentials, `AWS_ENDPOINT_URL*`) with the
/// retry and timeout policy above: throttling, 5xx and connection errors are retried with
/// exponential backoff, validation errors are not.
pub async fn load_sdk_config() -> SdkConfig {
    sdk_config_loader().load().await
}

/// The loader behind [`load_sdk_config`], for callers (tests) that set more on it.
pub fn sdk_config_loader() -> aws_config::ConfigLoader {
    let loader = aws_config::defaults(BehaviorVersion::latest());
    let loader = match trust_store() {
        TrustChoice::AmazonRoots(client) => loader.http_client(client),
        TrustChoice::System => loader,
    };
    loader
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(100))
                .with_max_backoff(Duration::from_secs(4)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(ATTEMPT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
}

/// The roots of Amazon Trust Services, which issues the certificates of the AWS service
/// endpoints (copied from Debian's ca-certificates; SHA-256 fingerprints in the README).
pub const AMAZON_ROOTS_PEM: &str = include_str!("amazon-trust-services-roots.pem");

pub enum TrustChoice {
    /// An HTTPS client that trusts only the Amazon Trust Services roots.
    AmazonRoots(aws_sdk_sns::config::SharedHttpClient),
    /// The SDK's default client with the system's roots.
    System,
}

/// Which certificates the HTTPS client trusts. Loading the system's ~150 roots costs about
/// 4 ms of CPU at every cold start (measured, bench/RESULTS.md) and AWS endpoints need only
/// Amazon's; setting `SSL_CERT_FILE` or `SSL_CERT_DIR` (a TLS-inspecting proxy, a partition
/// whose endpoints use other CAs) switches back to the system's store.
pub fn trust_store() -> TrustChoice {
    if std::env::var_os("SSL_CERT_FILE").is_some() || std::env::var_os("SSL_CERT_DIR").is_some() {
        return TrustChoice::System;
    }
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
    match TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(AMAZON_ROOTS_PEM.as_bytes()))
        .build()
    {
        Ok(context) => TrustChoice::AmazonRoots(
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
                .tls_context(context)
                .build_https(),
        ),
        Err(_) => TrustChoice::System,
    }
}

/// An account GuardDuty did not process, with its `result` text verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unprocessed {
    pub account_id: String,
    pub result: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberStatus {
    pub account_id: String,
    pub relationship_status: String,
}

/// What Organizations knows of an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgAccount {
    pub email: Option<String>,
    pub name: Option<String>,
}

pub struct Aws {
    guardduty: HashMap<String, aws_sdk_guardduty::Client>,
    /// The administrator's detector per region, found once per process (one lookup even when
    /// batches of the same region start together). Absence is not cached: a detector created
    /// later is picked up by the next event; a detector GuardDuty rejects is forgotten.
    detectors: Mutex<HashMap<String, Arc<OnceCell<String>>>>,
    organizations: aws_sdk_organizations::Client,
    sns: aws_sdk_sns::Client,
}

impl Aws {
    /// Builds every client once from the shared configuration: one GuardDuty client per region.
    pub fn new(sdk: &SdkConfig, regions: &[String]) -> Self {
        let guardduty = regions
            .iter()
            .map(|r| {
                let conf = aws_sdk_guardduty::config::Builder::from(sdk)
                    .region(Region::new(r.clone()))
                    .build();
                (r.clone(), aws_sdk_guardduty::Client::from_conf(conf))
            })
            .collect();
        Self::from_clients(
            guardduty,
            aws_sdk_organizations::Client::new(sdk),
            aws_sdk_sns::Client::new(sdk),
        )
    }

    /// For tests with mocked clients.
    pub fn from_clients(
        guardduty: HashMap<String, aws_sdk_guardduty::Client>,
        organizations: aws_sdk_organizations::Client,
        sns: aws_sdk_sns::Client,
    ) -> Self {
        let detectors = guardduty
            .keys()
            .map(|r| (r.clone(), Arc::new(OnceCell::new())))
            .collect();
        Self {
            guardduty,
            detectors: Mutex::new(detectors),
            organizations,
            sns,
        }
    }

    fn gd(
        &self,
        region: &str,
        operation: &'static str,
    ) -> Result<&aws_sdk_guardduty::Client, AwsError> {
        self.guardduty
            .get(region)
            .ok_or_else(|| not_configured(region, operation))
    }

    /// The administrator's detector in `region`, or `None` when GuardDuty is not enabled there.
    pub async fn detector(&self, region: &str) -> Result<Option<String>, AwsError> {
        let cell = self
            .detector_cell(region)
            .ok_or_else(|| not_configured(region, "ListDetectors"))?;
        let found = cell
            .get_or_try_init(|| async {
                match self.list_first_detector(region).await {
                    Ok(Some(id)) => Ok(id),
                    Ok(None) => Err(None),
                    Err(e) => Err(Some(e)),
                }
            })
            .await;
        match found {
            Ok(id) => Ok(Some(id.clone())),
            Err(None) => Ok(None),
            Err(Some(e)) => Err(e),
        }
    }

    fn detector_cell(&self, region: &str) -> Option<Arc<OnceCell<String>>> {
        self.detectors.lock().ok()?.get(region).cloned()
    }

    /// Forgets the detector of `region` after GuardDuty rejected a call on it (a detector
    /// deleted and re-created, say), so that the next event looks it up again instead of
    /// failing for the life of a warm process.
    pub fn forget_detector(&self, region: &str) {
        if let Ok(mut cells) = self.detectors.lock() {
            if let Some(cell) = cells.get_mut(region) {
                *cell = Arc::new(OnceCell::new());
            }
        }
    }

    async fn list_first_detector(&self, region: &str) -> Result<Option<String>, AwsError> {
        let client = self.gd(region, "ListDetectors")?;
        // At most one detector per account per region, but the API is paginated: an empty
        // first page with a token must not read as "no detector".
        let mut pages = client.list_detectors().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| aws_error(Service::GuardDuty, "ListDetectors", Some(region), &e))?;
            if let Some(id) = page.detector_ids().first() {
                return Ok(Some(id.clone()));
            }
        }
        Ok(None)
    }

    pub async fn create_members(
        &self,
        region: &str,
        detector_id: &str,
        accounts: &[(&AccountId, &Email)],
    ) -> Result<Vec<Unprocessed>, AwsError> {
        let details = accounts
            .iter()
            .map(|(id, email)| {
                AccountDetail::builder()
                    .account_id(id.as_str())
                    .email(email.as_str())
                    .build()
            })
            .collect::<Vec<_>>();
        let out = self
            .gd(region, "CreateMembers")?
            .create_members()
            .detector_id(detector_id)
            .set_account_details(Some(details))
            .send()
            .await
            .map_err(|e| aws_error(Service::GuardDuty, "CreateMembers", Some(region), &e))?;
        Ok(unprocessed(out.unprocessed_accounts()))
    }

    pub async fn get_members(
        &self,
        region: &str,
        detector_id: &str,
        ids: &[&AccountId],
    ) -> Result<(Vec<MemberStatus>, Vec<Unprocessed>), AwsError> {
        let out = self
            .gd(region, "GetMembers")?
            .get_members()
            .detector_id(detector_id)
            .set_account_ids(Some(ids.iter().map(|id| id.to_string()).collect()))
            .send()
            .await
            .map_err(|e| aws_error(Service::GuardDuty, "GetMembers", Some(region), &e))?;
        let members = out
            .members()
            .iter()
            .map(|m| MemberStatus {
                account_id: m.account_id().unwrap_or_default().to_owned(),
                relationship_status: m.relationship_status().unwrap_or_default().to_owned(),
            })
            .collect();
        Ok((members, unprocessed(out.unprocessed_accounts())))
    }

    pub async fn invite_members(
        &self,
        region: &str,
        detector_id: &str,
        ids: &[&AccountId],
        message: &str,
        disable_email_notification: bool,
    ) -> Result<Vec<Unprocessed>, AwsError> {
        let out = self
            .gd(region, "InviteMembers")?
            .invite_members()
            .detector_id(detector_id)
            .set_account_ids(Some(ids.iter().map(|id| id.to_string()).collect()))
            .message(message)
            .disable_email_notification(disable_email_notification)
            .send()
            .await
            .map_err(|e| aws_error(Service::GuardDuty, "InviteMembers", Some(region), &e))?;
        Ok(unprocessed(out.unprocessed_accounts()))
    }

    /// `Ok(None)` when Organizations does not know the account (a permanent problem); access
    /// denied and transient failures are errors.
    pub async fn describe_account(&self, id: &AccountId) -> Result<Option<OrgAccount>, AwsError> {
        use aws_sdk_organizations::operation::describe_account::DescribeAccountError;
        match self
            .organizations
            .describe_account()
            .account_id(id.as_str())
            .send()
            .await
        {
            Ok(out) => Ok(Some(OrgAccount {
                email: out.account().and_then(|a| a.email()).map(str::to_owned),
                name: out.account().and_then(|a| a.name()).map(str::to_owned),
            })),
            Err(SdkError::ServiceError(se))
                if matches!(se.err(), DescribeAccountError::AccountNotFoundException(_)) =>
            {
                Ok(None)
            }
            Err(e) => {
                let mut err = aws_error(Service::Organizations, "DescribeAccount", None, &e);
                // Modeled, so recognised by type as well as by code: the role is not allowed
                // to read the organization (not the management or a delegated account).
                if matches!(
                    e.as_service_error(),
                    Some(
                        DescribeAccountError::AccessDeniedException(_)
                            | DescribeAccountError::AwsOrganizationsNotInUseException(_)
                    )
                ) {
                    err.kind = FailureKind::AccessDenied;
                }
                Err(err)
            }
        }
    }

    pub async fn publish(&self, topic_arn: &str, n: &Notification) -> Result<String, AwsError> {
        let mut req = self
            .sns
            .publish()
            .topic_arn(topic_arn)
            .subject(&n.subject)
            .message(&n.body);
        for (name, data_type, value) in &n.attributes {
            let attr = MessageAttributeValue::builder()
                .data_type(*data_type)
                .string_value(value)
                .build()
                .map_err(|e| AwsError {
                    service: Service::Sns,
                    operation: "Publish",
                    region: None,
                    kind: FailureKind::Rejected,
                    code: None,
                    message: format!("message attribute {name}: {e}"),
                })?;
            req = req.message_attributes(*name, attr);
        }
        if let Some(fifo) = &n.fifo {
            req = req
                .message_group_id(&fifo.group_id)
                .message_deduplication_id(&fifo.deduplication_id);
        }
        let out = req
            .send()
            .await
            .map_err(|e| aws_error(Service::Sns, "Publish", None, &e))?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }
}

/// A GuardDuty call for a region outside GUARDDUTY_REGIONS: no client was built for it.
fn not_configured(region: &str, operation: &'static str) -> AwsError {
    AwsError {
        service: Service::GuardDuty,
        operation,
        region: Some(region.to_owned()),
        kind: FailureKind::Rejected,
        code: None,
        message: "no client for this region (not in GUARDDUTY_REGIONS)".into(),
    }
}

fn unprocessed(list: &[aws_sdk_guardduty::types::UnprocessedAccount]) -> Vec<Unprocessed> {
    list.iter()
        .map(|u| Unprocessed {
            account_id: u.account_id().unwrap_or_default().to_owned(),
            result: u.result().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// Error codes that mean "slow down" across the three services.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
];

/// Classifies an SDK error (after the SDK's own retries) and keeps AWS's message.
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
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = code.as_deref().unwrap_or_default();
            if status >= 500 || status == 429 || THROTTLING_CODES.contains(&code) {
                FailureKind::Transient
            } else if status == 403 || code.contains("AccessDenied") || code == "AuthorizationError"
            {
                FailureKind::AccessDenied
            } else {
                FailureKind::Rejected
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_trust_store_holds_the_five_amazon_trust_services_roots() {
        assert_eq!(
            AMAZON_ROOTS_PEM
                .matches("-----BEGIN CERTIFICATE-----")
                .count(),
            5
        );
        assert_eq!(
            AMAZON_ROOTS_PEM
                .matches("-----END CERTIFICATE-----")
                .count(),
            5
        );
    }
}
