//! Client-side rate limits: each API's calls (per service, operation and region) are spaced
//! under the rate AWS throttles that API at, so a large run is paced below AWS's token
//! bucket instead of being throttled and retried into it (the SDK's retry quota would run
//! dry, and the throttling error would end the run).
//!
//! AWS throttles per account and region (Organizations per organization), with a token
//! bucket: a rate and a burst. This process takes [`SHARE`] of the rate and half the burst,
//! so another invocation in the same account (an event during a reconcile) still finds
//! tokens in AWS's bucket.
//!
//! Where an account's rates differ from these (a raised quota, or other tools sharing the
//! buckets), `API_RATE_LIMITS` sets them: `service[:Operation]=rate/burst`, comma-separated,
//! service `*` for every one (e.g. `guardduty=10/20,organizations:ListAccountsForParent=2/4`).

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

/// One `API_RATE_LIMITS` entry: a service (`*`: every one), an operation (None: every one).
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    pub service: String,
    pub operation: Option<String>,
    pub limit: Limit,
}

/// `service[:Operation]=rate/burst`, comma-separated; an entry that does not parse is named
/// in the error.
pub fn parse_overrides(text: &str) -> Result<Vec<Override>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let bad = || {
                format!(
                    "{entry:?} is not service[:Operation]=rate/burst (a rate of at least 0.01 a \
                     second, a burst of at least 1)"
                )
            };
            let (api, limit) = entry.split_once('=').ok_or_else(bad)?;
            let (rate, burst) = limit.split_once('/').ok_or_else(bad)?;
            let per_second: f64 = rate.trim().parse().map_err(|_| bad())?;
            let burst: u32 = burst.trim().parse().map_err(|_| bad())?;
            // At least one call in 100 s: a smaller rate is a typo, and would stall the run.
            if !(per_second.is_finite() && per_second >= 0.01) || burst == 0 {
                return Err(bad());
            }
            let (service, operation) = match api.split_once(':') {
                Some((s, o)) => (s.trim(), Some(o.trim().to_owned())),
                None => (api.trim(), None),
            };
            Ok(Override {
                service: service.to_ascii_lowercase(),
                operation,
                limit: Limit { per_second, burst },
            })
        })
        .collect()
}

/// The earliest time each API may be called next (GCRA: the theoretical arrival time of a
/// token bucket, kept per key), and the rates set in place of AWS's defaults.
#[derive(Debug, Default)]
pub struct RateLimiter {
    next: Mutex<HashMap<(&'static str, &'static str, String), Instant>>,
    overrides: Vec<Override>,
}

impl RateLimiter {
    /// AWS's rates, with `overrides` (`API_RATE_LIMITS`) over them.
    pub fn with_overrides(overrides: Vec<Override>) -> Self {
        Self {
            next: Mutex::default(),
            overrides,
        }
    }

    /// This process's share of an API's bucket: the override's or AWS's.
    fn limit(&self, service: Service, operation: &str) -> Limit {
        let name = service.iam_prefix();
        let found = |op: Option<&str>, svc: &str| {
            self.overrides
                .iter()
                .rev()
                .find(|o| o.service == svc && o.operation.as_deref() == op)
        };
        let set = found(Some(operation), name)
            .or_else(|| found(None, name))
            .or_else(|| found(None, "*"));
        share(set.map_or_else(|| aws_limit(service, operation), |o| o.limit))
    }

    /// Waits for this call's turn under its API's rate in `region` (None: a global service).
    pub async fn wait(&self, service: Service, operation: &'static str, region: Option<&str>) {
        if UNPACED.contains(&operation) {
            return;
        }
        let key = (
            service.iam_prefix(),
            operation,
            region.unwrap_or("").to_owned(),
        );
        let now = Instant::now();
        let at = match self.next.lock() {
            Ok(mut next) => {
                let (at, tat) = slot(next.get(&key).copied(), now, self.limit(service, operation));
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

/// This process's share of a bucket: [`SHARE`] of its rate, half its burst.
pub fn share(bucket: Limit) -> Limit {
    Limit {
        per_second: bucket.per_second * SHARE,
        burst: (bucket.burst / 2).max(1),
    }
}

/// GCRA: a call at `now` against theoretical arrival time `tat` is sent at the returned
/// instant (now, or when the bucket has a token again); the second value is the new `tat`.
pub fn slot(tat: Option<Instant>, now: Instant, limit: Limit) -> (Instant, Instant) {
    // `try_`: a rate is never zero (AWS's, or an override of at least 0.01), but a panic here
    // would end the run.
    let interval =
        Duration::try_from_secs_f64(1.0 / limit.per_second).unwrap_or(Duration::from_secs(100));
    let tolerance = interval * limit.burst.saturating_sub(1);
    let tat = tat.unwrap_or(now).max(now);
    let at = tat.checked_sub(tolerance).map_or(now, |t| t.max(now));
    (at, tat + interval)
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
        let got = schedule(
            8,
            Limit {
                per_second: 4.0,
                burst: 5,
            },
        );
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
            let times = schedule(500, share(aws));
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
    fn rates_set_in_the_environment_replace_aws_defaults_most_specific_first() {
        let set =
            parse_overrides("*=2/2, guardduty=8/4,guardduty:GetMembers=1/1").unwrap_or_default();
        let limiter = RateLimiter::with_overrides(set);
        let rate = |s, op| limiter.limit(s, op).per_second;
        assert!((rate(Service::GuardDuty, "GetMembers") - 0.9).abs() < 1e-9);
        assert!((rate(Service::GuardDuty, "InviteMembers") - 7.2).abs() < 1e-9);
        assert!((rate(Service::Organizations, "ListRoots") - 1.8).abs() < 1e-9);
        for bad in [
            "guardduty",
            "guardduty=2",
            "guardduty=x/2",
            "guardduty=0/2",
            "guardduty=2/0",
            "guardduty=1e-300/1",
            "guardduty=inf/1",
        ] {
            assert!(parse_overrides(bad).is_err(), "{bad}");
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
