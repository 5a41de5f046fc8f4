//! A reconcile's coverage report in the stack's bucket, as `coverage/YYYY-MM-DD.csv`: the
//! daily evidence an auditor asks for.

use aws_sdk_guardduty::primitives::{DateTime, DateTimeFormat};

use super::{Delivery, Report};
use crate::aws::Aws;
use crate::config::Config;
use crate::error::FailureKind;
use crate::report::{Problem, WHOLE_REGION};

pub async fn deliver(aws: &Aws, config: &Config, report: &Report<'_>) -> Delivery {
    let mut d = Delivery::to("s3");
    let (Some(bucket), Some(csv)) = (&config.coverage_bucket, report.coverage_csv) else {
        return d;
    };
    let key = key_for(report.now);
    match aws.put_object(bucket, &key, csv).await {
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

/// `coverage/YYYY-MM-DD.csv`, the run's date in UTC.
pub fn key_for(now: std::time::SystemTime) -> String {
    let stamp = DateTime::from(now)
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_default();
    format!("coverage/{}.csv", stamp.get(..10).unwrap_or("undated"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn the_key_is_the_run_s_utc_date() {
        let t = UNIX_EPOCH + Duration::from_secs(1_796_040_000); // 2026-11-30T11:20:00Z
        assert_eq!(key_for(t), "coverage/2026-11-30.csv");
    }
}
