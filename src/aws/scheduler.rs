//! EventBridge Scheduler: the one-time schedule that retries an account whose member role is
//! not there yet.

use aws_sdk_scheduler::types::{
    ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, Target,
};

use super::Aws;
use crate::config::RetrySchedule;
use crate::error::{AwsError, FailureKind, Service};
use crate::retry::RetryPlan;

/// Whether the schedule was created now or already existed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheduled {
    Created,
    /// A schedule of that name is in the group (CreateSchedule's ConflictException): a replay
    /// of the same attempt, already scheduled.
    AlreadyThere,
}

impl Aws {
    /// Creates the one-time schedule of `plan` in the stack's group: it invokes the function
    /// once, at its time (no flexible window), and EventBridge Scheduler then deletes it.
    pub async fn create_retry_schedule(
        &self,
        retry: &RetrySchedule,
        plan: &RetryPlan,
    ) -> Result<Scheduled, AwsError> {
        let target = Target::builder()
            .arn(&retry.function_arn)
            .role_arn(&retry.role_arn)
            .input(&plan.input)
            .build()
            .map_err(|e| rejected(e.to_string()))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| rejected(e.to_string()))?;
        let sent = self
            .scheduler
            .create_schedule()
            .name(&plan.name)
            .group_name(&retry.group)
            .schedule_expression(&plan.expression)
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(target)
            .send();
        match self
            .call(
                Service::Scheduler,
                "CreateSchedule",
                Some(&self.home_region),
                sent,
            )
            .await
        {
            Ok(_) => Ok(Scheduled::Created),
            Err(e) if e.code.as_deref() == Some("ConflictException") => Ok(Scheduled::AlreadyThere),
            Err(e) => Err(e),
        }
    }
}

/// A request the SDK refuses to build (a required member missing): not sent, not retried.
fn rejected(message: String) -> AwsError {
    AwsError {
        service: Service::Scheduler,
        operation: "CreateSchedule",
        region: None,
        kind: FailureKind::Rejected,
        code: None,
        message,
    }
}
