//! The event handler: parse, then what the event asks for (an account event's stages, a
//! reconcile, or the preflight), within the time Lambda gives.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};

use crate::aws::Aws;
use crate::check::{self, CheckReport};
use crate::cli::CLI_SOURCE;
use crate::config::Config;
use crate::error::HandlerError;
use crate::event::{self, AccountRequest, Action, EventError, EventMeta, Request};
use crate::flow::resolve::resolve;
use crate::flow::retry::schedule_retries;
use crate::flow::Flow;
use crate::policy_store::PolicyStore;
use crate::publish;
use crate::reconcile::{self, ReconcileReport};
use crate::report::{fold_region_problems, Processed, Response};

/// Time kept back from the deadline to report a failure before Lambda kills the process.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(1500);
/// The time kept back from the budget to publish what a run found: from then on, no batch
/// starts. A fifth of the budget, at least `PUBLISH_RESERVE_MIN` (a normal publishing is a
/// few SNS, S3 and Security Hub calls of well under a second each) and at most
/// `PUBLISH_RESERVE_MAX` (the optional destinations and then SNS, each within the SDK's
/// operation timeout of 20 s), and never more than half the budget.
pub const PUBLISH_RESERVE_MIN: Duration = Duration::from_secs(5);
pub const PUBLISH_RESERVE_MAX: Duration = Duration::from_secs(45);
/// The time budget when the deadline is unknown: the deployed function's timeout.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(60);
/// No Lambda runs longer than this.
const MAX_BUDGET: Duration = Duration::from_secs(15 * 60);

pub struct App {
    pub config: Config,
    pub aws: Aws,
    pub policy: PolicyStore,
}

/// What an invocation answers, by the kind of event.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Reply {
    Event(Response),
    Reconcile(ReconcileReport),
    Check(CheckReport),
}

impl App {
    pub fn new(config: Config, aws: Aws) -> Self {
        Self {
            policy: PolicyStore::new(&config),
            config,
            aws,
        }
    }

    /// Handles one event of any kind; `deadline` is when Lambda would kill the invocation.
    pub async fn dispatch(
        &self,
        payload: Value,
        deadline: SystemTime,
    ) -> Result<Reply, HandlerError> {
        // Not logged: the invocation's error says it, once.
        let request = event::parse(payload)?;
        let budget = budget_until(deadline).saturating_sub(DEADLINE_MARGIN);
        let cutoff = cutoff_within(budget);
        match &request.action {
            Action::Skip { reason } => {
                info!(event_id = %request.meta.id, kind = ?request.kind, reason = %reason, "skipped event");
                Ok(Reply::Event(Response::skipped(
                    &request.meta,
                    request.kind,
                    reason,
                )))
            }
            Action::Invite(accounts) => within(
                budget,
                "the invitations and the notification",
                // Boxed, like the reconcile: the flow's future is deep.
                Box::pin(self.process(&request, accounts, cutoff)),
            )
            .await
            .map(Reply::Event),
            Action::Reconcile { dry_run } => {
                let options = reconcile::Options {
                    dry_run: *dry_run,
                    coverage_csv: false,
                    report_html: false,
                    // The one the budget gives (below).
                    cutoff: None,
                };
                self.reconcile(&request.meta, options, budget)
                    .await
                    .map(Reply::Reconcile)
            }
            Action::Check { account, policy } => {
                let input = self.policy_input(*policy).await;
                let run = check::run(&self.aws, &self.config, account.as_ref(), &input);
                let report = within(budget, "the checks", async { Ok(run.await) }).await?;
                // As an event (a schedule, a person's request), its failures go to the topic
                // like any problem; `guardduty-invite check` prints them and writes nothing.
                if request.meta.source != CLI_SOURCE {
                    self.publish_check(&request.meta, &report).await?;
                }
                Ok(Reply::Check(report))
            }
        }
    }

    /// The failed lines of a check on the topic, in the same readable forms as problems.
    async fn publish_check(
        &self,
        meta: &EventMeta,
        report: &CheckReport,
    ) -> Result<(), HandlerError> {
        let problems = check::failures(report);
        if problems.is_empty() {
            return Ok(());
        }
        let out = publish::Report {
            meta,
            problems: &problems,
            drift: &[],
            per_region: &BTreeMap::new(),
            now: SystemTime::now(),
            coverage: None,
            coverage_report: None,
            complete: false,
        };
        let delivered = [publish::sns::deliver(&self.aws, &self.config, &out).await];
        publish::settle(&delivered, &problems, &mut Vec::new()).map(|_| ())
    }

    /// The policy as the preflight sees it: read again, or why it cannot be.
    async fn policy_input(&self, list: bool) -> check::policy::PolicyInput {
        let loaded = match self.policy.parameter() {
            None => None,
            Some(name) => Some((
                name.to_owned(),
                self.policy
                    .fresh(&self.aws)
                    .await
                    .map_err(|e| e.to_string()),
            )),
        };
        check::policy::PolicyInput {
            loaded,
            short_form: std::sync::Arc::new(crate::policy::Policy::of_plan(
                self.config.plan.clone(),
            )),
            list,
        }
    }

