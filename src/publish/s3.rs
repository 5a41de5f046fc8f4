//! A reconcile's coverage report in the stack's bucket: the daily evidence an auditor asks
//! for. A complete run writes `coverage/YYYY-MM-DD.csv`; a run that failed in part writes
//! `coverage/YYYY-MM-DD.partial.csv`, so that it never replaces the day's complete report
//! (the function may not read the bucket, so it cannot check for one: the name keeps them
//! apart). The date is the run's start, in UTC.

use std::time::SystemTime;

use aws_sdk_guardduty::primitives::{DateTime, DateTimeFormat};

use super::{Delivery, Report};
use crate::aws::Aws;
use crate::config::Config;
use crate::error::FailureKind;
use crate::report::{Problem, WHOLE_REGION};

pub async fn deliver(aws: &Aws, config: &Config, report: &Report<'_>) -> Delivery {
    let mut d = Delivery::to("s3");
    let (Some(bucket), Some(coverage)) = (&config.coverage_bucket, report.coverage) else {
        return d;
    };
    let key = key_for(coverage.started, report.complete);
    match aws.put_object(bucket, &key, coverage.csv).await {
        Ok(()) => d.ids.push(format!("s3://{bucket}/{key}")),
        Err(e) if e.kind == FailureKind::Transient => d.failure = Some(e),
        Err(e) => d.found.push(
            Problem::new(
                WHOLE_REGION,
                "PutObject",
                format!(
                    "the coverage report could not be written to s3://{bucket}/{key}: check that the bucket exists and \
                     that the function may put objects under coverage/ (and use the bucket's KMS key)"
                ),
            )
            .with_result(e.message),
        ),
    }
    d
}

/// How a partial report's key ends.
pub const PARTIAL_SUFFIX: &str = ".partial.csv";

/// `coverage/YYYY-MM-DD.csv` for a complete run, `coverage/YYYY-MM-DD.partial.csv` for one
/// that failed in part; the date of the run's start in UTC (a run that crosses midnight
/// reports the day it started).
pub fn key_for(started: SystemTime, complete: bool) -> String {
    let stamp = DateTime::from(started)
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_default();
    let date = stamp.get(..10).unwrap_or("undated");
    if complete {
        format!("coverage/{date}.csv")
    } else {
        format!("coverage/{date}{PARTIAL_SUFFIX}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn the_key_is_the_utc_date_of_the_run_s_start_not_of_the_writing() {
        let started = UNIX_EPOCH + Duration::from_secs(1_796_083_199); // 2026-11-30T23:59:59Z
        assert_eq!(key_for(started, true), "coverage/2026-11-30.csv");
        assert_eq!(key_for(started, false), "coverage/2026-11-30.partial.csv");
    }
}
