//! The calls of the optional destinations: Security Hub findings and the S3 coverage report.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_securityhub::primitives::{DateTime, DateTimeFormat};
use aws_sdk_securityhub::types::{
    AwsSecurityFinding, AwsSecurityFindingFilters, Compliance, ComplianceStatus,
    FindingProviderFields, FindingProviderSeverity, RecordState, Resource, SeverityLabel,
    StringFilter, StringFilterComparison,
};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{all_pages, Aws};
use crate::error::{AwsError, Service};

/// The GeneratorId of every finding this function imports: how it finds its own findings.
pub const GENERATOR_ID: &str = "guardduty-invite";
/// BatchImportFindings takes at most 100 findings per call.
pub const FINDINGS_PER_CALL: usize = 100;
/// AwsSecurityFindingFilters: "For each attribute, you can provide up to 20 filter values."
pub const IDS_PER_READ: usize = 20;
/// GetFindings is limited to 3 requests a second (burst 6) per account and region: pages are
/// spaced a little over a third of a second apart, so a long read never meets the limit.
pub const GET_FINDINGS_INTERVAL: Duration = Duration::from_millis(350);
const FINDING_TYPE: &str = "Software and Configuration Checks/AWS Security Best Practices";
/// Security Hub caps a finding's description at 1,024 characters.
const DESCRIPTION_MAX_CHARS: usize = 1024;
const ACCOUNT_RESOURCE: &str = "AWS::::Account:";

/// A finding of this function, before it is an ASFF finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Stable per account, region and kind of problem, so a later run updates it.
    pub id: String,
    /// The account the finding is about, named in its resource (`AWS::::Account:<id>`). The
    /// finding itself belongs to the function's own account.
    pub account_id: String,
    /// The region the finding is about (None: not about one region).
    pub region: Option<String>,
    pub title: String,
    pub description: String,
    /// `HIGH` for an unprotected account or one that left the administrator.
    pub high: bool,
}

/// One of this function's findings as Security Hub holds it: our own fields read back, and
/// the times an update must keep (CreatedAt) and pass (UpdatedAt).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub finding: Finding,
    pub created_at: String,
    pub updated_at: String,
    /// RecordState ACTIVE (an archived finding is kept for its CreatedAt).
    pub active: bool,
}

/// Where findings go: the function's own account (every finding's AwsAccountId) and its
/// default product.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub owner: &'a str,
    pub product_arn: &'a str,
    pub partition: &'a str,
}

/// A finding Security Hub did not import, with its error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedFinding {
    pub id: String,
    pub code: String,
    pub message: String,
}

/// Spaces GetFindings pages at least [`GET_FINDINGS_INTERVAL`] apart, across the process.
#[derive(Debug)]
pub struct Pace {
    last: Mutex<Option<Instant>>,
    interval: Duration,
}

impl Pace {
    pub fn new(interval: Duration) -> Self {
        Self {
            last: Mutex::new(None),
            interval,
        }
    }

    /// Waits for this request's turn (the lock is held through the wait, so callers queue).
    pub async fn wait(&self) {
        let mut last = self.last.lock().await;
        if let Some(then) = *last {
            tokio::time::sleep_until(then + self.interval).await;
        }
        *last = Some(Instant::now());
    }
}

impl Aws {
    /// This account's default product ARN in the function's region: the only product the
    /// function may import findings under.
    pub async fn product_arn(&self, partition: &str) -> Result<String, AwsError> {
        let admin = self.admin_account().await?;
        Ok(format!(
            "arn:{partition}:securityhub:{}:{admin}:product/{admin}/default",
            self.home_region
        ))
    }

