//! Accepting in the member account: an invitation alone leaves a new account `Invited` and
//! unwatched. With a member role configured, the function assumes it in the account and, in
//! each region, finds or creates the account's detector, resumes it if it is suspended (an
//! accepted member whose detector is suspended monitors nothing), and accepts the
//! administrator's invitation with it.

use std::time::{Duration, SystemTime};

use futures::future::join_all;

use super::{take, Flow, Slot, Step};
use crate::aws::{Assumed, MemberSession};
use crate::decision::{denied_by_own_policy, is_detector_exists, is_region_disabled, role_arn};
use crate::error::{AwsError, FailureKind, Service};
use crate::report::{Outcome, Problem};

/// The STS session name, so that the member account's CloudTrail names this function.
pub const SESSION_NAME: &str = "guardduty-invite";

/// Why one account could not accept in one region.
enum Blocked {
    Problem(Problem),
    Retry(AwsError),
    /// No invitation yet while GuardDuty verifies the email: left to a later run.
    Pending,
    /// The member role cannot be assumed yet, within the grace: retried on a schedule.
    RolePending,
}

/// What accepting did in the member account.
struct Accepted {
    /// The detector was suspended and this run resumed it.
    resumed: bool,
}

/// Accepts for every slot left invited (now or earlier), when a member role is configured.
pub async fn accept<'a>(flow: &Flow<'_>, slots: Vec<Slot<'a>>) -> Result<Vec<Slot<'a>>, AwsError> {
    let Some(role) = &flow.config.member_role else {
        return Ok(slots);
    };
    // A member still verifying its email (InvitationPending) is looked at too: once GuardDuty
    // has delivered the invitation it is accepted at once; until then it stays pending.
    let (invited, mut out) = take(slots, |s| {
        matches!(
            s,
            Step::Done(
                Outcome::Invited { .. } | Outcome::AlreadyInvited | Outcome::InvitationPending
            )
        )
    });
    if invited.is_empty() {
        return Ok(out);
    }
    let admin = flow.aws.admin_account().await?;
    let accepted = invited.into_iter().map(|mut s| async {
        let arn = role_arn(flow.config.partition(), s.account_id().as_str(), role);
        let email_sent = match &s.step {
            Step::Done(Outcome::Invited { email_sent }) => Some(*email_sent),
            _ => None,
        };
        match accept_one(flow, &arn, &admin, &s).await {
            Ok(done) => {
                s.detector_resumed = done.resumed;
                s.done(Outcome::Accepted { email_sent })
            }
            Err(Blocked::Problem(p)) => s.fail(p),
            Err(Blocked::Retry(e)) => s.retry(e),
            Err(Blocked::Pending) => s.done(Outcome::InvitationPending),
            Err(Blocked::RolePending) => s.done(Outcome::RolePending { email_sent }),
        }
    });
    out.extend(join_all(accepted).await);
    Ok(out)
}

async fn accept_one(
    flow: &Flow<'_>,
    arn: &str,
    admin: &str,
    s: &Slot<'_>,
) -> Result<Accepted, Blocked> {
    let assumed = flow
        .member_session(s.account_id(), arn)
        .await
        .map_err(Blocked::Retry)?;
    let session = match assumed.as_ref() {
        Assumed::Session(session) => session,
        Assumed::Denied(said) => return Err(role_denied(flow, s, arn, said)),
    };
    let region = s.region;
    let member_call = |operation: &str, e: AwsError| blocked(s, operation, e);
    let detector = member_detector(flow, session, region)
        .await
        .map_err(|(operation, e)| member_call(operation, e))?;
    let resumed = resume_if_suspended(flow, session, s, &detector).await?;
    let invitation = flow
        .aws
        .list_invitations(session, region)
        .await
        .map_err(|e| member_call("ListInvitations", e))?
        .into_iter()
        .find(|i| i.account_id == admin);
    let Some(invitation) = invitation else {
        // Gone from ListInvitations once accepted: a retry after an acceptance lands here
        // while the administrator still reads Invited for a moment.
        return already_accepted(flow, session, s, admin, &detector)
            .await
            .map(|()| Accepted { resumed });
    };
    flow.aws
        .accept_invitation(session, region, &detector, &invitation)
        .await
        .map_err(|e| member_call("AcceptAdministratorInvitation", e))?;
    Ok(Accepted { resumed })
}

/// The member's own detector in the region, created if it has none. A concurrent run (one
/// event delivered twice, an overlapping reconcile) may create it first: GuardDuty then
/// refuses the second CreateDetector, and the detector is listed again.
async fn member_detector(
    flow: &Flow<'_>,
    session: &MemberSession,
    region: &str,
) -> Result<String, (&'static str, AwsError)> {
    let list = || async {
        flow.aws
            .member_detector(session, region)
            .await
            .map_err(|e| ("ListDetectors", e))
    };
    if let Some(id) = list().await? {
        return Ok(id);
    }
    match flow.aws.create_member_detector(session, region).await {
        Ok(id) => Ok(id),
        Err(e) if is_detector_exists(&e.message) => match list().await? {
            Some(id) => Ok(id),
            None => Err(("CreateDetector", e)),
        },
        Err(e) => Err(("CreateDetector", e)),
    }
}

