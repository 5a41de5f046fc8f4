//! The one place that talks to AWS: GuardDuty (one client per region), Organizations and SNS.
//!
//! Every call goes through [`Aws::call`], which waits for its API's turn under AWS's rate
//! (`rate`), then holds one of [`MAX_CONCURRENT_CALLS`] permits while the call is in flight,
//! so the limit holds for every stage of the flow at once, and turns the SDK's error into a
//! typed [`AwsError`]. Decisions live in `decision` and `flow`.

mod classify;
mod listing;
mod member;
mod outputs;
mod policy;
mod preflight;
mod rate;
mod regions;
mod reports;
mod scheduler;
mod sdk;
mod sns;
mod usage;
pub use usage::{UsageSum, USAGE_ACCOUNTS_PER_CALL};

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use aws_config::{Region, SdkConfig};
use aws_sdk_guardduty::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_guardduty::types::AccountDetail;
use aws_sdk_sns::config::http::HttpResponse;
use tokio::sync::{OnceCell, Semaphore};

pub use classify::{aws_error, kind_of, NO_CREDENTIALS};
pub use listing::{ListedAccount, ListedMember, Listing, Tree};
pub use member::{Administrator, Assumed, Invitation, MemberFeatures, MemberSession};
pub use outputs::{
    asff, stored, updated_at, FailedFinding, Finding, Pace, Stored, Target, FINDINGS_PER_CALL,
    GENERATOR_ID, GET_FINDINGS_INTERVAL, IDS_PER_READ,
};
pub use preflight::{AutoEnabled, OrganizationConfiguration, OrganizationInfo};
pub use rate::{aws_limit, parse_overrides, Limit, Override, RateLimiter};
pub use scheduler::Scheduled;
pub use sdk::{
    load_sdk_config, region_without_imds, retry_config, sdk_config_loader, timeout_config,
    trust_store, TrustChoice, AMAZON_ROOTS_PEM, ATTEMPT_TIMEOUT, CONNECT_TIMEOUT, MAX_ATTEMPTS,
    OPERATION_TIMEOUT,
};
pub use sns::{Fifo, SnsBody, SnsMessage};

use crate::account::{AccountId, Email};
use crate::config::Config;
use crate::error::{AwsError, FailureKind, Service};

/// With RETRY_SCHEDULE_GROUP: the one-time schedules that retry a member role not there yet,
/// and passing the scheduler's role to EventBridge Scheduler with them.
pub const RETRY_ACTIONS: &[&str] = &["scheduler:CreateSchedule", "iam:PassRole"];

/// The IAM actions the code may call under any configuration.
pub const IAM_ACTIONS: &[&str] = &[
    "guardduty:ListDetectors",
    "guardduty:CreateMembers",
    "guardduty:GetMembers",
    "guardduty:InviteMembers",
    "guardduty:ListMembers",
    // A member found Disabled (the administrator stopped monitoring it) is monitored again.
    "guardduty:StartMonitoringMembers",
    "guardduty:GetDetector",
    "guardduty:DescribeOrganizationConfiguration",
    "organizations:DescribeAccount",
    "organizations:ListAccounts",
    "organizations:DescribeOrganization",
    "organizations:ListRoots",
    "organizations:ListOrganizationalUnitsForParent",
    "organizations:ListAccountsForParent",
    // Only called when an opt-in region is configured; the deployment template cannot tell
    // that from its region list, so it grants this read call with the rest.
    "account:ListRegions",
    "sns:Publish",
    "sns:GetTopicAttributes",
];

/// With protection plans (MEMBER_FEATURES or a protection policy): the members' features.
pub const PLAN_ACTIONS: &[&str] = &[
    "guardduty:UpdateMemberDetectors",
    "guardduty:GetMemberDetectors",
];

/// With a protection policy: the parameter, and the organizational units it names.
pub const POLICY_ACTIONS: &[&str] = &[
    "ssm:GetParameter",
    "organizations:ListParents",
    "organizations:DescribeOrganizationalUnit",
];

/// With SECURITY_HUB_FINDINGS: import findings, and read them back to resolve them.
pub const SECURITY_HUB_ACTIONS: &[&str] =
    &["securityhub:BatchImportFindings", "securityhub:GetFindings"];

/// With COVERAGE_BUCKET: the daily coverage report; the earlier days' summaries read back
/// (ListObjectsV2 needs s3:ListBucket) for its trend; what protection costs, on its page.
pub const COVERAGE_ACTIONS: &[&str] = &[
    "s3:PutObject",
    "s3:GetObject",
    "s3:ListBucket",
    "guardduty:GetUsageStatistics",
];

