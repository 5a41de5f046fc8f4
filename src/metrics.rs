//! CloudWatch Embedded Metric Format: one log line per region per invocation, turned into
//! metrics by CloudWatch Logs with no extra API call.

use std::collections::BTreeMap;

use serde_json::json;

use crate::report::Outcome;

pub const NAMESPACE: &str = "GuardDutyInvite";

/// Every metric the function emits, dimension `Region` (the dashboard is held to this list).
pub const METRIC_NAMES: &[&str] = &[
    "AccountsInvited",
    "AccountsAccepted",
    "AlreadyMembers",
    "EnabledByOrganization",
    "Problems",
    "UnprotectedAccounts",
    "ProtectedAccounts",
    "CoveragePercent",
    "Drift",
];

/// Written once by each reconcile that read the whole organization and every region, with no
/// dimension: an alarm on its absence says that coverage stopped being measured, whatever
/// stopped it (timeouts, an empty schedule, a broken role).
pub const COMPLETED_METRIC: &str = "ReconcilesCompleted";

/// The EMF line of one completed reconcile.
pub fn completion_line(timestamp_ms: u128) -> String {
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[]],
                "Metrics": [{"Name": COMPLETED_METRIC, "Unit": "Count"}],
            }]
        },
        COMPLETED_METRIC: 1,
    })
    .to_string()
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counts {
    pub invited: u64,
    pub accepted: u64,
    pub already_members: u64,
    pub enabled_by_organization: u64,
    pub problems: u64,
    /// Opt-in regions the account has not enabled: skipped, no metric of their own.
    pub region_not_enabled: u64,
    /// Opt-in regions the account is still enabling: skipped, no metric of their own.
    pub region_enabling: u64,
    /// Excepted by the protection policy: no metric of their own.
    pub excepted: u64,
    /// Not reached before the run's deadline: no metric of their own (the run fails, and
    /// Lambda's Errors metric counts it).
    pub not_reached: u64,
    /// What only a reconcile knows, seeing the whole organization.
    pub coverage: Option<CoverageCounts>,
}

/// A region's coverage after a reconcile, as GuardDuty returned it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CoverageCounts {
    /// Organization account-regions not protected.
    pub unprotected: u64,
    pub protected: u64,
    pub percent: f64,
    pub drift: u64,
}

impl Counts {
    pub fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Invited { .. } => self.invited += 1,
            Outcome::Accepted { email_sent } => {
                self.accepted += 1;
                // Invited and accepted in the same run.
                if email_sent.is_some() {
                    self.invited += 1;
                }
            }
            // Invited; accepted by a scheduled retry once its member role is there.
            Outcome::RolePending {
                email_sent: Some(_),
            } => self.invited += 1,
            Outcome::RolePending { email_sent: None } => self.already_members += 1,
            // A pending invitation is a member with its invitation on the way.
            Outcome::AlreadyInvited | Outcome::InvitationPending | Outcome::AlreadyEnabled => {
                self.already_members += 1
            }
            Outcome::EnabledByOrganization => self.enabled_by_organization += 1,
            Outcome::Problem(_) => self.problems += 1,
            Outcome::RegionNotEnabled => self.region_not_enabled += 1,
            Outcome::RegionEnabling => self.region_enabling += 1,
            Outcome::Excepted => self.excepted += 1,
        }
    }

    /// Adds another count to this one (the coverage is a whole run's, not added).
    pub fn merge(&mut self, other: &Counts) {
        self.invited += other.invited;
        self.accepted += other.accepted;
        self.already_members += other.already_members;
        self.enabled_by_organization += other.enabled_by_organization;
        self.problems += other.problems;
        self.region_not_enabled += other.region_not_enabled;
        self.region_enabling += other.region_enabling;
        self.excepted += other.excepted;
        self.not_reached += other.not_reached;
    }

    /// (name, value) of each metric this count has, in `METRIC_NAMES` order.
    fn values(&self) -> Vec<(&'static str, serde_json::Value)> {
        let c = self.coverage;
        let values = [
            Some(json!(self.invited)),
            Some(json!(self.accepted)),
            Some(json!(self.already_members)),
            Some(json!(self.enabled_by_organization)),
            Some(json!(self.problems)),
            c.map(|c| json!(c.unprotected)),
            c.map(|c| json!(c.protected)),
            c.map(|c| json!(c.percent)),
            c.map(|c| json!(c.drift)),
        ];
        METRIC_NAMES
            .iter()
            .zip(values)
            .filter_map(|(name, v)| v.map(|v| (*name, v)))
            .collect()
    }
}

