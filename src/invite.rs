//! The invite flow for one batch of accounts in one region:
//! CreateMembers → GetMembers → InviteMembers (only where the status calls for it).
//!
//! That order takes at most three calls per batch and makes a replay cheap and silent:
//! CreateMembers answers "already a member", GetMembers shows the invitation is out, and no
//! second InviteMembers is made.

use std::collections::HashSet;

use futures::stream::{self, StreamExt};

use crate::account::{AccountId, Email};
use crate::aws::{Aws, Unprocessed};
use crate::config::Config;
use crate::decision::{is_already_invited, is_already_our_member, member_action, MemberAction};
use crate::error::{AwsError, FailureKind, Service};
use crate::report::{Outcome, Problem};
use crate::template::Values;

/// GuardDuty's limit on accounts per member call.
pub const BATCH_SIZE: usize = 50;
/// Calls in flight at once per invocation: enough to cover many regions, few enough not to
/// trip GuardDuty's per-account rate limits.
pub const MAX_CONCURRENT_CALLS: usize = 8;

/// An account ready to be invited: its email is known and valid.
#[derive(Clone, Debug)]
pub struct Target {
    pub account_id: AccountId,
    pub email: Email,
    /// What `{account_name}` renders as: the name given or looked up, else the account id.
    pub name: String,
}

#[derive(Debug)]
pub struct BatchResult {
    pub region: String,
    pub detector_id: Option<String>,
    pub outcomes: Vec<(AccountId, Outcome)>,
}

pub async fn run_batch(
    aws: &Aws,
    config: &Config,
    region: &str,
    batch: &[Target],
) -> Result<BatchResult, AwsError> {
    let result = run_batch_once(aws, config, region, batch).await;
    if let Err(AwsError {
        kind: FailureKind::Rejected,
        service: Service::GuardDuty,
        ..
    }) = &result
    {
        // GuardDuty rejects calls on a detector that is gone; look it up again next time.
        aws.forget_detector(region);
    }
    result
}

