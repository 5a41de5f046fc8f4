//! CloudWatch Embedded Metric Format: one log line per region per run, turned into metrics
//! by CloudWatch Logs with no AWS call.

use std::time::UNIX_EPOCH;

use super::{Delivery, Report};
use crate::aws::Aws;
use crate::config::Config;
use crate::logging::emit_metrics;
use crate::metrics::{completion_line, emf_lines};

pub async fn deliver(_aws: &Aws, _config: &Config, report: &Report<'_>) -> Delivery {
    let ms = report
        .now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let mut lines = emf_lines(report.per_region, ms);
    // Only a reconcile is ever complete: it read the whole organization and every region.
    if report.complete {
        lines.push(completion_line(ms));
    }
    emit_metrics(&lines);
    Delivery::to("emf")
}
