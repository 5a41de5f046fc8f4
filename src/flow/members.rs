//! The administrator-side stages: GetMembers → CreateMembers (the accounts that are not
//! members, and organization accounts found Removed) → GetMembers (the added organization
//! accounts, which CreateMembers may have enabled) → InviteMembers (only where the status
//! calls for it, and the added accounts outside the organization) → StartMonitoringMembers
//! (members found Disabled) → GetMembers after the writes. A new account outside the
//! organization costs 4 calls a region: read, add, invite, read.
//!
//! Reading first makes a replay cheap and silent: GetMembers shows the account is a member
//! with its invitation out or accepted, and no write call is made.

use futures::future::join_all;

use super::{batch_of, find, per_account_failure, take, Flow, Slot, Step, BATCH_SIZE};
use crate::account::AccountId;
use crate::aws::Unprocessed;
use crate::decision::{
    is_already_invited, is_already_our_member, is_service_failure, member_action,
    unprocessed_reason, MemberAction,
};
use crate::error::AwsError;
use crate::report::Outcome;
use crate::template::Values;

/// The administrator's detector of the batch's region; without one, every slot is a problem.
pub async fn find_detector<'a>(
    flow: &Flow<'_>,
    mut slots: Vec<Slot<'a>>,
) -> Result<Vec<Slot<'a>>, AwsError> {
    let Some(region) = slots.first().map(|s| s.region) else {
        return Ok(slots);
    };
    match flow.aws.detector(region).await? {
        Some(id) => {
            for s in &mut slots {
                s.detector_id = Some(id.clone());
            }
            Ok(slots)
        }
        None => Ok(slots
            .into_iter()
            .map(|s| {
                let p = s.problem(
                    "ListDetectors",
                    format!(
                        "the administrator has no GuardDuty detector in {region}: enable GuardDuty there, or remove \
                         {region} from GUARDDUTY_REGIONS"
                    ),
                );
                s.fail(p)
            })
            .collect()),
    }
}

/// GetMembers for the slots whose status is not known yet (is it a member at all?) or that
/// this run has just added, and the decision each status calls for.
pub async fn read_statuses<'a>(
    flow: &Flow<'_>,
    slots: Vec<Slot<'a>>,
) -> Result<Vec<Slot<'a>>, AwsError> {
    let (to_read, mut out) = take(slots, |s| matches!(s, Step::Unknown | Step::Member { .. }));
    let Some((region, detector)) = batch_of(&to_read) else {
        return Ok(out);
    };
    let ids: Vec<&AccountId> = to_read.iter().map(Slot::account_id).collect();
    let (statuses, not_found) = flow.aws.get_members(region, &detector, &ids).await?;
    for mut s in to_read {
        let Some(m) = statuses
            .iter()
            .find(|m| m.account_id == s.account_id().as_str())
        else {
            let said = find(&not_found, s.account_id()).map_or("", |u| u.result.as_str());
            out.push(not_returned(s, said));
            continue;
        };
        s.status = Some(m.relationship_status.clone());
        out.push(decide(s));
    }
    Ok(out)
}

/// A slot GetMembers did not return: not a member yet (to be added), unless this run has
/// just added it (read-after-write lag) or GuardDuty failed for it (both passing).
fn not_returned<'a>(s: Slot<'a>, said: &str) -> Slot<'a> {
    if is_service_failure(said) {
        let e = per_account_failure("GetMembers", &s, said);
        return s.retry(e);
    }
    if !matches!(s.step, Step::Member { .. }) {
        return s.with_step(Step::ToCreate);
    }
    let e = per_account_failure(
        "GetMembers",
        &s,
        &format!("GuardDuty did not return the member it has just added, try again later {said}"),
    );
    s.retry(e)
}