async fn run_batch_once(
    aws: &Aws,
    config: &Config,
    region: &str,
    batch: &[Target],
) -> Result<BatchResult, AwsError> {
    let Some(detector) = aws.detector(region).await? else {
        let outcomes = batch
            .iter()
            .map(|t| {
                let p = Problem::new(
                    t.account_id.as_str(),
                    "ListDetectors",
                    format!(
                        "the administrator has no GuardDuty detector in {region}: enable GuardDuty there, or remove \
                         {region} from GUARDDUTY_REGIONS"
                    ),
                )
                .in_region(region, None);
                (t.account_id.clone(), Outcome::Problem(p))
            })
            .collect();
        return Ok(BatchResult {
            region: region.to_owned(),
            detector_id: None,
            outcomes,
        });
    };
    let problem = |t: &Target, operation: &str, reason: String| {
        Problem::new(t.account_id.as_str(), operation, reason).in_region(region, Some(&detector))
    };
    let mut outcomes = Vec::with_capacity(batch.len());

    // 1. Add as members. "Already a member" is the replay case, carried on to GetMembers.
    let pairs: Vec<(&AccountId, &Email)> =
        batch.iter().map(|t| (&t.account_id, &t.email)).collect();
    let unprocessed = aws.create_members(region, &detector, &pairs).await?;
    let mut existed = HashSet::new();
    let mut members: Vec<&Target> = Vec::with_capacity(batch.len());
    for t in batch {
        match find(&unprocessed, &t.account_id) {
            None => members.push(t),
            Some(u) if is_already_our_member(&u.result) => {
                existed.insert(t.account_id.clone());
                members.push(t);
            }
            Some(u) => {
                let p = problem(
                    t,
                    "CreateMembers",
                    "GuardDuty did not add the account as a member".into(),
                )
                .with_result(&u.result);
                outcomes.push((t.account_id.clone(), Outcome::Problem(p)));
            }
        }
    }
    if members.is_empty() {
        return Ok(BatchResult {
            region: region.to_owned(),
            detector_id: Some(detector),
            outcomes,
        });
    }

    // 2. Read each member's relationship status and decide.
    let ids: Vec<&AccountId> = members.iter().map(|t| &t.account_id).collect();
    let (statuses, not_found) = aws.get_members(region, &detector, &ids).await?;
    let mut to_invite: Vec<&Target> = Vec::new();
    for t in members {
        let Some(status) = statuses
            .iter()
            .find(|m| m.account_id == t.account_id.as_str())
        else {
            let p = problem(
                t,
                "GetMembers",
                "GuardDuty did not return the member it was just asked to add".into(),
            );
            let p = match find(&not_found, &t.account_id) {
                Some(u) => p.with_result(&u.result),
                None => p,
            };
            outcomes.push((t.account_id.clone(), Outcome::Problem(p)));
            continue;
        };
        let status = status.relationship_status.as_str();
        let outcome = match member_action(status, !existed.contains(&t.account_id)) {
            MemberAction::Invite => {
                to_invite.push(t);
                continue;
            }
            MemberAction::AlreadyInvited => Outcome::AlreadyInvited {
                status: status.to_owned(),
            },
            MemberAction::AlreadyEnabled => Outcome::AlreadyEnabled,
            MemberAction::EnabledByOrganization => Outcome::EnabledByOrganization,
            MemberAction::Problem(reason) => {
                Outcome::Problem(problem(t, "GetMembers", reason).with_status(status))
            }
        };
        outcomes.push((t.account_id.clone(), outcome));
    }

    // 3. Invite. One call carries one message, so accounts are grouped by their rendered
    //    message: one call per batch with the default template, one per account when the
    //    template names the account.
    let disable_email = config.disable_email_in(region);
    let groups = group_by_message(&to_invite, |t| {
        config.template.render(&Values {
            account_id: t.account_id.as_str(),
            account_name: &t.name,
            region,
            detector_id: &detector,
        })
    });
    let results: Vec<Result<Vec<(AccountId, Outcome)>, AwsError>> = stream::iter(groups)
        .map(|(message, group)| {
            let detector = &detector;
            async move {
                let ids: Vec<&AccountId> = group.iter().map(|t| &t.account_id).collect();
                let unprocessed = aws
                    .invite_members(region, detector, &ids, &message, disable_email)
                    .await?;
                Ok(group
                    .iter()
                    .map(|t| {
                        let outcome = match find(&unprocessed, &t.account_id) {
                            None => Outcome::Invited {
                                email_sent: !disable_email,
                            },
                            // Invited meanwhile by a concurrent delivery of the same event.
                            Some(u) if is_already_invited(&u.result) => Outcome::AlreadyInvited {
                                status: "Invited".into(),
                            },
                            Some(u) => Outcome::Problem(
                                Problem::new(
                                    t.account_id.as_str(),
                                    "InviteMembers",
                                    "GuardDuty did not send the invitation",
                                )
                                .in_region(region, Some(detector))
                                .with_result(&u.result),
                            ),
                        };
                        (t.account_id.clone(), outcome)
                    })
                    .collect())
            }
        })
        .buffer_unordered(MAX_CONCURRENT_CALLS)
        .collect()
        .await;
    for r in results {
        outcomes.extend(r?);
    }
    Ok(BatchResult {
        region: region.to_owned(),
        detector_id: Some(detector),
        outcomes,
    })
}

fn find<'a>(list: &'a [Unprocessed], id: &AccountId) -> Option<&'a Unprocessed> {
    list.iter().find(|u| u.account_id == id.as_str())
}

/// Groups accounts by rendered message, keeping first-seen order, at most `BATCH_SIZE` each.
fn group_by_message<'a>(
    targets: &[&'a Target],
    render: impl Fn(&Target) -> String,
) -> Vec<(String, Vec<&'a Target>)> {
    let mut groups: Vec<(String, Vec<&'a Target>)> = Vec::new();
    for t in targets {
        let message = render(t);
        match groups
            .iter_mut()
            .find(|(m, g)| *m == message && g.len() < BATCH_SIZE)
        {
            Some((_, g)) => g.push(t),
            None => groups.push((message, vec![t])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(i: usize) -> Target {
        Target {
            account_id: AccountId::parse(&format!("{:012}", 100_000 + i)).unwrap(),
            email: Email::parse(&format!("a{i}@example.com")).unwrap(),
            name: format!("acct-{i}"),
        }
    }

    #[test]
    fn one_message_for_all_groups_accounts_in_fifties() {
        let targets: Vec<Target> = (0..120).map(target).collect();
        let refs: Vec<&Target> = targets.iter().collect();
        let groups = group_by_message(&refs, |_| "same".into());
        assert_eq!(
            groups.iter().map(|(_, g)| g.len()).collect::<Vec<_>>(),
            [50, 50, 20]
        );
    }

    #[test]
    fn per_account_messages_give_one_group_per_account() {
        let targets: Vec<Target> = (0..3).map(target).collect();
        let refs: Vec<&Target> = targets.iter().collect();
        let groups = group_by_message(&refs, |t| format!("hi {}", t.name));
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[1].0, "hi acct-1");
    }
}