/// Granted only when a member role is configured, and only on that role.
pub const MEMBER_ROLE_ACTIONS: &[&str] = &["sts:AssumeRole"];

/// What the member role must allow in each member account: the calls made there with it.
/// The member-role template grants exactly these (a test holds it to that).
pub const MEMBER_SIDE_ACTIONS: &[&str] = &[
    "guardduty:ListDetectors",
    "guardduty:CreateDetector",
    "guardduty:GetDetector",
    "guardduty:UpdateDetector",
    "guardduty:ListInvitations",
    "guardduty:AcceptAdministratorInvitation",
    "guardduty:GetAdministratorAccount",
    // The first CreateDetector in an account creates GuardDuty's service-linked role.
    "iam:CreateServiceLinkedRole",
];

/// Every IAM action the code can call under `config` (the member role's AssumeRole aside).
/// The deployment template must grant exactly these for the matching parameters.
pub fn iam_actions(config: &Config) -> BTreeSet<&'static str> {
    let mut actions: BTreeSet<&'static str> = IAM_ACTIONS.iter().copied().collect();
    let groups = [
        (
            !config.plan.is_empty() || config.policy_parameter.is_some(),
            PLAN_ACTIONS,
        ),
        (config.policy_parameter.is_some(), POLICY_ACTIONS),
        (config.security_hub_findings, SECURITY_HUB_ACTIONS),
        (config.coverage_bucket.is_some(), COVERAGE_ACTIONS),
        (config.retry.is_some(), RETRY_ACTIONS),
    ];
    for (on, group) in groups {
        if on {
            actions.extend(group.iter().copied());
        }
    }
    actions
}

/// AWS calls in flight at once: enough to cover many regions, few enough not to trip
/// GuardDuty's per-account rate limits.
pub const MAX_CONCURRENT_CALLS: usize = 8;

/// An account GuardDuty did not process, with its `result` text verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unprocessed {
    pub account_id: String,
    pub result: String,
}

/// A member as GetMembers shows it.
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
    pub joined_at: Option<SystemTime>,
}

/// A client built on first use. Building a client is CPU work (its configuration and runtime
/// plugins) that most runs never need: an event reaches GuardDuty alone, and Security Hub,
/// S3, SSM, Account Management and the scheduler only under their own settings. Dereferences
/// to the client.
struct Lazy<C> {
    client: OnceLock<C>,
    sdk: SdkConfig,
    build: fn(&SdkConfig) -> C,
}

impl<C> Lazy<C> {
    /// Built from `sdk` on first use.
    fn new(sdk: SdkConfig, build: fn(&SdkConfig) -> C) -> Self {
        Self {
            client: OnceLock::new(),
            sdk,
            build,
        }
    }

    /// A client already built (tests' mocked clients); `build` is never called then.
    fn built(client: C, sdk: &SdkConfig, build: fn(&SdkConfig) -> C) -> Self {
        Self {
            client: OnceLock::from(client),
            sdk: sdk.clone(),
            build,
        }
    }
}

impl<C> Deref for Lazy<C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.client.get_or_init(|| (self.build)(&self.sdk))
    }
}

/// The shared configuration in another region.
fn in_region(sdk: &SdkConfig, region: &str) -> SdkConfig {
    sdk.to_builder()
        .region(Region::new(region.to_owned()))
        .build()
}

pub struct Aws {
    guardduty: HashMap<String, Lazy<aws_sdk_guardduty::Client>>,
    /// The administrator's detector per region, found once per process (one lookup even when
    /// batches of the same region start together). Absence is not cached: a detector created
    /// later is picked up by the next event; a detector GuardDuty rejects is forgotten.
    detectors: Mutex<HashMap<String, Arc<OnceCell<String>>>>,
    organizations: Lazy<aws_sdk_organizations::Client>,
    sns: Lazy<aws_sdk_sns::Client>,
    sts: Lazy<aws_sdk_sts::Client>,
    /// In the function's own region: the findings, the coverage bucket and the policy
    /// parameter are the stack's, there.
    securityhub: Lazy<aws_sdk_securityhub::Client>,
    s3: Lazy<aws_sdk_s3::Client>,
    ssm: Lazy<aws_sdk_ssm::Client>,
    account: Lazy<aws_sdk_account::Client>,
    /// In the function's own region, where the stack's schedule group is.
    scheduler: Lazy<aws_sdk_scheduler::Client>,
    /// The function's own region.
    home_region: String,
    /// The shared configuration, for the member accounts' clients.
    sdk: SdkConfig,
    admin_account: OnceCell<String>,
    in_flight: Semaphore,
    /// Paces each API's calls under AWS's rate for it (beside the in-flight cap).
    rates: RateLimiter,
    /// Spaces GetFindings pages under Security Hub's rate for it.
    findings_pace: Pace,
}

