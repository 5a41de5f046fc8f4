//! The last stage: every permanent problem goes to the SNS topic, split by size.

use tracing::{info, warn};

use crate::aws::Aws;
use crate::error::AwsError;
use crate::event::EventMeta;
use crate::notify::notifications;
use crate::report::Problem;

/// Puts problems in a stable order, so that a replay's message is the same (FIFO topics
/// deduplicate on it).
pub fn sort(problems: &mut [Problem]) {
    problems.sort_by(|a, b| {
        (&a.account_id, &a.region, &a.operation).cmp(&(&b.account_id, &b.region, &b.operation))
    });
}

/// Publishes the problems (none: no call); the SNS message ids, or the failure that stopped
/// the publication (the run must then be retried, and the retry publishes them all again).
pub async fn publish(
    aws: &Aws,
    topic_arn: &str,
    meta: &EventMeta,
    problems: &[Problem],
) -> Result<Vec<String>, AwsError> {
    if problems.is_empty() {
        return Ok(Vec::new());
    }
    let mut message_ids = Vec::new();
    for n in notifications(topic_arn, meta, problems) {
        match aws.publish(topic_arn, &n).await {
            Ok(id) => message_ids.push(id),
            Err(e) => {
                warn!(error = %e, problems = problems.len(), "could not publish problems");
                return Err(e);
            }
        }
    }
    info!(event_id = %meta.id, problems = problems.len(), "published problems");
    Ok(message_ids)
}
