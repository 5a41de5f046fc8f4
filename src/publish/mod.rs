//! Where a run's results leave the process. Every destination is a module of its own behind
//! one shape, `deliver(aws, config, report) -> Delivery`, so a new destination is a new
//! module and one line in [`deliver_all`], and no stage of the flow changes:
//!
//! - `security_hub`: problems and drift as findings, archived once gone (optional);
//! - `s3`: the coverage report of a reconcile (optional);
//! - `sns`: the problems and drift on the topic, split by SNS's size limit, a message per
//!   kind of subscriber (`notify`: JSON, `email`: plain text, `chat`: a chat channel's card);
//! - `emf`: the per-region counts as CloudWatch Embedded Metric Format lines.

pub mod chat;
pub mod email;
pub mod emf;
pub mod html;
pub mod metrics;
pub mod notify;
pub mod s3;
pub mod security_hub;
pub mod sns;

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::aws::Aws;
use crate::config::Config;
use crate::error::{AwsError, HandlerError, Published};
use crate::event::EventMeta;
use crate::report::{Drift, Problem, RegionOutcomes};

/// What a run has to say, for every destination.
pub struct Report<'r> {
    pub meta: &'r EventMeta,
    /// In a stable order (see [`sort`]).
    pub problems: &'r [Problem],
    pub drift: &'r [Drift],
    pub per_region: &'r BTreeMap<String, RegionOutcomes>,
    pub now: SystemTime,
    /// A reconcile's coverage report.
    pub coverage: Option<CoverageCsv<'r>>,
    /// Where the coverage report was written (set by [`deliver_all`] for the topic).
    pub coverage_report: Option<&'r str>,
    /// A whole reconcile that finished everything: what it no longer finds is gone (Security
    /// Hub archives those findings). An event sees only its accounts; a failed run, only part.
    pub complete: bool,
}

/// A reconcile's coverage report, as CSV, and when the run started (the report's date).
#[derive(Clone, Copy)]
pub struct CoverageCsv<'r> {
    pub csv: &'r str,
    pub started: SystemTime,
    /// The same report as one HTML page, and the day's summary for later reports' trend.
    pub html: Option<&'r str>,
    pub summary: Option<&'r html::DaySummary>,
}

/// What one destination took.
#[derive(Debug, Default)]
pub struct Delivery {
    pub destination: &'static str,
    /// The ids or addresses the destination gave (SNS message ids, the S3 object).
    pub ids: Vec<String>,
    /// How many of the report's problems it holds now.
    pub problems: usize,
    /// A lasting condition of the destination itself (Security Hub not enabled), for the
    /// topic like any other problem.
    pub found: Vec<Problem>,
    /// Why it did not take everything: the run must be retried.
    pub failure: Option<AwsError>,
}

impl Delivery {
    fn to(destination: &'static str) -> Self {
        Self {
            destination,
            ..Self::default()
        }
    }
}

/// Hands the report to every destination; each says what it took. The optional
/// destinations go first, so that a problem of theirs reaches the topic, and the metrics,
/// too.
pub async fn deliver_all(aws: &Aws, config: &Config, report: &Report<'_>) -> Vec<Delivery> {
    let (hub, s3) = tokio::join!(
        security_hub::deliver(aws, config, report),
        s3::deliver(aws, config, report),
    );
    let mut problems = report.problems.to_vec();
    problems.extend([&hub, &s3].iter().flat_map(|d| d.found.clone()));
    let all = Report {
        problems: &problems,
        coverage_report: s3.ids.first().map(String::as_str),
        ..*report
    };
    let (sns, emf) = tokio::join!(
        sns::deliver(aws, config, &all),
        emf::deliver(aws, config, &all)
    );
    vec![sns, hub, s3, emf]
}

/// What the destinations took, or the failure of the run (what failed, and how many problems
/// were published and where) when any work or any destination failed.
pub fn settle(
    delivered: &[Delivery],
    problems: &[Problem],
    failures: &mut Vec<AwsError>,
) -> Result<Published, HandlerError> {
    let sns = delivered.iter().find(|d| d.destination == "sns");
    let on_topic = sns.map_or(0, |d| d.problems);
    let published = Published {
        problems: on_topic,
        message_ids: sns.map(|d| d.ids.clone()).unwrap_or_default(),
        unpublished: problems.len().saturating_sub(on_topic),
        partial_coverage_report: None,
    };
    failures.extend(delivered.iter().filter_map(|d| d.failure.clone()));
    if failures.is_empty() {
        return Ok(published);
    }
    Err(HandlerError::Incomplete {
        failures: std::mem::take(failures),
        published: Published {
            partial_coverage_report: partial_report(delivered),
            ..published
        },
    })
}

/// Where a run whose work failed in part, or was cut short, wrote its partial coverage report
/// (see `s3`), for its failure to say. (A run that failed only in delivering wrote the
/// complete one.)
fn partial_report(delivered: &[Delivery]) -> Option<String> {
    delivered
        .iter()
        .find(|d| d.destination == "s3")
        .and_then(|d| d.ids.first())
        .filter(|id| id.ends_with(s3::PARTIAL_SUFFIX))
        .cloned()
}

/// As [`settle`], for a run that may have stopped at its cut-off: with accounts not reached
/// (by region), the run fails as cut by the deadline, saying what it published.
pub fn settle_in_time(
    delivered: &[Delivery],
    problems: &[Problem],
    failures: &mut Vec<AwsError>,
    not_reached: BTreeMap<String, u64>,
) -> Result<Published, HandlerError> {
    let settled = settle(delivered, problems, failures);
    if not_reached.is_empty() {
        return settled;
    }
    let (failures, published) = match settled {
        Ok(published) => (Vec::new(), published),
        Err(HandlerError::Incomplete {
            failures,
            published,
        }) => (failures, published),
        Err(other) => return Err(other),
    };
    Err(HandlerError::DeadlineReached {
        not_reached,
        failures,
        published: Published {
            partial_coverage_report: partial_report(delivered),
            ..published
        },
    })
}

/// Puts problems in a stable order, so that a replay's message is the same (FIFO topics
/// deduplicate on it).
pub fn sort(problems: &mut [Problem]) {
    problems.sort_by(|a, b| {
        (&a.account_id, &a.region, &a.operation).cmp(&(&b.account_id, &b.region, &b.operation))
    });
}
