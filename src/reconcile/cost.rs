//! What protection costs, as GuardDuty estimates it (GetUsageStatistics, the last 30 days):
//! per account and region, and per plan for each OU's accounts. Read once per region, in
//! batches of 50 accounts; a refused or throttled read leaves that region's cost unknown with
//! the reason, and never fails the reconcile.

use std::collections::{BTreeMap, HashMap};

use std::time::Instant;

use futures::{stream, StreamExt, TryStreamExt};

use crate::aws::{Aws, UsageSum, USAGE_ACCOUNTS_PER_CALL};
use crate::error::AwsError;

/// AWS's own words on what GetUsageStatistics returns (its API reference), said once on the
/// report: the cost is GuardDuty's estimate, not the bill.
pub const ESTIMATE_NOTE: &str = "GuardDuty's estimate, not the bill: \"For newly enabled detectors or data sources, the cost returned will include only the usage so far under 30 days. This may differ from the cost metrics in the console, which project usage over 30 days to provide a monthly cost estimate.\" (GuardDuty API Reference, GetUsageStatistics)";

/// The cost of the organization's protection over the last 30 days, in USD.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Costs {
    /// (region, account id) → cost; an account GuardDuty gives no usage for costs 0.
    pub per_account: HashMap<(String, String), f64>,
    /// OU → plan → cost, over every region whose cost is known.
    pub per_ou_plan: BTreeMap<String, BTreeMap<String, f64>>,
    /// Regions whose cost is unknown, with the reason.
    pub unknown: BTreeMap<String, String>,
    /// GetUsageStatistics calls made (pages included), by region.
    pub calls: BTreeMap<String, usize>,
}

/// One account-region's cost cell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cost {
    /// Not read (no report asked for).
    NotRead,
    Unknown,
    Usd(f64),
}

impl Costs {
    pub fn of(costs: Option<&Costs>, region: &str, account: &str) -> Cost {
        let Some(c) = costs else {
            return Cost::NotRead;
        };
        if c.unknown.contains_key(region) {
            return Cost::Unknown;
        }
        Cost::Usd(
            c.per_account
                .get(&(region.to_owned(), account.to_owned()))
                .copied()
                .unwrap_or(0.0),
        )
    }

    /// Plan → cost over every OU.
    pub fn per_plan(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for plans in self.per_ou_plan.values() {
            for (plan, usd) in plans {
                *out.entry(plan.clone()).or_insert(0.0) += usd;
            }
        }
        out
    }

    /// OU → cost over every plan.
    pub fn per_ou(&self) -> BTreeMap<String, f64> {
        self.per_ou_plan
            .iter()
            .map(|(ou, plans)| (ou.clone(), plans.values().sum()))
            .collect()
    }

    /// The cost over every account-region whose cost is known.
    pub fn total(&self) -> f64 {
        self.per_account.values().sum()
    }
}

impl Cost {
    /// The CSV's `cost_30d_usd` cell.
    pub fn cell(self) -> String {
        match self {
            Self::NotRead => String::new(),
            Self::Unknown => "unknown".into(),
            Self::Usd(v) => format!("{v:.2}"),
        }
    }
}

/// The protection plan a usage feature is billed under: the runtime agents' three features
/// are Runtime Monitoring's; flow logs, CloudTrail and DNS logs are the foundational
/// detection every detector has; the others carry the plan's own name.
pub fn plan_of(usage_feature: &str) -> &str {
    match usage_feature {
        "EKS_RUNTIME_MONITORING" | "FARGATE_RUNTIME_MONITORING" | "EC2_RUNTIME_MONITORING" => {
            "RUNTIME_MONITORING"
        }
        "FLOW_LOGS" | "CLOUD_TRAIL" | "DNS_LOGS" => "FOUNDATIONAL",
        "RDS_DBI_PROTECTION_PROVISIONED" | "RDS_DBI_PROTECTION_SERVERLESS" => "RDS_DBI_PROTECTION",
        other => other,
    }
}

/// What to read: per account too, or only each group's plans (`check --policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    AccountsAndPlans,
    PlansOnly,
}

/// The batches of one region's reads: every account in 50s (per account), and each OU's
/// accounts in 50s (per feature), tagged with the OU.
pub fn batches(
    ous: &BTreeMap<String, Vec<String>>,
    reading: Reading,
) -> Vec<(UsageSum, Option<&str>, Vec<String>)> {
    let all: Vec<String> = match reading {
        Reading::AccountsAndPlans => ous.values().flatten().cloned().collect(),
        Reading::PlansOnly => Vec::new(),
    };
    let mut out: Vec<(UsageSum, Option<&str>, Vec<String>)> = all
        .chunks(USAGE_ACCOUNTS_PER_CALL)
        .map(|c| (UsageSum::ByAccount, None, c.to_vec()))
        .collect();
    for (ou, ids) in ous {
        out.extend(
            ids.chunks(USAGE_ACCOUNTS_PER_CALL)
                .map(|c| (UsageSum::ByFeature, Some(ou.as_str()), c.to_vec())),
        );
    }
    out
}

/// Cost calls in flight at once, of the process's [`crate::aws::MAX_CONCURRENT_CALLS`]: the
/// coverage work keeps the rest, so that the cost never holds coverage back.
pub const COST_IN_FLIGHT: usize = 2;