/// Reads the member's detector and resumes it when it is suspended; `true` when resumed.
async fn resume_if_suspended(
    flow: &Flow<'_>,
    session: &MemberSession,
    s: &Slot<'_>,
    detector: &str,
) -> Result<bool, Blocked> {
    let status = flow
        .aws
        .member_detector_status(session, s.region, detector)
        .await
        .map_err(|e| blocked(s, "GetDetector", e))?;
    if !status.eq_ignore_ascii_case("DISABLED") {
        return Ok(false);
    }
    match flow.aws.resume_member_detector(session, s.region, detector).await {
        Ok(()) => Ok(true),
        Err(e) if e.kind == FailureKind::Transient => Err(Blocked::Retry(e)),
        Err(e) => Err(Blocked::Problem(
            s.problem(
                "UpdateDetector",
                format!(
                    "the account's GuardDuty detector {detector} in {} is SUSPENDED, so GuardDuty monitors nothing \
                     there and the account is NOT protected; the function could not resume it. Resume GuardDuty in \
                     the account (GuardDuty settings, or UpdateDetector with enable), or allow \
                     guardduty:UpdateDetector to the member role, then replay the event",
                    s.region
                ),
            )
            .with_result(e.message),
        )),
    }
}

/// No invitation is waiting: the account may already have accepted this administrator
/// (GetAdministratorAccount). Otherwise it is a problem.
async fn already_accepted(
    flow: &Flow<'_>,
    session: &MemberSession,
    s: &Slot<'_>,
    admin: &str,
    detector: &str,
) -> Result<(), Blocked> {
    let current = flow
        .aws
        .administrator_of(session, s.region, detector)
        .await
        .map_err(|e| blocked(s, "GetAdministratorAccount", e))?;
    if current.as_ref().is_some_and(|a| {
        a.account_id == admin && a.relationship_status.eq_ignore_ascii_case("enabled")
    }) {
        return Ok(());
    }
    // Invited with an email (just now, or still EmailVerificationInProgress): GuardDuty
    // verifies the email before it delivers the invitation. "Delete the member and replay"
    // would only start the verification again.
    if matches!(
        s.step,
        Step::Done(Outcome::Invited { email_sent: true } | Outcome::InvitationPending)
    ) {
        return Err(Blocked::Pending);
    }
    let region = s.region;
    Err(Blocked::Problem(s.problem(
        "ListInvitations",
        format!(
            "the account is invited but NOT protected: no invitation from administrator {admin} is waiting in the \
             account in {region}, and the account has not accepted this administrator. It may have been declined \
             or deleted; delete the member and replay the event, or check the account's GuardDuty console"
        ),
    )))
}

/// AssumeRole refused. Within the grace period after the account joined the organization,
/// the role may simply not be deployed yet (a StackSet reaches a new account minutes after
/// it exists): pending, retried on a schedule when one is configured, else a passing failure
/// that Lambda retries. Otherwise a problem whose fix depends on whose policy refused it.
fn role_denied(flow: &Flow<'_>, s: &Slot<'_>, arn: &str, said: &str) -> Blocked {
    let grace = Duration::from_secs(u64::from(flow.config.member_role_grace_minutes) * 60);
    let young = s
        .target
        .joined_at
        .and_then(|joined| SystemTime::now().duration_since(joined).ok())
        .is_some_and(|age| age < grace);
    if young && !denied_by_own_policy(said) {
        if flow.config.retry.is_some() {
            return Blocked::RolePending;
        }
        return Blocked::Retry(AwsError {
            service: Service::Sts,
            operation: "AssumeRole",
            region: None,
            kind: FailureKind::Transient,
            code: None,
            message: format!(
                "account {} joined the organization less than {} minutes ago and {arn} cannot be assumed yet (its \
                 role may not be deployed yet): {said}",
                s.account_id(),
                flow.config.member_role_grace_minutes
            ),
        });
    }
    let fix = if denied_by_own_policy(said) {
        format!(
            "the function's OWN policy does not allow sts:AssumeRole on {arn}: check the stack's OrganizationId \
             parameter (the aws:ResourceOrgID condition must name this organization) and MemberRoleName"
        )
    } else {
        format!(
            "the function could not assume {arn}. Create that role in the account, trusting this function's role \
             (deploy/member-role.yaml as a StackSet does it for every account; Organizations creates \
             OrganizationAccountAccessRole in the accounts it creates, Control Tower AWSControlTowerExecution), or \
             enable GuardDuty and accept the invitation in the account yourself. Accounts outside the organization \
             normally have no such role"
        )
    };
    Blocked::Problem(
        s.problem(
            "AssumeRole",
            format!("the account is invited but NOT protected: {fix}"),
        )
        .with_result(said),
    )
}

/// A failed member-side call: passing failures (throttling, 5xx, a new account whose
/// GuardDuty is not ready yet) retry the run; a region the account has not enabled, or a
/// refusal, is a problem a person must look at.
fn blocked(s: &Slot<'_>, operation: &str, e: AwsError) -> Blocked {
    if e.kind == FailureKind::Transient {
        return Blocked::Retry(e);
    }
    let region = s.region;
    let reason = if is_region_disabled(e.code.as_deref().unwrap_or_default()) {
        format!(
            "{region} is not enabled in the member account (an opt-in region), so GuardDuty cannot protect it there: \
             enable the region in the account, or remove {region} from GUARDDUTY_REGIONS"
        )
    } else {
        format!(
            "the account is invited but NOT protected: GuardDuty refused {operation} in the member account; fix what \
             it says, then replay the event"
        )
    };
    Blocked::Problem(s.problem(operation, reason).with_result(e.message))
}
