//! The event handler: parse, resolve emails, invite per region concurrently, publish problems.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::stream::{self, StreamExt};
use serde_json::Value;
use tracing::{info, warn};

use crate::account::{sanitize_name, AccountId, Email};
use crate::aws::Aws;
use crate::config::Config;
use crate::error::{AwsError, HandlerError};
use crate::event::{self, AccountRequest, Action, Request};
use crate::invite::{run_batch, BatchResult, Target, BATCH_SIZE, MAX_CONCURRENT_CALLS};
use crate::metrics::{emf_lines, Counts};
use crate::notify::notifications;
use crate::report::{AccountReport, Outcome, Problem, RegionReport, Response};

/// Time kept back from the deadline to report a failure before Lambda kills the process.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(1500);

/// An account's email lookup: a target to invite, a permanent problem, or a failed call.
type Resolution = Result<Result<Target, Problem>, AwsError>;

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
        deadline: Instant,
    ) -> Result<Response, HandlerError> {
        let request = event::parse(payload).inspect_err(|e| warn!(error = %e, "rejected event"))?;
        let accounts = match &request.action {
            Action::Skip { reason } => {
                info!(event_id = %request.meta.id, kind = ?request.kind, reason = %reason, "skipped event");
                return Ok(Response::skipped(&request.meta, request.kind, reason));
            }
            Action::Invite(accounts) => accounts,
        };
        let budget = deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(DEADLINE_MARGIN);
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

    async fn process(
        &self,
        request: &Request,
        accounts: &[AccountRequest],
    ) -> Result<Response, HandlerError> {
        let (targets, mut problems, mut failures) = self.resolve(accounts).await;

        let batches: Vec<(&str, &[Target])> = self
            .config
            .regions
            .iter()
            .flat_map(|r| targets.chunks(BATCH_SIZE).map(move |c| (r.as_str(), c)))
            .collect();
        let results: Vec<Result<BatchResult, AwsError>> = stream::iter(batches)
            .map(|(region, batch)| run_batch(&self.aws, &self.config, region, batch))
            .buffer_unordered(MAX_CONCURRENT_CALLS)
            .collect()
            .await;

        let mut per_region: BTreeMap<String, Counts> = BTreeMap::new();
        let mut outcomes: HashMap<(String, String), (Option<String>, Outcome)> = HashMap::new();
        for result in results {
            match result {
                Ok(batch) => {
                    let counts = per_region.entry(batch.region.clone()).or_default();
                    for (account, outcome) in batch.outcomes {
                        counts.add(&outcome);
                        log_decision(&account, &batch.region, &outcome);
                        if let Outcome::Problem(p) = &outcome {
                            problems.push(p.clone());
                        }
                        outcomes.insert(
                            (account.to_string(), batch.region.clone()),
                            (batch.detector_id.clone(), outcome),
                        );
                    }
                }
                Err(e) => {
                    warn!(error = %e, "AWS call failed after retries");
                    failures.push(e);
                }
            }
        }
        for line in emf_lines(&per_region, now_ms()) {
            eprintln!("{line}");
        }
        if !failures.is_empty() {
            // Not published: the retry of this event finds the same problems and publishes them.
            return Err(HandlerError::Incomplete { failures, problems });
        }

        // A stable order makes the message identical across replays (FIFO deduplication).
        problems.sort_by(|a, b| {
            (&a.account_id, &a.region, &a.operation).cmp(&(&b.account_id, &b.region, &b.operation))
        });
        let mut message_ids = Vec::new();
        if !problems.is_empty() {
            for n in notifications(&self.config.topic_arn, &request.meta, &problems) {
                match self.aws.publish(&self.config.topic_arn, &n).await {
                    Ok(id) => message_ids.push(id),
                    Err(e) => {
                        warn!(error = %e, problems = problems.len(), "could not publish problems");
                        return Err(HandlerError::Incomplete {
                            failures: vec![e],
                            problems,
                        });
                    }
                }
            }
            info!(event_id = %request.meta.id, problems = problems.len(), "published problems");
        }

        // Problems before any region (no email to be found), by account.
        let account_problems: HashMap<&str, &str> = problems
            .iter()
            .filter(|p| p.region.is_none())
            .map(|p| (p.account_id.as_str(), p.reason.as_str()))
            .collect();
        let reports = accounts
            .iter()
            .map(|a| {
                let id = a.account_id.to_string();
                let account_problem = account_problems.get(id.as_str()).map(|r| r.to_string());
                let regions = self
                    .config
                    .regions
                    .iter()
                    .filter_map(|r| {
                        outcomes
                            .get(&(id.clone(), r.clone()))
                            .map(|(det, o)| RegionReport::new(r, det.as_deref(), o))
                    })
                    .collect();
                AccountReport {
                    account_id: id,
                    problem: account_problem,
                    regions,
                }
            })
            .collect();
        Ok(Response {
            event_id: request.meta.id.clone(),
            source: request.meta.source.clone(),
            detail_type: request.meta.detail_type.clone(),
            event_kind: request.kind,
            status: "processed",
            skip_reason: None,
            accounts: reports,
            problems: problems.len(),
            notification_message_ids: message_ids,
        })
    }

    /// Finds each account's email: given by a manual request, else from Organizations.
    async fn resolve(
        &self,
        accounts: &[AccountRequest],
    ) -> (Vec<Target>, Vec<Problem>, Vec<AwsError>) {
        // `buffered` keeps the request's order, so targets are batched in that order.
        let looked_up: Vec<Resolution> = stream::iter(accounts)
            .map(|a| self.resolve_one(a))
            .buffered(MAX_CONCURRENT_CALLS)
            .collect()
            .await;
        let (mut targets, mut problems, mut failures) = (Vec::new(), Vec::new(), Vec::new());
        for r in looked_up {
            match r {
                Ok(Ok(t)) => targets.push(t),
                Ok(Err(p)) => {
                    warn!(account_id = %p.account_id, reason = %p.reason, "no email for account");
                    problems.push(p)
                }
                Err(e) => failures.push(e),
            }
        }
        (targets, problems, failures)
    }

    async fn resolve_one(&self, a: &AccountRequest) -> Resolution {
        let target = |email: Email, name: Option<String>| Target {
            account_id: a.account_id.clone(),
            email,
            name: name.unwrap_or_else(|| a.account_id.to_string()),
        };
        if let Some(email) = &a.email {
            return Ok(Ok(target(email.clone(), a.name.clone())));
        }
        let id = a.account_id.as_str();
        let Some(found) = self.aws.describe_account(&a.account_id).await? else {
            return Ok(Err(Problem::new(
                id,
                "DescribeAccount",
                "Organizations does not know this account, so its email cannot be found: for an account outside the \
                 organization, send a GuardDuty Invite Request that gives its email",
            )));
        };
        let Some(raw_email) = found.email else {
            return Ok(Err(Problem::new(
                id,
                "DescribeAccount",
                "Organizations returned the account without an email address",
            )));
        };
        match Email::parse(&raw_email) {
            Ok(email) => {
                let name = a.name.clone().or_else(|| {
                    found
                        .name
                        .map(|n| sanitize_name(&n))
                        .filter(|n| !n.is_empty())
                });
                Ok(Ok(target(email, name)))
            }
            Err(why) => Ok(Err(Problem::new(
                id,
                "DescribeAccount",
                format!("the account's {why}, so GuardDuty cannot invite it"),
            ))),
        }
    }
}

fn log_decision(account: &AccountId, region: &str, outcome: &Outcome) {
    match outcome {
        Outcome::Problem(p) => warn!(
            account_id = %account,
            region,
            outcome = outcome.label(),
            operation = %p.operation,
            result = p.result.as_deref().unwrap_or(&p.reason),
            "decision"
        ),
        Outcome::Invited { email_sent } => {
            info!(account_id = %account, region, outcome = outcome.label(), email_sent, "decision")
        }
        _ => info!(account_id = %account, region, outcome = outcome.label(), "decision"),
    }
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

/// Converts Lambda's deadline (milliseconds since the epoch) into an `Instant`.
pub fn deadline_from_epoch_ms(deadline_ms: u64) -> Instant {
    let now = now_ms();
    let remaining = u128::from(deadline_ms).saturating_sub(now);
    Instant::now()
        + Duration::from_millis(
            u64::try_from(remaining)
                .unwrap_or(u64::MAX)
                .min(15 * 60 * 1000),
        )
}
