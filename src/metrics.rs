//! CloudWatch Embedded Metric Format: one log line per region per invocation, turned into
//! metrics by CloudWatch Logs with no extra API call.

use std::collections::BTreeMap;

use serde_json::json;

use crate::report::Outcome;

pub const NAMESPACE: &str = "GuardDutyInvite";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub invited: u64,
    pub accepted: u64,
    pub already_members: u64,
    pub enabled_by_organization: u64,
    pub problems: u64,
}

impl Counts {
    pub fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Invited { .. } => self.invited += 1,
            Outcome::Accepted => self.accepted += 1,
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
                            {"Name": "AccountsAccepted", "Unit": "Count"},
                            {"Name": "AlreadyMembers", "Unit": "Count"},
                            {"Name": "EnabledByOrganization", "Unit": "Count"},
                            {"Name": "Problems", "Unit": "Count"}
                        ]
                    }]
                },
                "Region": region,
                "AccountsInvited": c.invited,
                "AccountsAccepted": c.accepted,
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

    #[test]
    fn every_outcome_counts_under_its_own_metric() {
        let problem = crate::report::Problem::new("111122223333", "CreateMembers", "r");
        let mut c = Counts::default();
        for outcome in [
            Outcome::Invited { email_sent: false },
            Outcome::Invited { email_sent: true },
            Outcome::Accepted,
            Outcome::AlreadyInvited { status: None },
            Outcome::AlreadyEnabled,
            Outcome::EnabledByOrganization,
            Outcome::Problem(problem.clone()),
            Outcome::Problem(problem),
        ] {
            c.add(&outcome);
        }
        assert_eq!(
            c,
            Counts {
                invited: 2,
                accepted: 1,
                already_members: 2,
                enabled_by_organization: 1,
                problems: 2,
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
        assert_eq!(v[1]["AccountsAccepted"], 1);
        assert_eq!(v[1]["EnabledByOrganization"], 1);
        assert_eq!(v[1]["Problems"], 2);
        assert_eq!(v[0]["Problems"], 0);
        assert_eq!(v[0]["_aws"]["Timestamp"], 7);
    }
}
