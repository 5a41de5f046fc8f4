//! CloudWatch Embedded Metric Format: one log line per region per run, turned into metrics
//! by CloudWatch Logs with no AWS call.

use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

use super::metrics::{completion_line, emf_lines, Counts};
use super::{Delivery, Report};
use crate::aws::Aws;
use crate::config::Config;
use crate::logging::emit_metrics;
use crate::report::{Problem, RegionOutcomes, WHOLE_REGION};

/// The `Region` value of the problems that belong to no region: an account Organizations does
/// not know, the organization's own, an output's (Security Hub, S3).
pub const NO_REGION: &str = "global";

pub async fn deliver(_aws: &Aws, _config: &Config, report: &Report<'_>) -> Delivery {
    let ms = report
        .now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let mut lines = emf_lines(&with_problems(report.per_region, report.problems), ms);
    // Only a reconcile is ever complete: it read the whole organization and every region.
    if report.complete {
        lines.push(completion_line(ms));
    }
    emit_metrics(&lines);
    Delivery::to("emf")
}

/// The per-region counts of what the run came to, with `Problems` as published: every
/// problem on the topic, by its region (a region-level problem counts the accounts it stands
/// for), those of no region under [`NO_REGION`].
fn with_problems(
    per_region: &BTreeMap<String, RegionOutcomes>,
    problems: &[Problem],
) -> BTreeMap<String, Counts> {
    let mut counts: BTreeMap<String, Counts> = per_region
        .iter()
        .map(|(region, o)| (region.clone(), Counts::of(o)))
        .collect();
    for c in counts.values_mut() {
        c.problems = 0;
    }
    for p in problems {
        let region = p.region.clone().unwrap_or_else(|| NO_REGION.to_owned());
        let n = if p.account_id == WHOLE_REGION {
            p.affected_accounts.unwrap_or(1)
        } else {
            1
        };
        counts.entry(region).or_default().problems += n as u64;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Outcome;

    #[test]
    fn every_published_problem_is_counted_where_it_belongs() {
        let problem = Outcome::Problem(Box::new(Problem::new("1", "CreateMembers", "r")));
        let mut us = RegionOutcomes::default();
        for outcome in [&problem, &problem, &Outcome::Invited { email_sent: true }] {
            us.add(outcome);
        }
        us.add(&Outcome::Invited { email_sent: false });
        let mut eu = RegionOutcomes::default();
        eu.add(&problem);
        let per_region =
            BTreeMap::from([("us-east-1".to_owned(), us), ("eu-west-1".to_owned(), eu)]);
        let mut folded =
            Problem::new(WHOLE_REGION, "ListDetectors", "no detector").in_region("eu-west-1", None);
        folded.affected_accounts = Some(40);
        let problems = [
            Problem::new("111122223333", "AssumeRole", "role missing").in_region("us-east-1", None),
            Problem::new("111122223333", "UpdateMemberDetectors", "refused")
                .in_region("us-east-1", None),
            Problem::new("222233334444", "DescribeAccount", "not in the organization"),
            folded,
        ];
        let counts = with_problems(&per_region, &problems);
        assert_eq!(counts["us-east-1"].problems, 2);
        assert_eq!(counts["us-east-1"].invited, 2, "the other counts stay");
        assert_eq!(counts["eu-west-1"].problems, 40);
        assert_eq!(counts[NO_REGION].problems, 1);
    }
}