impl Aws {
    /// Each client from the shared configuration, built when first used: one GuardDuty client
    /// per region, and the SNS client in the topic's own region (a publish must go there).
    pub fn new(sdk: &SdkConfig, regions: &[String], topic_region: &str) -> Self {
        let guardduty = regions
            .iter()
            .map(|r| {
                let client = Lazy::new(in_region(sdk, r), aws_sdk_guardduty::Client::new);
                (r.clone(), client)
            })
            .collect();
        Self::with_clients(
            sdk,
            guardduty,
            Lazy::new(sdk.clone(), aws_sdk_organizations::Client::new),
            Lazy::new(in_region(sdk, topic_region), aws_sdk_sns::Client::new),
        )
    }

    /// For tests with mocked clients; STS and the member accounts' clients come from `sdk`.
    pub fn from_clients(
        sdk: &SdkConfig,
        guardduty: HashMap<String, aws_sdk_guardduty::Client>,
        organizations: aws_sdk_organizations::Client,
        sns: aws_sdk_sns::Client,
    ) -> Self {
        let guardduty = guardduty
            .into_iter()
            .map(|(r, c)| (r, Lazy::built(c, sdk, aws_sdk_guardduty::Client::new)))
            .collect();
        Self::with_clients(
            sdk,
            guardduty,
            Lazy::built(organizations, sdk, aws_sdk_organizations::Client::new),
            Lazy::built(sns, sdk, aws_sdk_sns::Client::new),
        )
    }

