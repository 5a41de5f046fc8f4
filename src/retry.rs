//! A member role not there yet, retried on a one-time EventBridge Scheduler schedule: when the
//! retry runs, under which name, and the event it delivers. Pure; `aws` creates the schedule.
//!
//! Lambda retries a failed asynchronous event twice, one and two minutes later: too soon for
//! a StackSet that takes longer to reach a new account. Within the grace the account is
//! pending instead, and a schedule invokes the invite function for it a few minutes later;
//! that invocation schedules the next one while the grace lasts, and past it reports the
//! problem.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_scheduler::primitives::{DateTime, DateTimeFormat};
use serde_json::json;

use crate::account::AccountId;
use crate::event::MANUAL_DETAIL_TYPE;

/// The retry runs at least this long after the attempt that found the role missing.
pub const MIN_DELAY_SECS: u64 = 120;
/// Retry times fall on whole multiples of this: the name of a retry is derived from its time,
/// so the replay of an event within the same window names the same schedule (which exists
/// already) instead of a second one.
pub const WINDOW_SECS: u64 = 300;
/// The `source` of the event a retry delivers.
pub const RETRY_SOURCE: &str = "guardduty-invite.retry";

/// One retry of one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPlan {
    /// Unique per account and retry time; Scheduler's pattern `[0-9a-zA-Z-_.]+`, at most 64.
    pub name: String,
    /// `at(yyyy-mm-ddThh:mm:ss)`, in UTC.
    pub expression: String,
    /// The manual request for the account, as the target's input.
    pub input: String,
}

/// When the retry of an attempt at `now_secs` (seconds since the epoch) runs.
pub fn retry_at(now_secs: u64) -> u64 {
    (now_secs + MIN_DELAY_SECS).div_ceil(WINDOW_SECS) * WINDOW_SECS
}

/// The retry of `account` after an attempt at `now`, invoking `function_arn`. `None` only if
/// the time cannot be written (a clock before 1970 or past year 9999).
pub fn plan(account: &AccountId, now: SystemTime, function_arn: &str) -> Option<RetryPlan> {
    let now_secs = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    let at = retry_at(now_secs);
    // "2026-12-05T07:10:00Z": whole seconds, so no fraction.
    let stamp = DateTime::from_secs(i64::try_from(at).ok()?)
        .fmt(DateTimeFormat::DateTime)
        .ok()?;
    let local = stamp.strip_suffix('Z')?;
    let compact: String = local
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(13)
        .collect();
    let name = format!("retry-{account}-{compact}");
    Some(RetryPlan {
        input: input(account, &name, &stamp, function_arn),
        expression: format!("at({local})"),
        name,
    })
}

/// The manual request for the account alone, with its id only: the invocation looks the
/// account up in Organizations again, so the grace still counts from when it joined (an
/// email given here would skip that lookup), and no email is stored in the schedule.
fn input(account: &AccountId, id: &str, time: &str, function_arn: &str) -> String {
    let field = |n: usize| function_arn.split(':').nth(n).unwrap_or_default();
    json!({
        "version": "0",
        "id": id,
        "detail-type": MANUAL_DETAIL_TYPE,
        "source": RETRY_SOURCE,
        "account": field(4),
        "time": time,
        "region": field(3),
        "resources": [],
        "detail": {"accounts": [{"accountId": account.as_str()}]}
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{parse, Action, EventKind};
    use std::time::Duration;

    const FUNCTION: &str = "arn:aws:lambda:eu-west-1:123456789012:function:guardduty-invite";

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_retry_runs_a_few_minutes_later_on_a_five_minute_boundary() {
        // 2026-12-04T07:00:00Z
        let t = 1_796_367_600;
        assert_eq!(retry_at(t), t + 300);
        assert_eq!(retry_at(t + 179), t + 300);
        assert_eq!(retry_at(t + 181), t + 600);
        for now in t..t + 900 {
            let delay = retry_at(now) - now;
            assert!((MIN_DELAY_SECS..MIN_DELAY_SECS + WINDOW_SECS).contains(&delay));
        }
    }

    #[test]
    fn a_retry_is_named_by_account_and_time_and_delivers_the_manual_request() {
        let id = AccountId::parse("111122223333").unwrap();
        let p = plan(&id, at(1_796_367_600 + 42), FUNCTION).unwrap();
        assert_eq!(p.expression, "at(2026-12-04T07:05:00)");
        assert_eq!(p.name, "retry-111122223333-20261204T0705");
        assert!(p.name.len() <= 64);
        assert!(p
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        // A replay within the window names the same schedule; the next window another.
        assert_eq!(
            plan(&id, at(1_796_367_600 + 170), FUNCTION).unwrap().name,
            p.name
        );
        assert_ne!(
            plan(&id, at(1_796_367_600 + 190), FUNCTION).unwrap().name,
            p.name
        );

        let request = parse(serde_json::from_str(&p.input).unwrap()).unwrap();
        assert_eq!(request.kind, EventKind::ManualRequest);
        let Action::Invite(accounts) = request.action else {
            panic!("{:?}", request.action)
        };
        assert_eq!(accounts.len(), 1);
        assert_eq!(accounts[0].account_id, id);
        assert_eq!(accounts[0].email, None, "looked up again, not carried");
    }
}