/// The step a member's status (just read) calls for.
fn decide(s: Slot<'_>) -> Slot<'_> {
    let created_now = matches!(s.step, Step::Member { created_now: true });
    let status = s.status.clone().unwrap_or_default();
    let outcome = match member_action(&status, created_now, s.associates_again()) {
        MemberAction::Invite => return s.with_step(Step::ToInvite),
        MemberAction::Associate => return s.with_step(Step::ToCreate),
        MemberAction::StartMonitoring => return s.with_step(Step::ToStartMonitoring),
        MemberAction::AlreadyInvited => Outcome::AlreadyInvited,
        MemberAction::VerificationPending => Outcome::InvitationPending,
        MemberAction::AlreadyEnabled => Outcome::AlreadyEnabled,
        MemberAction::EnabledByOrganization => Outcome::EnabledByOrganization,
        MemberAction::Problem(reason) => Outcome::Problem(Box::new(
            s.problem("GetMembers", reason).with_status(&status),
        )),
    };
    s.done(outcome)
}

/// CreateMembers for the slots that are not members. "Already a member" (a concurrent run
/// added it a moment ago) is carried on like an account added now, but not as one this run
/// created.
pub async fn add<'a>(flow: &Flow<'_>, slots: Vec<Slot<'a>>) -> Result<Vec<Slot<'a>>, AwsError> {
    let (new, mut out) = take(slots, |s| matches!(s, Step::ToCreate));
    let Some((region, detector)) = batch_of(&new) else {
        return Ok(out);
    };
    let pairs: Vec<_> = new
        .iter()
        .map(|s| (&s.target.account_id, &s.target.email))
        .collect();
    let unprocessed = flow.aws.create_members(region, &detector, &pairs).await?;
    out.extend(
        new.into_iter()
            .map(|s| Slot {
                create_tried: true,
                ..s
            })
            .map(|s| match find(&unprocessed, s.account_id()) {
                None => after_create(s),
                Some(u) if is_already_our_member(&u.result) => {
                    s.with_step(Step::Member { created_now: false })
                }
                Some(u) => {
                    let reason = unprocessed_reason("CreateMembers", &u.result);
                    s.unprocessed("CreateMembers", &u.result, reason)
                }
            }),
    );
    Ok(out)
}

/// An account CreateMembers has just added (left out of `unprocessedAccounts`). Only an
/// organization account can come out of it `Enabled` (as the delegated administrator,
/// CreateMembers enables the organization's accounts); any other is a new member to invite,
/// without reading it between the two writes. An organization account is read: it may need
/// no invitation at all.
fn after_create(s: Slot<'_>) -> Slot<'_> {
    if s.target.in_organization() {
        s.with_step(Step::Member { created_now: true })
    } else {
        s.with_step(Step::ToInvite)
    }
}

/// After the read of the slots InviteMembers answered "already invited" without this run
/// having read them since CreateMembers added them (an organization account named by a
/// manual request, so not known to be one, that CreateMembers enabled): a status that still
/// calls for an invitation or an addition means GuardDuty has not caught up with its own
/// answer yet, and the run is retried.
pub fn refused_invitations_read(slots: Vec<Slot<'_>>) -> Vec<Slot<'_>> {
    slots
        .into_iter()
        .map(|s| match s.step {
            Step::ToInvite | Step::ToCreate => {
                let said = format!(
                    "InviteMembers answered that the account is already invited, but GuardDuty shows it as {}; try \
                     again later",
                    s.status.as_deref().unwrap_or("not returned")
                );
                let e = per_account_failure("GetMembers", &s, &said);
                s.retry(e)
            }
            _ => s,
        })
        .collect()
}

/// GetMembers after this run's writes (invitations, acceptances), so that the status each
/// slot reports is the one GuardDuty returns now. An accepted member GuardDuty does not show
/// `Enabled` yet is a passing condition: the run is retried, and the retry finds the
/// account already with this administrator.
pub async fn observe<'a>(flow: &Flow<'_>, slots: Vec<Slot<'a>>) -> Result<Vec<Slot<'a>>, AwsError> {
    let (written, mut out): (Vec<_>, Vec<_>) = slots.into_iter().partition(|s| {
        s.monitoring_started
            || matches!(
                s.step,
                Step::Done(
                    Outcome::Invited { .. }
                        | Outcome::Accepted { .. }
                        | Outcome::RolePending { .. }
                )
            )
    });
    let Some((region, detector)) = batch_of(&written) else {
        return Ok(out);
    };
    let ids: Vec<&AccountId> = written.iter().map(Slot::account_id).collect();
    let (statuses, _) = flow.aws.get_members(region, &detector, &ids).await?;
    for mut s in written {
        if let Some(m) = statuses
            .iter()
            .find(|m| m.account_id == s.account_id().as_str())
        {
            s.status = Some(m.relationship_status.clone());
        }
        if matches!(s.step, Step::Done(Outcome::Accepted { .. })) && !s.reads_enabled() {
            let said = format!(
                "accepted in the member account, but GuardDuty shows the member as {} yet; try again later",
                s.status.as_deref().unwrap_or("not returned")
            );
            s.pending = Some(Box::new(per_account_failure("GetMembers", &s, &said)));
        }
        if s.monitoring_started && !s.reads_enabled() {
            let said = format!(
                "monitoring started again, but GuardDuty shows the member as {} yet; try again later",
                s.status.as_deref().unwrap_or("not returned")
            );
            s.pending = Some(Box::new(per_account_failure("GetMembers", &s, &said)));
        }
        out.push(s);
    }
    Ok(out)
}

/// StartMonitoringMembers for the members found Disabled (the administrator stopped
/// monitoring them), one call per batch; each account GuardDuty leaves unprocessed is that
/// account's problem (or retry) alone. `observe` reads the status back.
pub async fn start_monitoring<'a>(
    flow: &Flow<'_>,
    slots: Vec<Slot<'a>>,
) -> Result<Vec<Slot<'a>>, AwsError> {
    let (stopped, mut out) = take(slots, |s| matches!(s, Step::ToStartMonitoring));
    let Some((region, detector)) = batch_of(&stopped) else {
        return Ok(out);
    };
    let ids: Vec<&AccountId> = stopped.iter().map(Slot::account_id).collect();
    let unprocessed = flow
        .aws
        .start_monitoring_members(region, &detector, &ids)
        .await?;
    out.extend(
        stopped
            .into_iter()
            .map(|s| match find(&unprocessed, s.account_id()) {
                None => Slot {
                    monitoring_started: true,
                    ..s.done(Outcome::AlreadyEnabled)
                },
                Some(u) => {
                    let reason = format!(
                        "the member is Disabled (the administrator stopped monitoring it), so GuardDuty does NOT \
                         protect it, and StartMonitoringMembers was refused: {}",
                        unprocessed_reason("StartMonitoringMembers", &u.result)
                    );
                    s.unprocessed("StartMonitoringMembers", &u.result, reason)
                }
            }),
    );
    Ok(out)
}

/// InviteMembers for the slots whose status calls for it. One call carries one message, so
/// accounts are grouped by their rendered message: one call per batch with the default
/// template, one per account when the template names the account.
pub async fn invite<'a>(flow: &Flow<'_>, slots: Vec<Slot<'a>>) -> Result<Vec<Slot<'a>>, AwsError> {
    let (to_invite, mut out) = take(slots, |s| matches!(s, Step::ToInvite));
    let Some((region, detector)) = batch_of(&to_invite) else {
        return Ok(out);
    };
    let disable_email = flow.config.disable_email_in(region);
    let groups = group_by_message(to_invite, |s| {
        flow.config.template.render(&Values {
            account_id: s.account_id().as_str(),
            account_name: &s.target.name,
            region,
            detector_id: &detector,
        })
    });
    let calls = groups.into_iter().map(|(message, group)| {
        let detector = &detector;
        async move {
            let ids: Vec<&AccountId> = group.iter().map(Slot::account_id).collect();
            let unprocessed = flow
                .aws
                .invite_members(region, detector, &ids, &message, disable_email)
                .await?;
            Ok::<_, AwsError>(
                group
                    .into_iter()
                    .map(|s| invited(s, &unprocessed, disable_email))
                    .collect::<Vec<_>>(),
            )
        }
    });
    for group in join_all(calls).await {
        out.extend(group?);
    }
    Ok(out)
}

/// A slot after InviteMembers, from what GuardDuty left unprocessed.
fn invited<'a>(s: Slot<'a>, unprocessed: &[Unprocessed], disable_email: bool) -> Slot<'a> {
    match find(unprocessed, s.account_id()) {
        None => s.done(Outcome::Invited {
            email_sent: !disable_email,
        }),
        // Added by this run and not read since: what it is, GetMembers says.
        Some(u) if is_already_invited(&u.result) && s.create_tried && s.status.is_none() => {
            s.with_step(Step::Member { created_now: true })
        }
        // Invited meanwhile by a concurrent delivery of the same event.
        Some(u) if is_already_invited(&u.result) => s.done(Outcome::AlreadyInvited),
        Some(u) => {
            let reason = unprocessed_reason("InviteMembers", &u.result);
            s.unprocessed("InviteMembers", &u.result, reason)
        }
    }
}

