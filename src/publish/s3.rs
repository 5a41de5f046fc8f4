//! A reconcile's coverage report in the stack's bucket: the daily evidence an auditor asks
//! for. A complete run writes `coverage/YYYY-MM-DD.csv`; a run that failed in part writes
//! `coverage/YYYY-MM-DD.partial.csv`, so that it never replaces the day's complete report
//! (the function may not read the bucket, so it cannot check for one: the name keeps them
//! apart). The date is the run's start, in UTC.
//!
//! Beside it the same report as one HTML page (`coverage/YYYY-MM-DD.html`, or
//! `.partial.html`) and, for a complete run, the day's summary
//! (`coverage/summary/YYYY-MM-DD.json`): the next reports draw their 30-day trend from these
//! small objects rather than from 30 CSVs.

use std::time::SystemTime;

use aws_sdk_guardduty::primitives::{DateTime, DateTimeFormat};

use super::html::DaySummary;
use super::{Delivery, Report};
use crate::aws::Aws;
use crate::config::Config;
use crate::error::{AwsError, FailureKind};
use crate::policy::Date;
use crate::report::{Problem, WHOLE_REGION};

/// Where the daily summaries are.
pub const SUMMARY_PREFIX: &str = "coverage/summary/";

/// How many earlier days the trend shows.
pub const TREND_DAYS: i64 = 30;

pub async fn deliver(aws: &Aws, config: &Config, report: &Report<'_>) -> Delivery {
    let mut d = Delivery::to("s3");
    let (Some(bucket), Some(coverage)) = (&config.coverage_bucket, report.coverage) else {
        return d;
    };
    let key = key_for(coverage.started, report.complete);
    let mut objects = vec![(
        key.clone(),
        coverage.csv.to_owned(),
        "text/csv; charset=utf-8",
    )];
    if let Some(html) = coverage.html {
        let html_key = html_key(&key);
        objects.push((html_key, html.to_owned(), "text/html; charset=utf-8"));
    }
    // Only a complete run's numbers join the trend.
    if let (Some(summary), true) = (coverage.summary, report.complete) {
        let body = serde_json::to_string(summary).unwrap_or_default();
        objects.push((summary_key(&summary.date), body, "application/json"));
    }
    for (key, body, content_type) in objects {
        match aws.put_object_as(bucket, &key, &body, content_type).await {
            Ok(()) if !key.starts_with(SUMMARY_PREFIX) => {
                d.ids.push(format!("s3://{bucket}/{key}"))
            }
            Ok(()) => {}
            // The next objects would fail the same way: one problem, said once.
            Err(e) => {
                written_failed(&mut d, bucket, &key, e);
                break;
            }
        }
    }
    d
}

fn written_failed(d: &mut Delivery, bucket: &str, key: &str, e: AwsError) {
    if e.kind == FailureKind::Transient {
        d.failure.get_or_insert(e);
        return;
    }
    d.found.push(
        Problem::new(
            WHOLE_REGION,
            "PutObject",
            format!(
                "the coverage report could not be written to s3://{bucket}/{key}: check that the bucket exists and \
                 that the function may put objects under coverage/ (and use the bucket's KMS key)"
            ),
        )
        .with_result(e.message),
    );
}

/// The HTML page's key beside the CSV's.
pub fn html_key(csv_key: &str) -> String {
    format!("{}.html", csv_key.trim_end_matches(".csv"))
}

pub fn summary_key(date: &str) -> String {
    format!("{SUMMARY_PREFIX}{date}.json")
}

/// The summaries of the [`TREND_DAYS`] days before `today`, oldest first: one listing and
/// one small read per day. A summary that cannot be listed or read leaves a gap (the trend
/// is a picture, never a reason to fail the run); the log says why.
pub async fn read_trend(aws: &Aws, bucket: &str, today: Date) -> Vec<DaySummary> {
    let from = Date::from_days(today.days() - TREND_DAYS - 1);
    let mut keys = match aws
        .list_keys(bucket, SUMMARY_PREFIX, &summary_key(&from.to_string()))
        .await
    {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(error = %e.message, "the earlier daily summaries could not be listed: the trend shows today only");
            return Vec::new();
        }
    };
    // Oldest first, whatever order the listing came in.
    keys.sort();
    let today_key = summary_key(&today.to_string());
    let mut out = Vec::new();
    for key in keys.iter().filter(|k| **k < today_key) {
        match aws.get_object(bucket, key).await {
            Ok(bytes) => out.extend(serde_json::from_slice::<DaySummary>(&bytes).ok()),
            Err(e) => {
                tracing::warn!(key = %key, error = %e.message, "a daily summary could not be read: a gap in the trend")
            }
        }
    }
    out
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
        assert_eq!(
            html_key("coverage/2026-11-30.partial.csv"),
            "coverage/2026-11-30.partial.html"
        );
        assert_eq!(
            summary_key("2026-11-30"),
            "coverage/summary/2026-11-30.json"
        );
    }
}