    fn with_clients(
        sdk: &SdkConfig,
        guardduty: HashMap<String, Lazy<aws_sdk_guardduty::Client>>,
        organizations: Lazy<aws_sdk_organizations::Client>,
        sns: Lazy<aws_sdk_sns::Client>,
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
            sts: Lazy::new(sdk.clone(), aws_sdk_sts::Client::new),
            securityhub: Lazy::new(sdk.clone(), aws_sdk_securityhub::Client::new),
            s3: Lazy::new(sdk.clone(), aws_sdk_s3::Client::new),
            ssm: Lazy::new(sdk.clone(), aws_sdk_ssm::Client::new),
            account: Lazy::new(sdk.clone(), aws_sdk_account::Client::new),
            scheduler: Lazy::new(sdk.clone(), aws_sdk_scheduler::Client::new),
            home_region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
            sdk: sdk.clone(),
            admin_account: OnceCell::new(),
            in_flight: Semaphore::new(MAX_CONCURRENT_CALLS),
            rates: RateLimiter::default(),
            findings_pace: Pace::new(GET_FINDINGS_INTERVAL),
        }
    }

    /// The rates of `API_RATE_LIMITS` in place of AWS's (the configuration's; in tests, for
    /// many events handled in one process, which on Lambda would be as many processes, each
    /// with its own share of AWS's buckets).
    pub fn with_rate_limits(mut self, overrides: Vec<Override>) -> Self {
        self.rates = RateLimiter::with_overrides(overrides);
        self
    }

    /// Runs one AWS call (or one page of a paginated one) under the in-flight limit and types
    /// its error; the operation is named once, here.
    async fn call<T, E, F>(
        &self,
        service: Service,
        operation: &'static str,
        region: Option<&str>,
        send: F,
    ) -> Result<T, AwsError>
    where
        F: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        // Paced first, so a call waiting for its API's turn holds no in-flight permit.
        self.rates.wait(service, operation, region).await;
        // The semaphore is never closed, so acquiring cannot fail; were it closed, the call
        // would still be made rather than lost.
        let _permit = self.in_flight.acquire().await.ok();
        send.await
            .map_err(|e| aws_error(service, operation, region, &e))
    }

    /// A GuardDuty call on the administrator's detector in `region`. GuardDuty rejects calls
    /// on a detector that is gone (deleted and re-created, say): the detector is then
    /// forgotten, so the retry of the event looks it up again instead of failing for the life
    /// of a warm process.
    async fn on_detector<T, E, F>(
        &self,
        region: &str,
        operation: &'static str,
        send: impl FnOnce(&aws_sdk_guardduty::Client) -> F,
    ) -> Result<T, AwsError>
    where
        F: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let client = self.gd(region, operation)?;
        let result = self
            .call(Service::GuardDuty, operation, Some(region), send(client))
            .await;
        if matches!(&result, Err(e) if e.kind == FailureKind::Rejected) {
            self.forget_detector(region);
        }
        result
    }

    fn gd(
        &self,
        region: &str,
        operation: &'static str,
    ) -> Result<&aws_sdk_guardduty::Client, AwsError> {
        self.guardduty
            .get(region)
            .map(|client| &**client)
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

    fn forget_detector(&self, region: &str) {
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
        let mut token: Option<String> = None;
        loop {
            let page = self
                .call(
                    Service::GuardDuty,
                    "ListDetectors",
                    Some(region),
                    client.list_detectors().set_next_token(token).send(),
                )
                .await?;
            if let Some(id) = page.detector_ids().first() {
                return Ok(Some(id.clone()));
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(None),
            }
        }
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
            .on_detector(region, "CreateMembers", |c| {
                c.create_members()
                    .detector_id(detector_id)
                    .set_account_details(Some(details))
                    .send()
            })
            .await?;
        Ok(unprocessed(out.unprocessed_accounts()))
    }

    pub async fn get_members(
        &self,
        region: &str,
        detector_id: &str,
        ids: &[&AccountId],
    ) -> Result<(Vec<MemberStatus>, Vec<Unprocessed>), AwsError> {
        let out = self
            .on_detector(region, "GetMembers", |c| {
                c.get_members()
                    .detector_id(detector_id)
                    .set_account_ids(Some(ids.iter().map(|id| id.to_string()).collect()))
                    .send()
            })
            .await?;
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
            .on_detector(region, "InviteMembers", |c| {
                c.invite_members()
                    .detector_id(detector_id)
                    .set_account_ids(Some(ids.iter().map(|id| id.to_string()).collect()))
                    .message(message)
                    .disable_email_notification(disable_email_notification)
                    .send()
            })
            .await?;
        Ok(unprocessed(out.unprocessed_accounts()))
    }

    /// `Ok(None)` when Organizations does not know the account (a permanent problem); access
    /// denied and transient failures are errors.
    pub async fn describe_account(&self, id: &AccountId) -> Result<Option<OrgAccount>, AwsError> {
        use aws_sdk_organizations::operation::describe_account::DescribeAccountError as E;
        let sent = self
            .organizations
            .describe_account()
            .account_id(id.as_str())
            .send();
        // Raw SDK result: AccountNotFound is an answer, not a failure.
        let result = {
            self.rates
                .wait(Service::Organizations, "DescribeAccount", None)
                .await;
            let _permit = self.in_flight.acquire().await.ok();
            sent.await
        };
        match result {
            Ok(out) => Ok(Some(OrgAccount {
                email: out.account().and_then(|a| a.email()).map(str::to_owned),
                name: out.account().and_then(|a| a.name()).map(str::to_owned),
                joined_at: out
                    .account()
                    .and_then(|a| a.joined_timestamp())
                    .and_then(|t| SystemTime::try_from(*t).ok()),
            })),
            Err(e) if matches!(e.as_service_error(), Some(E::AccountNotFoundException(_))) => {
                Ok(None)
            }
            Err(e) => {
                let mut err = aws_error(Service::Organizations, "DescribeAccount", None, &e);
                // Modeled, so recognised by type as well as by code: the role is not allowed
                // to read the organization (not the management or a delegated account).
                if matches!(
                    e.as_service_error(),
                    Some(E::AccessDeniedException(_) | E::AwsOrganizationsNotInUseException(_))
                ) {
                    err.kind = FailureKind::AccessDenied;
                }
                Err(err)
            }
        }
    }
}

/// Every item of a paginated call: `page(token)` answers one page's items and its next
/// token; an empty or missing token ends the listing.
pub(crate) async fn all_pages<T, F, Fut>(mut page: F) -> Result<Vec<T>, AwsError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), AwsError>>,
{
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let (items, next) = page(token.take()).await?;
        out.extend(items);
        match next.filter(|t| !t.is_empty()) {
            Some(t) => token = Some(t),
            None => return Ok(out),
        }
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