/// Groups slots by rendered message, keeping first-seen order, at most `BATCH_SIZE` each.
fn group_by_message<'a>(
    slots: Vec<Slot<'a>>,
    render: impl Fn(&Slot<'a>) -> String,
) -> Vec<(String, Vec<Slot<'a>>)> {
    let mut groups: Vec<(String, Vec<Slot<'a>>)> = Vec::new();
    for s in slots {
        let message = render(&s);
        match groups
            .iter_mut()
            .find(|(m, g)| *m == message && g.len() < BATCH_SIZE)
        {
            Some((_, g)) => g.push(s),
            None => groups.push((message, vec![s])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::Email;
    use crate::flow::Target;

    fn targets(n: usize) -> Vec<Target> {
        (0..n)
            .map(|i| {
                Target::new(
                    AccountId::parse(&format!("{:012}", 100_000 + i)).unwrap(),
                    Email::parse(&format!("a{i}@example.com")).unwrap(),
                    format!("acct-{i}"),
                    Default::default(),
                )
            })
            .collect()
    }

    fn slots(targets: &[Target]) -> Vec<Slot<'_>> {
        super::super::new_slots(targets, "eu-west-1")
    }

    #[test]
    fn one_message_for_all_groups_accounts_in_fifties() {
        let t = targets(120);
        let groups = group_by_message(slots(&t), |_| "same".into());
        assert_eq!(
            groups.iter().map(|(_, g)| g.len()).collect::<Vec<_>>(),
            [50, 50, 20]
        );
    }

    #[test]
    fn a_refused_invitation_read_back_as_still_to_invite_is_retried_not_reported() {
        let t = targets(2);
        let mut s = slots(&t);
        s[0].step = Step::ToInvite;
        s[0].status = Some("Created".into());
        s[1].step = Step::Done(Outcome::EnabledByOrganization);
        let out = refused_invitations_read(s);
        assert!(
            matches!(&out[0].step, Step::Retry(e) if e.message.contains("Created")),
            "{:?}",
            out[0].step
        );
        assert!(matches!(
            out[1].step,
            Step::Done(Outcome::EnabledByOrganization)
        ));
    }

    #[test]
    fn per_account_messages_give_one_group_per_account() {
        let t = targets(3);
        let groups = group_by_message(slots(&t), |s| format!("hi {}", s.target.name));
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[1].0, "hi acct-1");
    }
}
