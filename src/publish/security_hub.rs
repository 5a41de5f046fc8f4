//! Problems and drift as Security Hub findings (AWS Security Finding Format), with a
//! lifecycle SNS cannot give: a finding's id is stable per account, region and kind, so a
//! later run updates it; a finding a complete reconcile no longer finds is archived
//! (`RecordState` ARCHIVED, `Compliance.Status` PASSED), that is, resolved.

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_sdk_guardduty::primitives::DateTime;
use aws_sdk_securityhub::types::AwsSecurityFinding;
use tracing::{info, warn};

use super::{Delivery, Report};
use crate::aws::{
    asff, kind_of, updated_at, Aws, FailedFinding, Finding, Stored, Target, FINDINGS_PER_CALL,
};
use crate::config::Config;
use crate::error::{AwsError, FailureKind, Service};
use crate::report::{Drift, DriftKind, Problem, WHOLE_REGION};

pub async fn deliver(aws: &Aws, config: &Config, report: &Report<'_>) -> Delivery {
    let mut d = Delivery::to("security_hub");
    if !config.security_hub_findings {
        return d;
    }
    match import(aws, config, report).await {
        Ok(sent) => {
            info!(
                imported = sent.imported,
                archived = sent.archived,
                refused = sent.refused.len(),
                "Security Hub findings"
            );
            d.ids.push(format!(
                "{} imported, {} archived",
                sent.imported, sent.archived
            ));
            d.found.extend(sent.problems());
            d.failure = sent.transient;
        }
        Err(e) if e.kind == FailureKind::Transient => d.failure = Some(e),
        Err(e) => d.found.push(refused_call(&e)),
    }
    d
}

/// Security Hub not enabled in the region, or the role may not import or read: lasting, and
/// a person must act, like any other problem.
fn refused_call(e: &AwsError) -> Problem {
    Problem::new(
        WHOLE_REGION,
        e.operation,
        format!(
            "SECURITY_HUB_FINDINGS is on, but Security Hub refused the findings: enable Security Hub in this \
             region, or grant the function securityhub:{}, or turn the option off ({e})",
            e.operation
        ),
    )
    .with_result(e.message.clone())
}

/// What the import calls came to. Each batch stands alone: a refused batch or finding does
/// not stop the others.
#[derive(Debug, Default)]
struct Sent {
    imported: usize,
    archived: usize,
    /// Findings Security Hub refused for good, each with its own error.
    refused: Vec<FailedFinding>,
    /// Whole calls refused for good (one problem per distinct refusal).
    calls: Vec<AwsError>,
    /// A passing failure left after every batch was tried: the run is retried.
    transient: Option<AwsError>,
}

impl Sent {
    /// One problem per distinct refusal: a refused call, or findings refused with the same
    /// error code and message.
    fn problems(&self) -> Vec<Problem> {
        let mut calls: Vec<&AwsError> = Vec::new();
        for e in &self.calls {
            if !calls
                .iter()
                .any(|c| c.code == e.code && c.message == e.message)
            {
                calls.push(e);
            }
        }
        let mut found: Vec<Problem> = calls.into_iter().map(refused_call).collect();
        let mut by_error: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
        for f in &self.refused {
            by_error
                .entry((f.code.as_str(), f.message.as_str()))
                .or_default()
                .push(f.id.as_str());
        }
        found.extend(by_error.into_iter().map(|((code, message), ids)| {
            Problem::new(
                WHOLE_REGION,
                "BatchImportFindings",
                format!(
                    "Security Hub refused {} finding(s) with {code}, e.g. {}",
                    ids.len(),
                    ids[0]
                ),
            )
            .with_result(format!("{code}: {message}"))
        }));
        found
    }
}

