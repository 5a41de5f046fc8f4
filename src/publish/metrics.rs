//! CloudWatch Embedded Metric Format: one log line per region per invocation, turned into
//! metrics by CloudWatch Logs with no extra API call.

use std::collections::BTreeMap;

use serde_json::json;

use crate::report::{OutcomeLabel, RegionCoverage, RegionOutcomes};

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

/// One region's metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counts {
    pub invited: u64,
    pub accepted: u64,
    pub already_members: u64,
    pub enabled_by_organization: u64,
    pub problems: u64,
    /// What only a reconcile knows, seeing the whole organization.
    pub coverage: Option<RegionCoverage>,
}

impl Counts {
    /// The metrics of what a run came to in one region. Regions skipped (opt-in not enabled
    /// or enabling), accounts excepted by the policy and those the deadline left have no
    /// metric of their own (a run cut short fails, and Lambda's Errors metric counts it).
    pub fn of(outcomes: &RegionOutcomes) -> Self {
        let mut c = Counts {
            invited: outcomes.invitations_sent(),
            coverage: outcomes.coverage,
            ..Counts::default()
        };
        for (&(label, sent), &n) in &outcomes.ended {
            let metric = match label {
                OutcomeLabel::Accepted => &mut c.accepted,
                // Invited; accepted by a scheduled retry once its member role is there.
                OutcomeLabel::RolePending if !sent => &mut c.already_members,
                // A pending invitation is a member with its invitation on the way.
                OutcomeLabel::AlreadyInvited
                | OutcomeLabel::InvitationPending
                | OutcomeLabel::AlreadyEnabled => &mut c.already_members,
                OutcomeLabel::EnabledByOrganization => &mut c.enabled_by_organization,
                OutcomeLabel::Problem => &mut c.problems,
                OutcomeLabel::Invited
                | OutcomeLabel::RolePending
                | OutcomeLabel::RegionNotEnabled
                | OutcomeLabel::RegionEnabling
                | OutcomeLabel::Excepted => continue,
            };
            *metric += n;
        }
        c
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
    use crate::report::Outcome;

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
        let mut o = RegionOutcomes::default();
        o.add(&Outcome::Invited { email_sent: true });
        o.add(&Outcome::AlreadyEnabled);
        let c = Counts::of(&o);
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
            coverage: Some(RegionCoverage {
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
        let mut o = RegionOutcomes::default();
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
            o.add(&outcome);
        }
        let c = Counts::of(&o);
        assert_eq!(
            c,
            Counts {
                invited: 3,
                accepted: 2,
                already_members: 2,
                enabled_by_organization: 1,
                problems: 2,
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