/// Reads the cost of `ous`' accounts (OU, or any group, → account ids) in every region, one
/// region after another, [`COST_IN_FLIGHT`] calls at a time; a region is left unknown from
/// its first failure, or when `cutoff` passes (the run then publishes what it has).
pub async fn read(
    aws: &Aws,
    regions: &[String],
    ous: &BTreeMap<String, Vec<String>>,
    reading: Reading,
    cutoff: Option<Instant>,
) -> Costs {
    let mut costs = Costs::default();
    for region in regions {
        let read = read_region(aws, region, ous, reading, cutoff).await;
        costs.calls.insert(region.clone(), read.calls);
        match read.outcome {
            Err(why) => {
                tracing::warn!(region = %region, reason = %why, "the cost of protection could not be read: unknown in the report");
                costs.unknown.insert(region.clone(), why);
            }
            Ok(results) => merge(&mut costs, region, results),
        }
    }
    costs
}

/// What one batch answered: (sum, OU, (account or feature, USD) pairs).
type Answer<'o> = (UsageSum, Option<&'o str>, Vec<(String, f64)>);

struct RegionRead<'o> {
    calls: usize,
    outcome: Result<Vec<Answer<'o>>, String>,
}

/// Why the cost was not read before the run's cut-off.
pub const PAST_CUTOFF: &str = "not read before the run's deadline";

async fn read_region<'o>(
    aws: &Aws,
    region: &str,
    ous: &'o BTreeMap<String, Vec<String>>,
    reading: Reading,
    cutoff: Option<Instant>,
) -> RegionRead<'o> {
    let detector = match aws.detector(region).await {
        Ok(Some(d)) => Ok(d),
        Ok(None) => Err("GuardDuty is not enabled in this region".to_owned()),
        Err(e) => Err(reason(&e)),
    };
    let detector = match detector {
        Ok(d) => d,
        Err(why) => {
            return RegionRead {
                calls: 0,
                outcome: Err(why),
            }
        }
    };
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let outcome = stream::iter(batches(ous, reading))
        .map(|(sum, ou, ids)| {
            let (detector, calls) = (&detector, &calls);
            async move {
                if cutoff.is_some_and(|c| Instant::now() >= c) {
                    return Err(PAST_CUTOFF.to_owned());
                }
                calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let got = aws.usage_statistics(region, detector, sum, &ids).await;
                got.map(|g| (sum, ou, g)).map_err(|e| reason(&e))
            }
        })
        .buffer_unordered(COST_IN_FLIGHT)
        .try_collect()
        .await;
    RegionRead {
        calls: calls.into_inner(),
        outcome,
    }
}

/// Why a region's cost is unknown, in words: the error's kind, code and message.
fn reason(e: &AwsError) -> String {
    format!(
        "{} {}: {}",
        e.operation,
        e.code.as_deref().unwrap_or(&e.kind.to_string()),
        e.message
    )
}

fn merge(costs: &mut Costs, region: &str, answers: Vec<Answer<'_>>) {
    for (sum, ou, items) in answers {
        for (key, usd) in items {
            match (sum, ou) {
                (UsageSum::ByAccount, _) => {
                    *costs
                        .per_account
                        .entry((region.to_owned(), key))
                        .or_insert(0.0) += usd;
                }
                (UsageSum::ByFeature, Some(ou)) => {
                    *costs
                        .per_ou_plan
                        .entry(ou.to_owned())
                        .or_default()
                        .entry(plan_of(&key).to_owned())
                        .or_insert(0.0) += usd;
                }
                (UsageSum::ByFeature, None) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize, from: u64) -> Vec<String> {
        (0..n as u64).map(|i| format!("{:012}", from + i)).collect()
    }

    #[test]
    fn accounts_are_read_in_50s_and_each_ou_s_plans_in_50s_of_its_own() {
        let ous = BTreeMap::from([("a".to_owned(), ids(120, 1)), ("b".to_owned(), ids(3, 500))]);
        let b = batches(&ous, Reading::AccountsAndPlans);
        assert!(batches(&ous, Reading::PlansOnly)
            .iter()
            .all(|x| x.0 == UsageSum::ByFeature));
        let by_account: Vec<usize> = b
            .iter()
            .filter(|x| x.0 == UsageSum::ByAccount)
            .map(|x| x.2.len())
            .collect();
        assert_eq!(by_account, [50, 50, 23]);
        let by_feature: Vec<(Option<&str>, usize)> = b
            .iter()
            .filter(|x| x.0 == UsageSum::ByFeature)
            .map(|x| (x.1, x.2.len()))
            .collect();
        assert_eq!(
            by_feature,
            [
                (Some("a"), 50),
                (Some("a"), 50),
                (Some("a"), 20),
                (Some("b"), 3)
            ]
        );
    }

    #[test]
    fn runtime_features_are_runtime_monitoring_and_an_unknown_region_is_unknown() {
        assert_eq!(plan_of("EC2_RUNTIME_MONITORING"), "RUNTIME_MONITORING");
        assert_eq!(plan_of("S3_DATA_EVENTS"), "S3_DATA_EVENTS");
        assert_eq!(plan_of("DNS_LOGS"), "FOUNDATIONAL");
        let mut c = Costs::default();
        c.unknown.insert("eu-west-1".into(), "throttled".into());
        c.per_account
            .insert(("us-east-1".into(), "111122223333".into()), 1.5);
        assert_eq!(
            Costs::of(Some(&c), "eu-west-1", "111122223333").cell(),
            "unknown"
        );
        assert_eq!(
            Costs::of(Some(&c), "us-east-1", "111122223333").cell(),
            "1.50"
        );
        assert_eq!(
            Costs::of(Some(&c), "us-east-1", "999999999999").cell(),
            "0.00"
        );
        assert_eq!(Costs::of(None, "us-east-1", "111122223333").cell(), "");
    }
}