/// Imports the report's findings, then archives those gone (a complete reconcile only).
async fn import(aws: &Aws, config: &Config, report: &Report<'_>) -> Result<Sent, AwsError> {
    let admin = aws.admin_account().await?;
    let product = aws.product_arn(config.partition()).await?;
    let to = Target {
        owner: &admin,
        product_arn: &product,
        partition: config.partition(),
    };
    let findings: Vec<Finding> = report
        .problems
        .iter()
        .map(|p| of_problem(p, &admin))
        .chain(report.drift.iter().map(of_drift))
        .collect();
    let known = known(aws, &product, &findings, report.complete).await?;
    let now = DateTime::from(report.now);
    let (imports, archives) = plan(&findings, &known, report.complete, to, now);
    let mut sent = Sent::default();
    let mut again = Vec::new();
    sent.imported = send(aws, &imports, &mut sent, &mut again).await;
    sent.archived = send(aws, &archives, &mut sent, &mut again).await;
    if !again.is_empty() {
        // Passing refusals of single findings: tried once more, in a later call.
        let mut still = Vec::new();
        sent.imported += send(aws, &again, &mut sent, &mut still).await;
        if let Some(first) = still.first() {
            let e = not_imported(still.len(), first);
            sent.transient.get_or_insert(e);
        }
    }
    Ok(sent)
}

/// What Security Hub holds of the findings this run may touch. A complete reconcile reads all
/// of this function's findings once (it archives those gone); any other run reads only the
/// findings it imports, by id, and none when it has nothing to import.
async fn known(
    aws: &Aws,
    product: &str,
    findings: &[Finding],
    complete: bool,
) -> Result<Vec<Stored>, AwsError> {
    if complete {
        return aws.own_findings(product, None).await;
    }
    if findings.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = findings.iter().map(|f| f.id.clone()).collect();
    aws.own_findings(product, Some(&ids)).await
}

/// The imports and the archive updates: each keeps the first CreatedAt Security Hub has
/// (archived or not) and carries an UpdatedAt later than the stored one. An archive update is
/// built from our own record of the finding, not from what GetFindings returned.
fn plan(
    findings: &[Finding],
    known: &[Stored],
    complete: bool,
    to: Target<'_>,
    now: DateTime,
) -> (Vec<AwsSecurityFinding>, Vec<AwsSecurityFinding>) {
    let by_id: HashMap<&str, &Stored> = known.iter().map(|s| (s.finding.id.as_str(), s)).collect();
    let imports = findings
        .iter()
        .map(|f| match by_id.get(f.id.as_str()) {
            Some(s) => asff(
                f,
                to,
                &s.created_at,
                &updated_at(now, Some(&s.updated_at)),
                true,
            ),
            // A new finding: CreatedAt and UpdatedAt the same, as ASFF asks.
            None => {
                let at = updated_at(now, None);
                asff(f, to, &at, &at, true)
            }
        })
        .collect();
    let current: HashSet<&str> = findings.iter().map(|f| f.id.as_str()).collect();
    let archives = known
        .iter()
        .filter(|s| complete && s.active && !current.contains(s.finding.id.as_str()))
        .map(|s| {
            let at = updated_at(now, Some(&s.updated_at));
            asff(&s.finding, to, &s.created_at, &at, false)
        })
        .collect();
    (imports, archives)
}

/// Sends `all` in batches; how many Security Hub took. Findings refused with a passing code go
/// to `again`, the rest to `sent`.
async fn send(
    aws: &Aws,
    all: &[AwsSecurityFinding],
    sent: &mut Sent,
    again: &mut Vec<AwsSecurityFinding>,
) -> usize {
    let mut taken = 0;
    for batch in all.chunks(FINDINGS_PER_CALL) {
        match aws.import_findings(batch.to_vec()).await {
            Ok(failed) => {
                taken += batch.len() - failed.len();
                for f in failed {
                    warn!(finding = %f.id, code = %f.code, message = %f.message, "finding not imported");
                    if passing(&f.code) {
                        again.extend(
                            batch
                                .iter()
                                .filter(|b| b.id() == Some(f.id.as_str()))
                                .cloned(),
                        );
                    } else {
                        sent.refused.push(f);
                    }
                }
            }
            Err(e) if e.kind == FailureKind::Transient => {
                warn!(error = %e, findings = batch.len(), "findings not imported");
                sent.transient.get_or_insert(e);
            }
            Err(e) => sent.calls.push(e),
        }
    }
    taken
}

