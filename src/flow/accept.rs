//! Accepting in the member account: an invitation alone leaves a new account `Invited` and
//! unwatched. With a member role configured, the function assumes it in the account and, in
//! each region, finds or creates the account's detector and accepts the administrator's
//! invitation with it.

use futures::future::join_all;

use super::{take, Flow, Slot, Step};
use crate::aws::{Assumed, Invitation, MemberSession};
use crate::decision::{is_region_disabled, role_arn};
use crate::error::{AwsError, FailureKind};
use crate::report::{Outcome, Problem};

/// The STS session name, so that the member account's CloudTrail names this function.
pub const SESSION_NAME: &str = "guardduty-invite";

/// Why one account could not accept in one region.
enum Blocked {
    Problem(Problem),
    Retry(AwsError),
}

/// Accepts for every slot left invited (now or earlier), when a member role is configured.
pub async fn accept<'a>(flow: &Flow<'_>, slots: Vec<Slot<'a>>) -> Result<Vec<Slot<'a>>, AwsError> {
    let Some(role) = &flow.config.member_role else {
        return Ok(slots);
    };
    let (invited, mut out) = take(slots, |s| {
        matches!(
            s,
            Step::Done(Outcome::Invited { .. } | Outcome::AlreadyInvited { .. })
        )
    });
    if invited.is_empty() {
        return Ok(out);
    }
    let admin = flow.aws.admin_account().await?;
    let accepted = invited.into_iter().map(|s| async {
        let arn = role_arn(flow.config.partition(), s.account_id().as_str(), role);
        let email_sent = match &s.step {
            Step::Done(Outcome::Invited { email_sent }) => Some(*email_sent),
            _ => None,
        };
        match accept_one(flow, &arn, &admin, &s).await {
            Ok(()) => s.done(Outcome::Accepted { email_sent }),
            Err(Blocked::Problem(p)) => s.fail(p),
            Err(Blocked::Retry(e)) => s.retry(e),
        }
    });
    out.extend(join_all(accepted).await);
    Ok(out)
}

async fn accept_one(flow: &Flow<'_>, arn: &str, admin: &str, s: &Slot<'_>) -> Result<(), Blocked> {
    let assumed = flow
        .member_session(s.account_id(), arn)
        .await
        .map_err(Blocked::Retry)?;
    let session = match assumed.as_ref() {
        Assumed::Session(session) => session,
        Assumed::Denied(said) => {
            return Err(Blocked::Problem(
                s.problem(
                    "AssumeRole",
                    format!(
                        "the account is invited but NOT protected: the function could not assume {arn}. Create that \
                         role in the account, trusting this administrator account (Organizations creates \
                         OrganizationAccountAccessRole in the accounts it creates, Control Tower \
                         AWSControlTowerExecution), or enable GuardDuty and accept the invitation in the account \
                         yourself. Accounts outside the organization normally have no such role."
                    ),
                )
                .with_result(said.as_str()),
            ))
        }
    };
    let region = s.region;
    let member_call = |operation: &str, e: AwsError| blocked(s, operation, e);
    let detector = match flow.aws.member_detector(session, region).await {
        Ok(Some(id)) => id,
        Ok(None) => flow
            .aws
            .create_member_detector(session, region)
            .await
            .map_err(|e| member_call("CreateDetector", e))?,
        Err(e) => return Err(member_call("ListDetectors", e)),
    };
    let invitation = invitation_from(flow, session, region, admin)
        .await
        .map_err(|e| member_call("ListInvitations", e))?
        .ok_or_else(|| {
            Blocked::Problem(s.problem(
                "ListInvitations",
                format!(
                    "the account is invited but NOT protected: no invitation from administrator {admin} is waiting in \
                     the account in {region}. It may have been declined or deleted; delete the member and replay the \
                     event, or check the account's GuardDuty console"
                ),
            ))
        })?;
    flow.aws
        .accept_invitation(session, region, &detector, &invitation)
        .await
        .map_err(|e| member_call("AcceptAdministratorInvitation", e))
}

async fn invitation_from(
    flow: &Flow<'_>,
    session: &MemberSession,
    region: &str,
    admin: &str,
) -> Result<Option<Invitation>, AwsError> {
    let invitations = flow.aws.list_invitations(session, region).await?;
    Ok(invitations.into_iter().find(|i| i.account_id == admin))
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
