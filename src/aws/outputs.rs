//! The calls of the optional destinations: Security Hub findings and the S3 coverage report.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_securityhub::types::{
    AwsSecurityFinding, AwsSecurityFindingFilters, Compliance, ComplianceStatus, RecordState,
    Resource, Severity, SeverityLabel, StringFilter, StringFilterComparison,
};

use super::{all_pages, Aws};
use crate::error::{AwsError, Service};

/// The GeneratorId of every finding this function imports: how it finds its own findings.
pub const GENERATOR_ID: &str = "guardduty-invite";
/// BatchImportFindings takes at most 100 findings per call.
pub const FINDINGS_PER_CALL: usize = 100;
const FINDING_TYPE: &str = "Software and Configuration Checks/AWS Security Best Practices";
/// Security Hub caps a finding's description at 1,024 characters.
const DESCRIPTION_MAX_CHARS: usize = 1024;

/// A finding of this function, before it is an ASFF finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Stable per account, region and kind of problem, so a later run updates it.
    pub id: String,
    pub account_id: String,
    /// The region the finding is about (None: not about one region).
    pub region: Option<String>,
    pub title: String,
    pub description: String,
    /// `HIGH` for an unprotected account or one that left the administrator.
    pub high: bool,
}

/// A finding Security Hub did not import, with its error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedFinding {
    pub id: String,
    pub code: String,
    pub message: String,
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

    /// The function's findings that are active now, every page.
    pub async fn active_findings(
        &self,
        product_arn: &str,
    ) -> Result<Vec<AwsSecurityFinding>, AwsError> {
        let equals = |v: &str| {
            StringFilter::builder()
                .value(v)
                .comparison(StringFilterComparison::Equals)
                .build()
        };
        let filters = AwsSecurityFindingFilters::builder()
            .product_arn(equals(product_arn))
            .generator_id(equals(GENERATOR_ID))
            .record_state(equals(RecordState::Active.as_str()))
            .build();
        all_pages(|token| {
            let filters = filters.clone();
            async move {
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
        let sent = self
            .s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("text/csv; charset=utf-8")
            .body(ByteStream::from(body.as_bytes().to_vec()))
            .send();
        self.call(Service::S3, "PutObject", Some(&self.home_region), sent)
            .await
            .map(|_| ())
    }
}

/// The ASFF finding of `f`, active and failing; `created_at` keeps the time it was first
/// imported when Security Hub already has it.
pub fn asff(
    f: &Finding,
    product_arn: &str,
    partition: &str,
    now: &str,
    created_at: Option<&str>,
) -> AwsSecurityFinding {
    let resource = Resource::builder()
        .r#type("AwsAccount")
        .id(format!("AWS::::Account:{}", f.account_id))
        .partition(aws_sdk_securityhub::types::Partition::from(partition))
        .set_region(f.region.clone())
        .build();
    let description: String = f.description.chars().take(DESCRIPTION_MAX_CHARS).collect();
    AwsSecurityFinding::builder()
        .schema_version("2018-10-08")
        .id(&f.id)
        .product_arn(product_arn)
        .generator_id(GENERATOR_ID)
        .aws_account_id(&f.account_id)
        .types(FINDING_TYPE)
        .created_at(created_at.unwrap_or(now))
        .updated_at(now)
        .severity(
            Severity::builder()
                .label(if f.high {
                    SeverityLabel::High
                } else {
                    SeverityLabel::Medium
                })
                .build(),
        )
        .title(f.title.chars().take(256).collect::<String>())
        .description(description)
        .resources(resource)
        .compliance(
            Compliance::builder()
                .status(ComplianceStatus::Failed)
                .build(),
        )
        .record_state(RecordState::Active)
        .build()
}

/// The same finding, resolved by its provider: archived and passing. (Its workflow status
/// belongs to the customer.)
pub fn archived(f: AwsSecurityFinding, now: &str) -> AwsSecurityFinding {
    let mut f = f;
    f.updated_at = Some(now.to_owned());
    f.record_state = Some(RecordState::Archived);
    f.compliance = Some(
        Compliance::builder()
            .status(ComplianceStatus::Passed)
            .build(),
    );
    // Set by Security Hub, not by an importer.
    f.workflow = None;
    f.workflow_state = None;
    f.note = None;
    f.user_defined_fields = None;
    f
}