    /// A reconcile within `budget` (the scheduled event's, or a person's from the command line).
    pub async fn reconcile(
        &self,
        meta: &event::EventMeta,
        options: reconcile::Options,
        budget: Duration,
    ) -> Result<ReconcileReport, HandlerError> {
        // A caller without a cut-off (the command line) gets the one its budget gives.
        let options = reconcile::Options {
            cutoff: options.cutoff.or_else(|| Some(cutoff_within(budget))),
            ..options
        };
        let run = async {
            // Read again at every reconcile: a changed policy applies from the next one.
            let policy = self.policy.fresh(&self.aws).await?;
            let protection = reconcile::Protection {
                policy: &policy,
                store: &self.policy,
            };
            reconcile::run(&self.aws, &self.config, protection, meta, options).await
        };
        // Boxed: the reconcile's future is deep, and the runtime's is deeper still.
        within(budget, "the reconcile", Box::pin(run)).await
    }

    /// Handles an account event (creation, manual request); other kinds are refused.
    pub async fn handle(
        &self,
        payload: Value,
        deadline: SystemTime,
    ) -> Result<Response, HandlerError> {
        match self.dispatch(payload, deadline).await? {
            Reply::Event(response) => Ok(response),
            _ => Err(HandlerError::InvalidEvent(EventError::Invalid {
                path: "detail-type".into(),
                reason: "not an account event".into(),
            })),
        }
    }

    /// The stages of an account event, in order; no batch starts from `cutoff` on.
    async fn process(
        &self,
        request: &Request,
        accounts: &[AccountRequest],
        cutoff: Instant,
    ) -> Result<Response, HandlerError> {
        let policy = self.policy.current(&self.aws).await?;
        let resolved = resolve(&self.aws, &policy, accounts).await;
        let ran = Flow::new(&self.aws, &self.config)
            .until(Some(cutoff))
            .run(&resolved.targets)
            .await;
        let tally = ran.tally();
        let not_reached = tally.not_reached();
        let mut problems = resolved.problems;
        problems.extend(tally.problems);
        let mut problems = fold_region_problems(problems, &HashMap::new());
        publish::sort(&mut problems);
        let mut failures = resolved.failures;
        failures.extend(tally.failures);
        failures.extend(schedule_retries(&self.aws, &self.config, &ran.slots).await);
        let report = publish::Report {
            meta: &request.meta,
            problems: &problems,
            drift: &[],
            per_region: &tally.per_region,
            now: SystemTime::now(),
            coverage: None,
            coverage_report: None,
            complete: false,
        };
        // Published even when the run failed in part: a problem is on the topic or in a
        // failed invocation, never only in a log.
        let delivered = publish::deliver_all(&self.aws, &self.config, &report).await;
        let published = publish::settle_in_time(&delivered, &problems, &mut failures, not_reached)?;
        let ids: Vec<_> = accounts.iter().map(|a| a.account_id.clone()).collect();
        Ok(Response::processed(Processed {
            meta: &request.meta,
            kind: request.kind,
            accounts: &ids,
            regions: &self.config.regions,
            outcomes: ran
                .slots
                .iter()
                .filter_map(|s| Some((s.account_id(), s.region_report()?)))
                .collect(),
            problems: &problems,
            message_ids: published.message_ids,
        }))
    }
}

/// Runs `work` within `budget`, or fails with the handler's own timeout (before Lambda's, so
/// that the event is retried and the failure says where it stopped).
async fn within<T>(
    budget: Duration,
    stage: &'static str,
    work: impl Future<Output = Result<T, HandlerError>>,
) -> Result<T, HandlerError> {
    match tokio::time::timeout(budget, work).await {
        Ok(result) => result,
        Err(_) => {
            let e = HandlerError::Timeout {
                budget_ms: budget.as_millis() as u64,
                stage,
            };
            Err(e)
        }
    }
}

/// The time kept back from `budget` to publish (see [`PUBLISH_RESERVE_MIN`]).
pub fn publish_reserve(budget: Duration) -> Duration {
    (budget / 5)
        .clamp(PUBLISH_RESERVE_MIN, PUBLISH_RESERVE_MAX)
        .min(budget / 2)
}

/// When a run with `budget` from now starts its last batch.
fn cutoff_within(budget: Duration) -> Instant {
    Instant::now() + budget.saturating_sub(publish_reserve(budget))
}

pub fn now_ms() -> u128 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_publish_reserve_is_a_fifth_of_the_budget_between_five_and_forty_five_seconds() {
        let s = Duration::from_secs;
        // The invite function: 60 s less the margin.
        assert_eq!(
            publish_reserve(Duration::from_millis(58_500)),
            Duration::from_millis(11_700)
        );
        // A reconcile of 15 minutes.
        assert_eq!(publish_reserve(s(898)), PUBLISH_RESERVE_MAX);
        assert_eq!(publish_reserve(s(20)), PUBLISH_RESERVE_MIN);
        // A short budget keeps half for the work.
        assert_eq!(publish_reserve(s(4)), s(2));
    }
}
