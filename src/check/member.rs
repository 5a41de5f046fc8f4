//! The member role (`check --account ID`): whether it can be assumed, why not, and the
//! member's own detectors as the role sees them.

use super::fix::{call_failed, iam_action};
use super::{CheckLine, Verdict};
use crate::account::AccountId;
use crate::aws::{Assumed, Aws, MemberSession};
use crate::config::Config;
use crate::decision::{denied_by_own_policy, is_region_disabled, role_arn};
use crate::error::{AwsError, FailureKind};
use crate::flow::accept::SESSION_NAME;

const ROLE: &str = "member role";
const DETECTORS: &str = "member detectors";

pub(super) async fn checks(
    aws: &Aws,
    config: &Config,
    account: Option<&AccountId>,
) -> Vec<CheckLine> {
    let Some(role) = &config.member_role else {
        return vec![CheckLine::skipped(
            ROLE,
            None,
            "MEMBER_ROLE_NAME is not set: the function stops at the invitation".into(),
        )];
    };
    let Some(account) = account else {
        return vec![CheckLine::skipped(
            ROLE,
            None,
            format!("{role} was not tried: give an account (check --account ID) to try it in"),
        )];
    };
    let arn = role_arn(config.partition(), account.as_str(), role);
    let session = match aws.assume_member_role(account, &arn, SESSION_NAME).await {
        Ok(Assumed::Session(s)) => s,
        Ok(Assumed::Denied(said)) if denied_by_own_policy(&said) => {
            return vec![refused_by_own_policy(aws, &arn, role, &said).await]
        }
        Ok(Assumed::Denied(said)) => return vec![refused_by_role(&arn, role, account, &said)],
        Err(e) => return vec![call_failed(ROLE, None, e)],
    };
    let mut lines = vec![CheckLine::passed(ROLE, None, format!("{arn} assumed"))];
    for region in &config.regions {
        lines.push(member_detector(aws, &session, role, region).await);
    }
    lines
}

/// STS refused because of this function's own policy: with the stack, its grant covers
/// only the MemberRoleName role in accounts of the OrganizationId organization.
async fn refused_by_own_policy(aws: &Aws, arn: &str, role: &str, said: &str) -> CheckLine {
    let organization = match aws.describe_organization().await {
        Ok(o) if !o.id.is_empty() => format!("this organization's id, {}", o.id),
        _ => "this organization's id (aws organizations describe-organization)".to_owned(),
    };
    CheckLine::failed(
        ROLE,
        None,
        format!(
            "{arn} cannot be assumed: this function's own IAM policy does not allow it ({said})"
        ),
        format!(
            "the stack grants sts:AssumeRole only on the role its MemberRoleName parameter names, \
             in accounts of the organization its OrganizationId parameter names \
             (aws:ResourceOrgID): set OrganizationId to {organization}, and MemberRoleName to \
             {role} (MEMBER_ROLE_NAME), then update the stack"
        ),
    )
}

/// STS refused because the role does not trust this function's role, or does not exist.
fn refused_by_role(arn: &str, role: &str, account: &AccountId, said: &str) -> CheckLine {
    CheckLine::failed(
        ROLE,
        None,
        format!(
            "{arn} cannot be assumed: the role does not exist in {account} or does not trust \
             this function's role ({said})"
        ),
        format!(
            "create {role} in {account} trusting this function's role, e.g. by deploying \
             deploy/member-role.yaml to the organization's accounts as a service-managed \
             StackSet (RoleName {role}), or set MEMBER_ROLE_NAME to a role that exists there and \
             trusts it"
        ),
    )
}

/// The member's own detector in `region`, and whether it is suspended.
async fn member_detector(
    aws: &Aws,
    session: &MemberSession,
    role: &str,
    region: &str,
) -> CheckLine {
    let r = Some(region);
    let account = &session.account_id;
    let detector = match aws.member_detector(session, region).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return CheckLine::passed(
                DETECTORS,
                r,
                "no detector yet (the function will create one)".into(),
            )
        }
        Err(e) => return member_call_failed(e, role, account, region),
    };
    match aws.member_detector_status(session, region, &detector).await {
        Ok(s) if s.eq_ignore_ascii_case("ENABLED") => {
            CheckLine::passed(DETECTORS, r, format!("detector {detector} is enabled"))
        }
        Ok(s) => CheckLine::warning(
            DETECTORS,
            r,
            format!(
                "detector {detector} of {account} is suspended ({s}): GuardDuty does not monitor \
                 the account in {region} until it is resumed"
            ),
            format!(
                "the function resumes it (UpdateDetector with {role}) if the role may call \
                 guardduty:UpdateDetector, as deploy/member-role.yaml's may; otherwise resume \
                 GuardDuty in {account} in {region}"
            ),
        ),
        Err(e) => member_call_failed(e, role, account, region),
    }
}

/// A call made with the member role: its permissions are the role's, not the function's.
fn member_call_failed(e: AwsError, role: &str, account: &AccountId, region: &str) -> CheckLine {
    if e.code.as_deref().is_some_and(is_region_disabled) {
        return CheckLine::new(
            DETECTORS,
            Some(region),
            Verdict::Skipped,
            format!(
                "{region} is not enabled in {account} (an opt-in region it has not enabled): \
                 the function skips the account there ({e})"
            ),
        );
    }
    if e.kind == FailureKind::AccessDenied {
        let action = iam_action(&e);
        return CheckLine::failed(
            DETECTORS,
            Some(region),
            e.to_string(),
            format!("allow {action} to {role} in {account} (deploy/member-role.yaml grants it)"),
        );
    }
    call_failed(DETECTORS, Some(region), e)
}
