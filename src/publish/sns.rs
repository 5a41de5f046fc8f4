//! The problems on the SNS topic, split by SNS's size limit into parts published in order.
//! A part that cannot be published stops the rest: the delivery says how many problems are
//! on the topic and in which messages, and the retry of the run publishes them all again
//! (a retry may repeat a problem; it never loses one).

use tracing::info;

use super::notify::notifications;
use super::{Delivery, Report};
use crate::aws::Aws;
use crate::config::Config;

pub async fn deliver(aws: &Aws, config: &Config, report: &Report<'_>) -> Delivery {
    let mut delivery = Delivery::to("sns");
    if report.problems.is_empty() && report.drift.is_empty() {
        return delivery;
    }
    for n in notifications(
        &config.topic_arn,
        report.meta,
        report.problems,
        report.drift,
        report.coverage_report,
    ) {
        match aws.publish(&config.topic_arn, &n.message).await {
            Ok(id) => {
                delivery.ids.push(id);
                delivery.problems += n.problems;
            }
            Err(e) => {
                // Not logged: the run's error says it, with what was published. Each
                // problem itself is logged where it was found.
                delivery.failure = Some(e);
                return delivery;
            }
        }
    }
    info!(event_id = %report.meta.id, problems = report.problems.len(), drift = report.drift.len(), "published problems and drift");
    delivery
}
