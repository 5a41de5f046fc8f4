//! The first stage of an event: each account's email, given by a manual request or looked up
//! in Organizations (no account event carries it).

use futures::stream::{self, StreamExt};
use tracing::warn;

use super::Target;
use crate::account::{clean_name, Email};
use crate::aws::Aws;
use crate::error::AwsError;
use crate::event::AccountRequest;
use crate::report::Problem;

/// What the lookup of one account's email found.
enum Lookup {
    Found(Target),
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

pub async fn resolve(aws: &Aws, accounts: &[AccountRequest]) -> Resolved {
    // `buffered` keeps the request's order (the in-flight cap is Aws's own).
    let looked_up: Vec<Result<Lookup, AwsError>> = stream::iter(accounts)
        .map(|a| resolve_one(aws, a))
        .buffered(accounts.len().max(1))
        .collect()
        .await;
    let mut out = Resolved::default();
    for r in looked_up {
        match r {
            Ok(Lookup::Found(t)) => out.targets.push(t),
            Ok(Lookup::Missing(p)) => {
                warn!(account_id = %p.account_id, reason = %p.reason, "no email for account");
                out.problems.push(p)
            }
            Err(e) => out.failures.push(e),
        }
    }
    out
}

async fn resolve_one(aws: &Aws, a: &AccountRequest) -> Result<Lookup, AwsError> {
    let target = |email: Email, name: Option<String>, joined_at| Target {
        account_id: a.account_id.clone(),
        email,
        name: name.unwrap_or_else(|| a.account_id.to_string()),
        joined_at,
    };
    if let Some(email) = &a.email {
        return Ok(Lookup::Found(target(email.clone(), a.name.clone(), None)));
    }
    let missing = |reason: String| {
        Lookup::Missing(Problem::new(
            a.account_id.as_str(),
            "DescribeAccount",
            reason,
        ))
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
        Ok(email) => Lookup::Found(target(
            email,
            a.name.clone().or_else(|| clean_name(found.name)),
            found.joined_at,
        )),
        Err(why) => missing(format!(
            "the account's {why}, so GuardDuty cannot invite it"
        )),
    })
}
