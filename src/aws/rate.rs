//! Client-side rate limits: each API's calls (per service, operation and region) are spaced
//! under the rate AWS throttles that API at, so a large run is paced below AWS's token
//! bucket instead of being throttled and retried into it (the SDK's retry quota would run
//! dry, and the throttling error would end the run).
//!
//! AWS throttles per account and region (Organizations per organization), with a token
//! bucket: a rate and a burst. This process takes [`SHARE`] of the rate and half the burst,
//! so another invocation in the same account (an event during a reconcile) still finds
//! tokens in AWS's bucket.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::Service;

/// The share of each API's rate one process uses.
pub const SHARE: f64 = 0.9;

/// A token bucket: `per_second` tokens refilled, at most `burst` held.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit {
    pub per_second: f64,
    pub burst: u32,
}

/// Where AWS publishes no rate (GuardDuty, Organizations, STS, SNS, SSM, Scheduler): assumed.
pub const ASSUMED: Limit = Limit {
    per_second: 5.0,
    burst: 10,
};

/// The rate AWS throttles an API at: published ones (Security Hub API Reference, Welcome;
/// the Partner Guide for BatchImportFindings; Account Management quotas), else [`ASSUMED`].
pub fn aws_limit(service: Service, operation: &str) -> Limit {
    match (service, operation) {
        (Service::SecurityHub, "GetFindings") => Limit {
            per_second: 3.0,
            burst: 6,
        },
        (Service::SecurityHub, _) => Limit {
            per_second: 10.0,
            burst: 30,
        },
        (Service::Account, "ListRegions") => Limit {
            per_second: 5.0,
            burst: 5,
        },
        _ => ASSUMED,
    }
}

/// Calls made with a member account's own credentials: each member account has its own
/// buckets and sees a handful of calls, so they are not paced here (pacing them on the
/// administrator's schedule would serialise 50,000 accounts' calls for nothing). The
/// administrator's ListDetectors and GetDetector are once per region and process.
const UNPACED: &[&str] = &[
    "ListDetectors",
    "GetDetector",
    "CreateDetector",
    "UpdateDetector",
    "GetAdministratorAccount",
    "ListInvitations",
    "AcceptAdministratorInvitation",
];

/// The earliest time each API may be called next (GCRA: the theoretical arrival time of a
/// token bucket, kept per key).
#[derive(Debug, Default)]
pub struct RateLimiter {
    next: Mutex<HashMap<(&'static str, &'static str, String), Instant>>,
}

impl RateLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits for this call's turn under its API's rate in `region` (None: a global service).
    pub async fn wait(&self, service: Service, operation: &'static str, region: Option<&str>) {
        if UNPACED.contains(&operation) {
            return;
        }
        let key = (service_key(service), operation, region.unwrap_or("").to_owned());
        let now = Instant::now();
        let at = match self.next.lock() {
            Ok(mut next) => {
                let (at, tat) = slot(next.get(&key).copied(), now, ours(service, operation));
                next.insert(key, tat);
                at
            }
            // A poisoned map (a panic elsewhere): send unpaced; the SDK still retries.
            Err(_) => now,
        };
        if at > now {
            tokio::time::sleep_until(at).await;
        }
    }
}

/// This process's share of an API's bucket: [`SHARE`] of its rate, half its burst.
pub fn ours(service: Service, operation: &str) -> Limit {
    let aws = aws_limit(service, operation);
    Limit {
        per_second: aws.per_second * SHARE,
        burst: (aws.burst / 2).max(1),
    }
}

/// GCRA: a call at `now` against theoretical arrival time `tat` is sent at the returned
/// instant (now, or when the bucket has a token again); the second value is the new `tat`.
pub fn slot(tat: Option<Instant>, now: Instant, limit: Limit) -> (Instant, Instant) {
    let interval = Duration::from_secs_f64(1.0 / limit.per_second);
    let tolerance = interval * limit.burst.saturating_sub(1);
    let tat = tat.unwrap_or(now).max(now);
    let at = tat.checked_sub(tolerance).map_or(now, |t| t.max(now));
    (at, tat + interval)
}

fn service_key(service: Service) -> &'static str {
    match service {
        Service::GuardDuty => "guardduty",
        Service::Organizations => "organizations",
        Service::Sns => "sns",
        Service::Sts => "sts",
        Service::SecurityHub => "securityhub",
        Service::S3 => "s3",
        Service::Ssm => "ssm",
        Service::Account => "account",
        Service::Scheduler => "scheduler",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The send times of `n` calls all asked for at once.
    fn schedule(n: usize, limit: Limit) -> Vec<f64> {
        let start = Instant::now();
        let mut tat = None;
        (0..n)
            .map(|_| {
                let (at, next) = slot(tat, start, limit);
                tat = Some(next);
                (at - start).as_secs_f64()
            })
            .collect()
    }

    #[test]
    fn a_burst_goes_at_once_then_calls_are_spaced_at_the_rate() {
        let got = schedule(8, Limit { per_second: 4.0, burst: 5 });
        let want = [0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.5, 0.75];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?}");
        }
    }

    #[test]
    fn no_window_of_the_schedule_takes_more_than_aws_bucket_holds() {
        // AWS's bucket for any window of t seconds admits at most burst + rate * t calls.
        for (service, op) in [
            (Service::GuardDuty, "GetMembers"),
            (Service::Organizations, "ListAccountsForParent"),
            (Service::SecurityHub, "GetFindings"),
            (Service::Account, "ListRegions"),
        ] {
            let aws = aws_limit(service, op);
            let times = schedule(500, ours(service, op));
            for (i, t0) in times.iter().enumerate() {
                for (j, t1) in times.iter().enumerate().skip(i) {
                    let admitted = (j - i + 1) as f64;
                    assert!(
                        admitted <= f64::from(aws.burst) + aws.per_second * (t1 - t0) + 1e-9,
                        "{service:?} {op}: {admitted} calls in {} s",
                        t1 - t0
                    );
                }
            }
            let span = times.last().copied().unwrap_or_default();
            let rate = 500.0 / span;
            assert!(rate > aws.per_second * 0.85, "{op}: {rate}/s is too slow");
        }
    }

    #[test]
    fn a_quiet_api_sends_at_once() {
        let now = Instant::now();
        let earlier = now.checked_sub(Duration::from_secs(60));
        let (at, _) = slot(earlier, now, ASSUMED);
        assert_eq!(at, now);
    }
}
