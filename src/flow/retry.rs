//! After an account event's flow: one retry schedule per account whose member role is not
//! there yet (pending in any region; the retry runs every region again).

use std::collections::BTreeSet;
use std::time::SystemTime;

use futures::future::join_all;
use tracing::info;

use super::{Slot, Step};
use crate::account::AccountId;
use crate::aws::{Aws, Scheduled};
use crate::config::{Config, RetrySchedule};
use crate::error::{AwsError, FailureKind, Service};
use crate::report::Outcome;
use crate::retry;

/// Schedules the retries; a schedule not created is a failure of the invocation, so that
/// Lambda retries the event rather than the account being left waiting for nothing.
pub async fn schedule_retries(aws: &Aws, config: &Config, slots: &[Slot<'_>]) -> Vec<AwsError> {
    let Some(retry) = &config.retry else {
        return Vec::new();
    };
    let pending: BTreeSet<&AccountId> = slots
        .iter()
        .filter(|s| matches!(s.step, Step::Done(Outcome::RolePending { .. })))
        .map(Slot::account_id)
        .collect();
    let now = SystemTime::now();
    let scheduled = pending
        .into_iter()
        .map(|account| schedule_one(aws, retry, account, now));
    join_all(scheduled)
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect()
}

async fn schedule_one(
    aws: &Aws,
    retry: &RetrySchedule,
    account: &AccountId,
    now: SystemTime,
) -> Result<(), AwsError> {
    let plan = retry::plan(account, now, &retry.function_arn).ok_or_else(|| AwsError {
        service: Service::Scheduler,
        operation: "CreateSchedule",
        region: None,
        kind: FailureKind::Rejected,
        code: None,
        message: format!(
            "the retry time of account {account} cannot be written: the clock is out of range"
        ),
    })?;
    let done = aws.create_retry_schedule(retry, &plan).await?;
    info!(
        account_id = %account,
        schedule = %plan.name,
        at = %plan.expression,
        already_there = done == Scheduled::AlreadyThere,
        "member role not there yet: retry scheduled"
    );
    Ok(())
}
