//! CloudWatch Embedded Metric Format: one log line per region per invocation, turned into
//! metrics by CloudWatch Logs with no extra API call.

use std::collections::BTreeMap;

use serde_json::json;

use crate::report::Outcome;

pub const NAMESPACE: &str = "GuardDutyInvite";

/// Every metric the function writes (dimension `Region`); the template's dashboard may show
/// only these (a test reads the template against this list).
pub const METRIC_NAMES: &[&str] = &[
    "AccountsInvited",
    "AccountsAccepted",
    "AlreadyMembers",
    "EnabledByOrganization",
    "Problems",
    "UnprotectedAccounts",
];

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub invited: u64,
    pub already_members: u64,
    pub enabled_by_organization: u64,
    pub problems: u64,
}

impl Counts {
    pub fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Invited { .. } => self.invited += 1,
            Outcome::AlreadyInvited { .. } | Outcome::AlreadyEnabled => self.already_members += 1,
            Outcome::EnabledByOrganization => self.enabled_by_organization += 1,
            Outcome::Problem(_) => self.problems += 1,
        }
    }
}

/// EMF lines for per-region counts; `timestamp_ms` is the invocation's time.
pub fn emf_lines(per_region: &BTreeMap<String, Counts>, timestamp_ms: u128) -> Vec<String> {
    per_region
        .iter()
        .map(|(region, c)| {
            json!({
                "_aws": {
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [{
                        "Namespace": NAMESPACE,
                        "Dimensions": [["Region"]],
                        "Metrics": [
                            {"Name": "AccountsInvited", "Unit": "Count"},
                            {"Name": "AlreadyMembers", "Unit": "Count"},
                            {"Name": "EnabledByOrganization", "Unit": "Count"},
                            {"Name": "Problems", "Unit": "Count"}
                        ]
                    }]
                },
                "Region": region,
                "AccountsInvited": c.invited,
                "AlreadyMembers": c.already_members,
                "EnabledByOrganization": c.enabled_by_organization,
                "Problems": c.problems,
            })
            .to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
