//! Where a run's results leave the process. Every destination is a module of its own behind
//! one shape, [`deliver`]`(aws, config, report) -> Delivery`, so a new destination is a new
//! module and one line in [`deliver_all`], and no stage of the flow changes:
//!
//! - `sns`: the problems (and drift) on the topic, split by SNS's size limit;
//! - `emf`: the per-region counts as CloudWatch Embedded Metric Format lines.

pub mod emf;
pub mod sns;

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::aws::Aws;
use crate::config::Config;
use crate::error::AwsError;
use crate::event::EventMeta;
use crate::metrics::Counts;
use crate::report::Problem;

/// What a run has to say, for every destination.
pub struct Report<'r> {
    pub meta: &'r EventMeta,
    /// In a stable order (see [`sort`]).
    pub problems: &'r [Problem],
    pub per_region: &'r BTreeMap<String, Counts>,
    pub now: SystemTime,
}

/// What one destination took.
#[derive(Debug, Default)]
pub struct Delivery {
    pub destination: &'static str,
    /// The ids the destination gave (SNS message ids).
    pub ids: Vec<String>,
    /// How many of the report's problems it holds now.
    pub problems: usize,
    /// Why it did not take everything: the run must be retried.
    pub failure: Option<AwsError>,
}

/// Hands the report to every destination; each says what it took.
pub async fn deliver_all(aws: &Aws, config: &Config, report: &Report<'_>) -> Vec<Delivery> {
    let (sns, emf) = tokio::join!(
        sns::deliver(aws, config, report),
        emf::deliver(aws, config, report)
    );
    vec![sns, emf]
}

/// Puts problems in a stable order, so that a replay's message is the same (FIFO topics
/// deduplicate on it).
pub fn sort(problems: &mut [Problem]) {
    problems.sort_by(|a, b| {
        (&a.account_id, &a.region, &a.operation).cmp(&(&b.account_id, &b.region, &b.operation))
    });
}