    /// This function's findings in Security Hub, active or archived (an archived one still
    /// has the CreatedAt a returning problem keeps): all of them (`ids` None), or those with
    /// these ids, [`IDS_PER_READ`] a call. Pages are paced under GetFindings' rate.
    pub async fn own_findings(
        &self,
        product_arn: &str,
        ids: Option<&[String]>,
    ) -> Result<Vec<Stored>, AwsError> {
        let base = AwsSecurityFindingFilters::builder()
            .product_arn(equals(product_arn))
            .generator_id(equals(GENERATOR_ID));
        let filters: Vec<AwsSecurityFindingFilters> = match ids {
            None => vec![base.build()],
            Some(ids) => ids
                .chunks(IDS_PER_READ)
                .map(|chunk| {
                    let ids = chunk.iter().map(|id| equals(id)).collect();
                    base.clone().set_id(Some(ids)).build()
                })
                .collect(),
        };
        let mut out = Vec::new();
        for f in filters {
            let found = self.findings_matching(f).await?;
            out.extend(found.iter().filter_map(stored));
        }
        Ok(out)
    }

    async fn findings_matching(
        &self,
        filters: AwsSecurityFindingFilters,
    ) -> Result<Vec<AwsSecurityFinding>, AwsError> {
        all_pages(|token| {
            let filters = filters.clone();
            async move {
                self.findings_pace.wait().await;
                let sent = self
                    .securityhub
                    .get_findings()
                    .filters(filters)
                    .max_results(100)
                    .set_next_token(token)
                    .send();
                let page = self
                    .call(
                        Service::SecurityHub,
                        "GetFindings",
                        Some(&self.home_region),
                        sent,
                    )
                    .await?;
                Ok((
                    page.findings().to_vec(),
                    page.next_token().map(str::to_owned),
                ))
            }
        })
        .await
    }

    /// Imports findings (at most [`FINDINGS_PER_CALL`]); those Security Hub did not take.
    pub async fn import_findings(
        &self,
        findings: Vec<AwsSecurityFinding>,
    ) -> Result<Vec<FailedFinding>, AwsError> {
        let sent = self
            .securityhub
            .batch_import_findings()
            .set_findings(Some(findings))
            .send();
        let out = self
            .call(
                Service::SecurityHub,
                "BatchImportFindings",
                Some(&self.home_region),
                sent,
            )
            .await?;
        Ok(out
            .failed_findings()
            .iter()
            .map(|f| FailedFinding {
                id: f.id().unwrap_or_default().to_owned(),
                code: f.error_code().unwrap_or_default().to_owned(),
                message: f.error_message().unwrap_or_default().to_owned(),
            })
            .collect())
    }

    /// Writes an object (the bucket's default encryption applies).
    pub async fn put_object(&self, bucket: &str, key: &str, body: &str) -> Result<(), AwsError> {
        self.put_object_as(bucket, key, body, "text/csv; charset=utf-8")
            .await
    }

    /// Writes an object of the given content type (the HTML report opens in a browser).
    pub async fn put_object_as(
        &self,
        bucket: &str,
        key: &str,
        body: &str,
        content_type: &str,
    ) -> Result<(), AwsError> {
        let sent = self
            .s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body.as_bytes().to_vec()))
            .send();
        self.call(Service::S3, "PutObject", Some(&self.home_region), sent)
            .await
            .map(|_| ())
    }
}

fn equals(v: &str) -> StringFilter {
    StringFilter::builder()
        .value(v)
        .comparison(StringFilterComparison::Equals)
        .build()
}

/// Our own record of a finding Security Hub returned; None for one that lacks what this
/// function always sets (not one of ours, then).
pub fn stored(f: &AwsSecurityFinding) -> Option<Stored> {
    let resource = f.resources().first();
    let label = f
        .finding_provider_fields()
        .and_then(|p| p.severity())
        .and_then(|s| s.label())
        .or_else(|| f.severity().and_then(|s| s.label()));
    Some(Stored {
        finding: Finding {
            id: f.id()?.to_owned(),
            account_id: resource
                .and_then(|r| r.id())
                .and_then(|id| id.strip_prefix(ACCOUNT_RESOURCE))
                .or(f.aws_account_id())?
                .to_owned(),
            region: resource.and_then(|r| r.region()).map(str::to_owned),
            title: f.title().unwrap_or_default().to_owned(),
            description: f.description().unwrap_or_default().to_owned(),
            high: label == Some(&SeverityLabel::High),
        },
        created_at: f.created_at()?.to_owned(),
        updated_at: f.updated_at()?.to_owned(),
        active: f.record_state() != Some(&RecordState::Archived),
    })
}

