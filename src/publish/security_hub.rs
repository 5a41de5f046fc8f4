//! Problems and drift as Security Hub findings (AWS Security Finding Format), with a
//! lifecycle SNS cannot give: a finding's id is stable per account, region and kind, so a
//! later run updates it; a finding a complete reconcile no longer finds is archived
//! (`RecordState` ARCHIVED, `Compliance.Status` PASSED), that is, resolved.

use std::collections::{HashMap, HashSet};

use aws_sdk_guardduty::primitives::{DateTime, DateTimeFormat};
use tracing::{info, warn};

use super::{Delivery, Report};
use crate::aws::{archived, asff, kind_of, Aws, Finding, FINDINGS_PER_CALL};
use crate::config::Config;
use crate::error::{AwsError, FailureKind};
use crate::report::{Drift, DriftKind, Problem, WHOLE_REGION};

pub async fn deliver(aws: &Aws, config: &Config, report: &Report<'_>) -> Delivery {
    let mut d = Delivery::to("security_hub");
    if !config.security_hub_findings {
        return d;
    }
    match import(aws, config, report).await {
        Ok((imported, archived)) => {
            info!(imported, archived, "Security Hub findings");
            d.ids.push(format!("{imported} imported, {archived} archived"));
        }
        Err(e) if e.kind == FailureKind::Transient => d.failure = Some(e),
        // Security Hub not enabled in the region, or the role may not import: lasting, and a
        // person must act, like any other problem.
        Err(e) => d.found.push(
            Problem::new(
                WHOLE_REGION,
                e.operation,
                format!(
                    "SECURITY_HUB_FINDINGS is on, but Security Hub refused the findings: enable Security Hub in this \
                     region, or grant the function securityhub:{}, or turn the option off ({e})",
                    e.operation
                ),
            )
            .with_result(e.message.clone()),
        ),
    }
    d
}

/// Imports the report's findings and archives those gone; (imported, archived).
async fn import(
    aws: &Aws,
    config: &Config,
    report: &Report<'_>,
) -> Result<(usize, usize), AwsError> {
    let admin = aws.admin_account().await?;
    let partition = config.partition();
    let product = aws.product_arn(partition).await?;
    let now = DateTime::from(report.now)
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_default();
    let findings: Vec<Finding> = report
        .problems
        .iter()
        .map(|p| of_problem(p, &admin))
        .chain(report.drift.iter().map(of_drift))
        .collect();
    let active = aws.active_findings(&product).await?;
    let created: HashMap<&str, &str> = active
        .iter()
        .filter_map(|f| Some((f.id()?, f.created_at()?)))
        .collect();
    let current: HashSet<&str> = findings.iter().map(|f| f.id.as_str()).collect();
    let mut all: Vec<_> = findings
        .iter()
        .map(|f| {
            asff(
                f,
                &product,
                partition,
                &now,
                created.get(f.id.as_str()).copied(),
            )
        })
        .collect();
    let imported = all.len();
    let mut gone = 0;
    if report.complete {
        for f in active
            .iter()
            .filter(|f| !f.id().is_some_and(|id| current.contains(id)))
        {
            all.push(archived(f.clone(), &now));
            gone += 1;
        }
    }
    for batch in all.chunks(FINDINGS_PER_CALL) {
        let failed = aws.import_findings(batch.to_vec()).await?;
        if let Some(f) = failed.first() {
            // Like an account GuardDuty left unprocessed: passing failures retry the run.
            let e = AwsError {
                service: crate::error::Service::SecurityHub,
                operation: "BatchImportFindings",
                region: None,
                kind: kind_of(400, &f.code),
                code: Some(f.code.clone()),
                message: format!(
                    "{} of {} findings not imported, e.g. {}: {}",
                    failed.len(),
                    batch.len(),
                    f.id,
                    f.message
                ),
            };
            for f in &failed {
                warn!(finding = %f.id, code = %f.code, message = %f.message, "finding not imported");
            }
            return Err(e);
        }
    }
    Ok((imported, gone))
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
}
