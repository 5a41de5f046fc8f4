//! The event handler: parse, then the stages of the flow, then publish and report.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tracing::{info, warn};

use crate::aws::Aws;
use crate::config::Config;
use crate::error::{AwsError, HandlerError};
use crate::event::{self, AccountRequest, Action, Request};
use crate::flow::publish::{self, publish};
use crate::flow::resolve::resolve;
use crate::flow::{Flow, Ran, Step};
use crate::logging::emit_metrics;
use crate::metrics::{emf_lines, Counts};
use crate::report::{Outcome, Problem, Processed, Response};

/// Time kept back from the deadline to report a failure before Lambda kills the process.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(1500);
/// The time budget when the deadline is unknown: the deployed function's timeout.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(60);
/// No Lambda runs longer than this.
const MAX_BUDGET: Duration = Duration::from_secs(15 * 60);

pub struct App {
    pub config: Config,
    pub aws: Aws,
}

impl App {
    pub fn new(config: Config, aws: Aws) -> Self {
        Self { config, aws }
    }

    /// Handles one event; `deadline` is when Lambda would kill the invocation.
    pub async fn handle(
        &self,
        payload: Value,
        deadline: SystemTime,
    ) -> Result<Response, HandlerError> {
        let request = event::parse(payload).inspect_err(|e| warn!(error = %e, "rejected event"))?;
        let accounts = match &request.action {
            Action::Skip { reason } => {
                info!(event_id = %request.meta.id, kind = ?request.kind, reason = %reason, "skipped event");
                return Ok(Response::skipped(&request.meta, request.kind, reason));
            }
            Action::Invite(accounts) => accounts,
        };
        let budget = budget_until(deadline).saturating_sub(DEADLINE_MARGIN);
        match tokio::time::timeout(budget, self.process(&request, accounts)).await {
            Ok(result) => result,
            Err(_) => {
                let e = HandlerError::Timeout {
                    budget_ms: budget.as_millis() as u64,
                    stage: "the invitations and the notification",
                };
                warn!(event_id = %request.meta.id, error = %e, "invocation out of time");
                Err(e)
            }
        }
    }

    /// The stages of an account event, in order.
    async fn process(
        &self,
        request: &Request,
        accounts: &[AccountRequest],
    ) -> Result<Response, HandlerError> {
        let resolved = resolve(&self.aws, accounts).await;
        let ran = Flow::new(&self.aws, &self.config)
            .run(&resolved.targets)
            .await;
        let mut problems = resolved.problems;
        let mut failures = resolved.failures;
        tally(&ran, &mut problems, &mut failures);
        if !failures.is_empty() {
            // Not published: the retry of this event finds the same problems and publishes them.
            return Err(HandlerError::Incomplete { failures, problems });
        }
        publish::sort(&mut problems);
        let message_ids = publish(&self.aws, &self.config.topic_arn, &request.meta, &problems)
            .await
            .map_err(|e| HandlerError::Incomplete {
                failures: vec![e],
                problems: problems.clone(),
            })?;
        let ids: Vec<_> = accounts.iter().map(|a| a.account_id.clone()).collect();
        Ok(Response::processed(Processed {
            meta: &request.meta,
            kind: request.kind,
            accounts: &ids,
            regions: &self.config.regions,
            outcomes: ran
                .slots
                .iter()
                .filter_map(|s| match &s.step {
                    Step::Done(o) => Some((s.account_id(), s.region, s.detector_id.as_deref(), o)),
                    _ => None,
                })
                .collect(),
            problems: &problems,
            message_ids,
        }))
    }
}

/// Logs each slot's decision, emits the per-region metrics, and collects the problems and
/// the failures of the run.
fn tally(ran: &Ran<'_>, problems: &mut Vec<Problem>, failures: &mut Vec<AwsError>) {
    let mut per_region: BTreeMap<String, Counts> = BTreeMap::new();
    for s in &ran.slots {
        match &s.step {
            Step::Done(outcome) => {
                per_region
                    .entry(s.region.to_owned())
                    .or_default()
                    .add(outcome);
                log_decision(s.account_id().as_str(), s.region, outcome);
                if let Outcome::Problem(p) = outcome {
                    problems.push(p.clone());
                }
            }
            Step::Retry(e) => failures.push(e.clone()),
            // Every stage carries its slots to an outcome; anything else is a failed batch's.
            _ => {}
        }
    }
    for e in &ran.failures {
        warn!(error = %e, "AWS call failed after retries");
    }
    failures.extend(ran.failures.iter().cloned());
    emit_metrics(&emf_lines(&per_region, now_ms()));
}

fn log_decision(account: &str, region: &str, outcome: &Outcome) {
    let label = outcome.label();
    match outcome {
        Outcome::Problem(p) => warn!(
            account_id = account,
            region,
            outcome = label.as_str(),
            operation = %p.operation,
            result = p.detail(),
            "decision"
        ),
        Outcome::Invited { email_sent } => {
            info!(
                account_id = account,
                region,
                outcome = label.as_str(),
                email_sent,
                "decision"
            )
        }
        _ => info!(
            account_id = account,
            region,
            outcome = label.as_str(),
            "decision"
        ),
    }
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

/// The time left until `deadline`. A deadline already past when the event arrives cannot be
/// real (`cargo lambda watch` sends a constant, not an epoch time): it is taken as unknown,
/// with the deployed function's budget.
pub fn budget_until(deadline: SystemTime) -> Duration {
    match deadline.duration_since(SystemTime::now()) {
        Ok(left) if !left.is_zero() => left.min(MAX_BUDGET),
        _ => {
            warn!(
                budget_s = DEFAULT_BUDGET.as_secs(),
                "the runtime's deadline has already passed, so it is not a real deadline: using the default budget"
            );
            DEFAULT_BUDGET
        }
    }
}
