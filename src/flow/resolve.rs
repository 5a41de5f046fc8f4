//! The first stage of an event: each account's email, given by a manual request or looked up
//! in Organizations (no account event carries it), and where the protection policy puts it
//! (its OU path from Organizations, walked up with ListParents only when a rule names an OU).

use std::time::SystemTime;

use futures::stream::{self, StreamExt};
use tracing::warn;

use super::Target;
use crate::account::{clean_name, Email};
use crate::aws::Aws;
use crate::error::AwsError;
use crate::event::AccountRequest;
use crate::policy::{Date, Exception, Policy};
use crate::report::Problem;

/// What the lookup of one account's email found (and the problem of an exception that
/// has ended).
enum Lookup {
    Found(Target, Option<Problem>),
    Missing(Problem),
}

/// The accounts to put through the flow, in the request's order, and the accounts that
/// cannot be (permanent problems) or whose lookup failed (transient).
#[derive(Debug, Default)]
pub struct Resolved {
    pub targets: Vec<Target>,
    pub problems: Vec<Problem>,
    pub failures: Vec<AwsError>,
}

pub async fn resolve(aws: &Aws, policy: &Policy, accounts: &[AccountRequest]) -> Resolved {
    let today = Date::of(SystemTime::now());
    // `buffered` keeps the request's order (the in-flight cap is Aws's own).
    let looked_up: Vec<Result<Lookup, AwsError>> = stream::iter(accounts)
        .map(|a| resolve_one(aws, policy, today, a))
        .buffered(accounts.len().max(1))
        .collect()
        .await;
    let mut out = Resolved::default();
    for r in looked_up {
        match r {
            Ok(Lookup::Found(t, expired)) => {
                out.problems.extend(expired);
                out.targets.push(t)
            }
            Ok(Lookup::Missing(p)) => {
                warn!(account_id = %p.account_id, reason = %p.reason, "no email for account");
                out.problems.push(p)
            }
            Err(e) => out.failures.push(e),
        }
    }
    out
}

async fn resolve_one(
    aws: &Aws,
    policy: &Policy,
    today: Date,
    a: &AccountRequest,
) -> Result<Lookup, AwsError> {
    let found = match &a.email {
        Some(email) => Ok((email.clone(), a.name.clone(), None)),
        None => lookup(aws, a).await?,
    };
    let (email, name, joined_at) = match found {
        Ok(found) => found,
        Err(problem) => return Ok(Lookup::Missing(*problem)),
    };
    let ous = if policy.has_ou_rules() {
        aws.ou_path(a.account_id.as_str()).await?
    } else {
        Vec::new()
    };
    let place = policy.place(a.account_id.as_str(), &ous, today);
    let expired = place
        .expired
        .as_ref()
        .map(|e| expired_exception(a.account_id.as_str(), e));
    Ok(Lookup::Found(
        Target {
            account_id: a.account_id.clone(),
            email,
            name: name.unwrap_or_else(|| a.account_id.to_string()),
            joined_at,
            plan: place.plan,
            exception: place.excepted,
        },
        expired,
    ))
}

/// The problem of an exception that has ended: its account is protected like any other from
/// now on, and its owner must hear of it.
pub fn expired_exception(account: &str, e: &Exception) -> Problem {
    Problem::new(
        account,
        "ProtectionPolicy",
        format!(
            "the protection policy's exception for this account (rules[{}], owner {}, reason: {}) ended on {}: the \
             account is now protected like any other; renew the exception with its owner or remove the rule",
            e.rule, e.owner, e.reason, e.until
        ),
    )
}

/// The account's email, name and joining time from Organizations, or the problem that none
/// can be had.
async fn lookup(
    aws: &Aws,
    a: &AccountRequest,
) -> Result<Result<(Email, Option<String>, Option<SystemTime>), Box<Problem>>, AwsError> {
    let missing = |reason: String| {
        Err(Box::new(Problem::new(
            a.account_id.as_str(),
            "DescribeAccount",
            reason,
        )))
    };
    let Some(found) = aws.describe_account(&a.account_id).await? else {
        return Ok(missing(
            "Organizations does not know this account, so its email cannot be found: for an account outside the \
             organization, send a GuardDuty Invite Request that gives its email"
                .into(),
        ));
    };
    let Some(raw_email) = found.email else {
        return Ok(missing(
            "Organizations returned the account without an email address".into(),
        ));
    };
    Ok(match Email::parse(&raw_email) {
        Ok(email) => Ok((
            email,
            a.name.clone().or_else(|| clean_name(found.name)),
            found.joined_at,
        )),
        Err(why) => missing(format!(
            "the account's {why}, so GuardDuty cannot invite it"
        )),
    })
}
