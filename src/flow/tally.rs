//! What a run of the flow came to: each slot's decision logged, outcomes per region, the
//! problems to publish and the failures that make the run a retry.

use std::collections::BTreeMap;

use tracing::{info, warn};

use super::{Ran, Slot, Step};
use crate::error::AwsError;
use crate::report::{Outcome, Problem, RegionOutcomes};

#[derive(Debug, Default)]
pub struct Tally {
    pub per_region: BTreeMap<String, RegionOutcomes>,
    pub problems: Vec<Problem>,
    pub failures: Vec<AwsError>,
}

impl Ran<'_> {
    /// Every slot's decision logged, counted and sorted into problems and failures.
    pub fn tally(&self) -> Tally {
        let mut t = tally(&self.slots, Logging::Every);
        // Not logged: the run's error says each failure.
        t.failures.extend(self.failures.iter().cloned());
        t
    }
}

/// Which decisions are logged at info level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logging {
    Every,
    /// Only those where the run changed something or found a problem (a reconcile of a
    /// large organization is mostly accounts with nothing to do).
    Changes,
}

/// The tally of finished slots.
pub fn tally(slots: &[Slot<'_>], logging: Logging) -> Tally {
    let mut t = Tally::default();
    for s in slots {
        match &s.step {
            Step::Done(outcome) => {
                t.per_region
                    .entry(s.region.to_owned())
                    .or_default()
                    .add(outcome);
                let unchanged =
                    matches!(outcome, Outcome::AlreadyEnabled | Outcome::AlreadyInvited)
                        && !s.monitoring_started
                        && !s.plans_set
                        && !s.detector_resumed;
                if logging == Logging::Every || !unchanged {
                    log_decision(s.account_id().as_str(), s.region, outcome);
                }
                if let Outcome::Problem(p) = outcome {
                    t.problems.push((**p).clone());
                }
                if let Some(p) = &s.side_problem {
                    warn!(account_id = %p.account_id, region = s.region, operation = %p.operation, result = p.detail(), "problem beside the outcome");
                    t.problems.push((**p).clone());
                }
                t.failures.extend(s.pending.iter().map(|e| (**e).clone()));
            }
            Step::Retry(e) => t.failures.push((**e).clone()),
            // Not a failure of its own: the run's error says what the deadline left.
            Step::NotReached => {
                t.per_region
                    .entry(s.region.to_owned())
                    .or_default()
                    .not_reached += 1
            }
            // Every stage carries its slots to an outcome; anything else is a failed batch's.
            _ => {}
        }
    }
    t
}

impl Tally {
    /// By region, the accounts not reached before the deadline (none: the run finished).
    pub fn not_reached(&self) -> std::collections::BTreeMap<String, u64> {
        self.per_region
            .iter()
            .filter(|(_, c)| c.not_reached > 0)
            .map(|(r, c)| (r.clone(), c.not_reached))
            .collect()
    }

    /// Adds another tally's outcomes, problems and failures to this one.
    pub fn merge(&mut self, other: Tally) {
        for (region, c) in other.per_region {
            self.per_region.entry(region).or_default().merge(&c);
        }
        self.problems.extend(other.problems);
        self.failures.extend(other.failures);
    }
}

fn log_decision(account: &str, region: &str, outcome: &Outcome) {
    let label = outcome.label().as_str();
    match outcome {
        Outcome::Problem(p) => warn!(
            account_id = account,
            region,
            outcome = label,
            operation = %p.operation,
            result = p.detail(),
            "decision"
        ),
        Outcome::Invited { email_sent } => {
            info!(
                account_id = account,
                region,
                outcome = label,
                email_sent,
                "decision"
            )
        }
        _ => info!(account_id = account, region, outcome = label, "decision"),
    }
}