/// The UpdatedAt of an update: `now`, or just after the stored UpdatedAt when that is not
/// earlier (a clock ahead, two runs in one millisecond). Security Hub ignores an update whose
/// UpdatedAt "matches or occurs before" the stored one, and keeps milliseconds, so both are
/// compared in milliseconds.
pub fn updated_at(now: DateTime, stored: Option<&str>) -> String {
    let now_ms = now.to_millis().unwrap_or_default();
    let stored_ms = stored
        .and_then(|s| DateTime::from_str(s, DateTimeFormat::DateTime).ok())
        .and_then(|s| s.to_millis().ok());
    let ms = match stored_ms {
        Some(s) if s >= now_ms => s.saturating_add(1),
        _ => now_ms,
    };
    DateTime::from_millis(ms)
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_default()
}

/// The ASFF finding of `f`, owned by the function's account. Severity and types go in
/// `FindingProviderFields`, as AWS asks finding providers (the top level is the customer's,
/// for BatchUpdateFindings; Security Hub fills it from these for a new finding). Active means
/// failing; archived means resolved (passing).
pub fn asff(
    f: &Finding,
    to: Target<'_>,
    created_at: &str,
    updated_at: &str,
    active: bool,
) -> AwsSecurityFinding {
    let resource = Resource::builder()
        .r#type("AwsAccount")
        .id(format!("{ACCOUNT_RESOURCE}{}", f.account_id))
        .partition(aws_sdk_securityhub::types::Partition::from(to.partition))
        .set_region(f.region.clone())
        .build();
    let label = if f.high {
        SeverityLabel::High
    } else {
        SeverityLabel::Medium
    };
    let provider = FindingProviderFields::builder()
        .severity(FindingProviderSeverity::builder().label(label).build())
        .types(FINDING_TYPE)
        .build();
    let (state, status) = if active {
        (RecordState::Active, ComplianceStatus::Failed)
    } else {
        (RecordState::Archived, ComplianceStatus::Passed)
    };
    AwsSecurityFinding::builder()
        .schema_version("2018-10-08")
        .id(&f.id)
        .product_arn(to.product_arn)
        .generator_id(GENERATOR_ID)
        .aws_account_id(to.owner)
        .created_at(created_at)
        .updated_at(updated_at)
        .finding_provider_fields(provider)
        .title(f.title.chars().take(256).collect::<String>())
        .description(
            f.description
                .chars()
                .take(DESCRIPTION_MAX_CHARS)
                .collect::<String>(),
        )
        .resources(resource)
        .compliance(Compliance::builder().status(status).build())
        .record_state(state)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_is_strictly_later_than_the_stored_finding_in_milliseconds() {
        let now = DateTime::from_millis(1_796_450_000_123);
        assert_eq!(updated_at(now, None), "2026-12-05T05:53:20.123Z");
        assert_eq!(
            updated_at(now, Some("2026-01-01T00:00:00Z")),
            "2026-12-05T05:53:20.123Z"
        );
        // The same millisecond, or a stored time ahead of the clock: one millisecond after it.
        assert_eq!(
            updated_at(now, Some("2026-12-05T05:53:20.123456Z")),
            "2026-12-05T05:53:20.124Z"
        );
        assert_eq!(
            updated_at(now, Some("2027-01-01T00:00:00Z")),
            "2027-01-01T00:00:00.001Z"
        );
        // Not a time Security Hub would keep: ignored.
        assert_eq!(updated_at(now, Some("soon")), "2026-12-05T05:53:20.123Z");
    }
}