/// A FailedFindings code worth another try: throttling and the like, or Security Hub's own
/// internal error (`InternalException`, a 500 in its API model).
fn passing(code: &str) -> bool {
    kind_of(400, code) == FailureKind::Transient || code.starts_with("Internal")
}

fn not_imported(n: usize, f: &AwsSecurityFinding) -> AwsError {
    AwsError {
        service: Service::SecurityHub,
        operation: "BatchImportFindings",
        region: None,
        kind: FailureKind::Transient,
        code: None,
        message: format!(
            "{n} findings not imported after a second try, e.g. {}",
            f.id().unwrap_or_default()
        ),
    }
}

/// The finding of a problem: per account, region and operation.
pub fn of_problem(p: &Problem, admin: &str) -> Finding {
    let region = p.region.clone();
    let whole_region = p.account_id == WHOLE_REGION;
    Finding {
        id: format!(
            "guardduty-invite/{}/{}/{}",
            if whole_region {
                "region"
            } else {
                &p.account_id
            },
            region.as_deref().unwrap_or("global"),
            p.operation
        ),
        // A region-level problem is about the administrator's own set-up.
        account_id: if whole_region {
            admin.to_owned()
        } else {
            p.account_id.clone()
        },
        title: match (&region, p.affected_accounts) {
            (Some(r), Some(n)) => format!("GuardDuty does not protect {n} accounts in {r}"),
            (Some(r), None) => {
                format!("GuardDuty does not protect account {} in {r}", p.account_id)
            }
            (None, _) => format!("GuardDuty does not protect account {}", p.account_id),
        },
        description: format!("{} ({}): {}", p.operation, p.detail(), p.reason),
        region,
        high: true,
    }
}