/// CloudWatch's unit of a metric.
fn unit(name: &str) -> &'static str {
    if name == "CoveragePercent" {
        "Percent"
    } else {
        "Count"
    }
}

/// EMF lines for per-region counts; `timestamp_ms` is the invocation's time.
pub fn emf_lines(per_region: &BTreeMap<String, Counts>, timestamp_ms: u128) -> Vec<String> {
    per_region
        .iter()
        .map(|(region, c)| {
            let values = c.values();
            let mut line = json!({
                "_aws": {
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [{
                        "Namespace": NAMESPACE,
                        "Dimensions": [["Region"]],
                        "Metrics": values
                            .iter()
                            .map(|(name, _)| json!({"Name": name, "Unit": unit(name)}))
                            .collect::<Vec<_>>(),
                    }]
                },
                "Region": region,
            });
            for (name, v) in values {
                line[name] = json!(v);
            }
            line.to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_completed_reconcile_is_one_count_without_dimensions() {
        let v: serde_json::Value = serde_json::from_str(&completion_line(9)).unwrap();
        assert_eq!(v[COMPLETED_METRIC], 1);
        assert_eq!(v["_aws"]["Timestamp"], 9);
        let declared = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], NAMESPACE);
        assert_eq!(declared["Dimensions"], json!([[]]));
        assert_eq!(declared["Metrics"][0]["Name"], COMPLETED_METRIC);
    }

    #[test]
    fn one_emf_line_per_region_with_its_counts() {
        let mut m = BTreeMap::new();
        let mut c = Counts::default();
        c.add(&Outcome::Invited { email_sent: true });
        c.add(&Outcome::AlreadyEnabled);
        m.insert("eu-west-1".to_string(), c);
        let lines = emf_lines(&m, 1_700_000_000_000);
        assert_eq!(lines.len(), 1);
        let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["Region"], "eu-west-1");
        assert_eq!(v["AccountsInvited"], 1);
        assert_eq!(v["AlreadyMembers"], 1);
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        assert!(!lines[0].contains('\n'));
        assert!(
            v.get("UnprotectedAccounts").is_none(),
            "an event does not know it"
        );
    }

    #[test]
    fn a_reconcile_reports_its_coverage_declared_as_metrics() {
        let c = Counts {
            coverage: Some(CoverageCounts {
                unprotected: 3,
                protected: 197,
                percent: 98.5,
                drift: 2,
            }),
            ..Counts::default()
        };
        let lines = emf_lines(&BTreeMap::from([("us-east-1".to_string(), c)]), 0);
        let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["UnprotectedAccounts"], 3);
        assert_eq!(v["ProtectedAccounts"], 197);
        assert_eq!(v["CoveragePercent"], 98.5);
        assert_eq!(v["Drift"], 2);
        let units: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["Unit"].as_str())
            .collect();
        assert_eq!(units[7], "Percent");
        let declared: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["Name"].as_str())
            .collect();
        assert_eq!(declared, METRIC_NAMES);
    }

    #[test]
    fn every_outcome_counts_under_its_own_metric() {
        let problem = crate::report::Problem::new("111122223333", "CreateMembers", "r");
        let mut c = Counts::default();
        for outcome in [
            Outcome::Invited { email_sent: false },
            Outcome::Invited { email_sent: true },
            // Invited and accepted in the same run: counted under both.
            Outcome::Accepted {
                email_sent: Some(false),
            },
            Outcome::Accepted { email_sent: None },
            Outcome::AlreadyInvited,
            Outcome::AlreadyEnabled,
            Outcome::EnabledByOrganization,
            Outcome::Problem(Box::new(problem.clone())),
            Outcome::Problem(Box::new(problem)),
        ] {
            c.add(&outcome);
        }
        assert_eq!(
            c,
            Counts {
                invited: 3,
                accepted: 2,
                already_members: 2,
                enabled_by_organization: 1,
                problems: 2,
                region_not_enabled: 0,
                region_enabling: 0,
                excepted: 0,
                not_reached: 0,
                coverage: None,
            }
        );
        let m = BTreeMap::from([
            ("us-east-1".to_string(), c),
            ("eu-west-1".to_string(), Counts::default()),
        ]);
        let lines = emf_lines(&m, 7);
        let v: Vec<serde_json::Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(v[1]["Region"], "us-east-1");
        assert_eq!(v[1]["AccountsAccepted"], 2);
        assert_eq!(v[1]["EnabledByOrganization"], 1);
        assert_eq!(v[1]["Problems"], 2);
        assert_eq!(v[0]["Problems"], 0);
        assert_eq!(v[0]["_aws"]["Timestamp"], 7);
    }
}