/// The finding of drift: per account, region and kind.
pub fn of_drift(d: &Drift) -> Finding {
    let (kind, title, high) = match d.kind {
        DriftKind::LeftAdministrator => (
            "left-administrator",
            format!(
                "Account {} left the GuardDuty administrator in {}",
                d.account_id, d.region
            ),
            true,
        ),
        DriftKind::PlansOff => (
            "plans-off",
            format!(
                "GuardDuty protection plans were turned off for account {} in {}",
                d.account_id, d.region
            ),
            false,
        ),
        DriftKind::PlansTurnedOff => (
            "plans-turned-off",
            format!(
                "The protection policy turned GuardDuty plans off for account {} in {}",
                d.account_id, d.region
            ),
            false,
        ),
    };
    Finding {
        id: format!(
            "guardduty-invite/{}/{}/drift-{kind}",
            d.account_id, d.region
        ),
        account_id: d.account_id.clone(),
        region: Some(d.region.clone()),
        title,
        description: format!("{}; {}", d.found, d.action),
        high,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_s_finding_id_is_stable_per_account_region_and_operation() {
        let p =
            Problem::new("111122223333", "AssumeRole", "role missing").in_region("eu-west-1", None);
        let a = of_problem(&p, "123456789012");
        let b = of_problem(&p.clone().with_result("another wording"), "123456789012");
        assert_eq!(a.id, b.id);
        assert_eq!(a.id, "guardduty-invite/111122223333/eu-west-1/AssumeRole");
        assert_eq!(a.account_id, "111122223333");
        assert!(a.high);
    }

    #[test]
    fn a_region_level_problem_is_one_finding_on_the_administrator_account() {
        let mut p = Problem::new(WHOLE_REGION, "ListDetectors", "no detector")
            .in_region("ap-south-1", None);
        p.affected_accounts = Some(120);
        let f = of_problem(&p, "123456789012");
        assert_eq!(f.id, "guardduty-invite/region/ap-south-1/ListDetectors");
        assert_eq!(f.account_id, "123456789012");
        assert!(f.title.contains("120 accounts"), "{}", f.title);
    }

    #[test]
    fn drift_findings_differ_by_kind_and_leaving_is_high() {
        let d = Drift {
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            kind: DriftKind::LeftAdministrator,
            found: "relationship status Resigned".into(),
            action: "re-invited".into(),
        };
        let left = of_drift(&d);
        let off = of_drift(&Drift {
            kind: DriftKind::PlansOff,
            ..d
        });
        assert_ne!(left.id, off.id);
        assert!(left.high && !off.high);
    }

    const TO: Target<'static> = Target {
        owner: "123456789012",
        product_arn: "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default",
        partition: "aws",
    };

    fn now() -> DateTime {
        DateTime::from_secs(1_796_450_000)
    }

    fn known(id: &str, active: bool, updated_at: &str) -> Stored {
        Stored {
            finding: Finding {
                id: id.into(),
                account_id: "111122223333".into(),
                region: Some("eu-west-1".into()),
                title: "our title".into(),
                description: "our description".into(),
                high: true,
            },
            created_at: "2026-01-01T00:00:00.000Z".into(),
            updated_at: updated_at.into(),
            active,
        }
    }

    #[test]
    fn a_finding_belongs_to_the_function_s_account_and_names_the_member_as_its_resource() {
        let p =
            Problem::new("111122223333", "AssumeRole", "role missing").in_region("eu-west-1", None);
        let (imports, _) = plan(&[of_problem(&p, TO.owner)], &[], false, TO, now());
        let f = &imports[0];
        assert_eq!(f.aws_account_id(), Some(TO.owner));
        assert_eq!(f.resources()[0].id(), Some("AWS::::Account:111122223333"));
        assert_eq!(f.resources()[0].r#type(), Some("AwsAccount"));
        assert!(f.title().unwrap_or_default().contains("111122223333"));
        let provider = f.finding_provider_fields().expect("provider fields");
        assert_eq!(
            provider.severity().and_then(|s| s.label()),
            Some(&aws_sdk_securityhub::types::SeverityLabel::High)
        );
        assert_eq!(provider.types().len(), 1);
        assert!(f.severity().is_none() && f.types().is_empty());
        assert_eq!(f.created_at(), f.updated_at());
    }

    #[test]
    fn a_returning_finding_keeps_its_created_at_and_gone_ones_are_archived_from_our_record() {
        let back = of_problem(
            &Problem::new("111122223333", "AssumeRole", "x").in_region("eu-west-1", None),
            TO.owner,
        );
        let stored = [
            known(&back.id, false, "2026-02-01T00:00:00Z"),
            known("guardduty-invite/gone", true, "2099-01-01T00:00:00.000Z"),
        ];
        let (imports, archives) = plan(std::slice::from_ref(&back), &stored, true, TO, now());
        assert_eq!(imports[0].created_at(), Some("2026-01-01T00:00:00.000Z"));
        assert_eq!(archives.len(), 1);
        let a = &archives[0];
        assert_eq!(a.id(), Some("guardduty-invite/gone"));
        assert_eq!(a.created_at(), Some("2026-01-01T00:00:00.000Z"));
        // The stored UpdatedAt is ahead of the clock: the update is a millisecond after it.
        assert_eq!(a.updated_at(), Some("2099-01-01T00:00:00.001Z"));
        assert_eq!(a.title(), Some("our title"));
        assert_eq!(a.aws_account_id(), Some(TO.owner));
        assert_eq!(
            a.record_state(),
            Some(&aws_sdk_securityhub::types::RecordState::Archived)
        );
        assert!(a.workflow().is_none() && a.product_name().is_none());
        // An event (or a failed run) archives nothing.
        let (_, none) = plan(&[], &stored, false, TO, now());
        assert!(none.is_empty());
    }

    #[test]
    fn each_failed_finding_is_classified_by_its_own_code() {
        assert!(passing("InternalException"));
        assert!(passing("ThrottlingException"));
        assert!(!passing("InvalidInput"));
        assert!(!passing("InvalidAccess"));
    }
}
