//! The decisions of the invite flow, as pure functions over what GuardDuty answered.
//!
//! GuardDuty's result texts and relationship statuses are free text: statuses are compared
//! case-insensitively and result texts by substring, never whole: the wording is not
//! documented and varies.

/// What to do with a member, given its relationship status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberAction {
    /// Created (never invited), Resigned, or Removed outside the organization: send an
    /// invitation.
    Invite,
    /// An organization account found Removed: GuardDuty refuses to invite a member added
    /// through Organizations once disassociated; CreateMembers associates it again.
    Associate,
    /// Disabled: the administrator stopped monitoring it; StartMonitoringMembers restarts it.
    StartMonitoring,
    /// Invited: the invitation is out, nothing to do.
    AlreadyInvited,
    /// EmailVerificationInProgress: GuardDuty is still verifying the email and delivers the
    /// invitation after; until then there is nothing to accept.
    VerificationPending,
    /// Enabled: the account already reports to this administrator.
    AlreadyEnabled,
    /// Enabled by CreateMembers itself: the administrator is the organization's delegated
    /// administrator and GuardDuty enabled the account without an invitation.
    EnabledByOrganization,
    /// A state no invitation can fix; the reason says what a person has to do.
    Problem(String),
}

/// Decides from the member's status; `created_now` is true when this invocation's
/// CreateMembers added the account (so `Enabled` means organization mode); `associate` when
/// a Removed member is an organization account that CreateMembers has not been asked to
/// associate again in this run (else a Removed member is invited).
pub fn member_action(status: &str, created_now: bool, associate: bool) -> MemberAction {
    match status.to_ascii_lowercase().as_str() {
        "removed" if associate => MemberAction::Associate,
        "created" | "removed" | "resigned" => MemberAction::Invite,
        "disabled" => MemberAction::StartMonitoring,
        "invited" => MemberAction::AlreadyInvited,
        "emailverificationinprogress" => MemberAction::VerificationPending,
        "enabled" if created_now => MemberAction::EnabledByOrganization,
        "enabled" => MemberAction::AlreadyEnabled,
        "emailverificationfailed" => MemberAction::Problem(
            "GuardDuty could not verify the email address on record for this member: correct the account's email, \
             then delete the member and invite it again"
                .into(),
        ),
        _ => MemberAction::Problem(format!("unexpected relationship status {status:?}: check the member in the GuardDuty console")),
    }
}

/// CreateMembers reports an existing member of this administrator as unprocessed; that is
/// the normal state of a replayed event, not a problem. Another administrator's member
/// ("already an associated member of another master account") is a problem.
pub fn is_already_our_member(result: &str) -> bool {
    let r = result.to_ascii_lowercase();
    r.contains("already a member") && !r.contains("another")
}

/// InviteMembers reports an account invited meanwhile (a concurrent replay) as unprocessed.
pub fn is_already_invited(result: &str) -> bool {
    let r = result.to_ascii_lowercase();
    r.contains("already invited") || r.contains("already the guardduty master")
}

/// A per-account result that reports a passing failure of the service rather than a fact
/// about the account ("Internal error"): retrying the call is the remedy.
pub fn is_service_failure(result: &str) -> bool {
    let r = result.to_ascii_lowercase();
    [
        "internal error",
        "internal server error",
        "service unavailable",
        "throttl",
        "rate exceeded",
        "try again",
    ]
    .iter()
    .any(|s| r.contains(s))
}

/// What a person must do about an account GuardDuty did not add or invite, from AWS's
/// `result` text.
pub fn unprocessed_reason(operation: &str, result: &str) -> String {
    let r = result.to_ascii_lowercase();
    if r.contains("another") {
        "the account is a member of another GuardDuty administrator, so it is NOT protected by this one: have \
         that administrator disassociate and delete it, then replay the event"
            .into()
    } else if r.contains("maximum") || r.contains("limit") {
        "this administrator has reached GuardDuty's member limit in the region: delete members that are gone, \
         or manage the organization's accounts through GuardDuty's Organizations integration"
            .into()
    } else if r.contains("organization") {
        "the account was added through the organization and, once disassociated, cannot be invited: only \
         CreateMembers by the organization's GuardDuty delegated administrator associates it again. Run this \
         function as that administrator (or add the account there), then replay the event"
            .into()
    } else {
        format!("GuardDuty refused {operation} for the account (see the result): fix the cause, then replay the event")
    }
}

/// The error codes of a call to a region that is not enabled for the calling account (an
/// opt-in region): a lasting condition of that account, not a passing failure.
pub fn is_region_disabled(code: &str) -> bool {
    matches!(code, "UnrecognizedClientException" | "InvalidClientTokenId")
}

/// GuardDuty's answer for an account that is not (or, for GuardDuty, not yet) an associated
/// member: "... is not an associated member of account the current account."
pub fn is_not_associated(result: &str) -> bool {
    result
        .to_ascii_lowercase()
        .contains("not an associated member")
}

/// CreateDetector refused because the account already has one in the region (one detector
/// per account and region; a concurrent run created it).
pub fn is_detector_exists(message: &str) -> bool {
    message
        .to_ascii_lowercase()
        .contains("detector already exists")
}

/// STS refused AssumeRole because of the CALLER's own policies (its identity-based policy
/// does not allow it, or denies it), not the role's trust policy: STS's message says so,
/// e.g. "... because no identity-based policy allows the sts:AssumeRole action" or "... with
/// an explicit deny in an identity-based policy". A trust-policy refusal gives no reason.
pub fn denied_by_own_policy(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("identity-based policy") || m.contains("permissions boundary")
}

/// The member role's ARN in an account.
pub fn role_arn(partition: &str, account: &str, role: &str) -> String {
    format!("arn:{partition}:iam::{account}:role/{role}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALREADY_MEMBER: &str =
        "The request is rejected because the given account ID is already a member or associated member of the current account.";
    const ALREADY_INVITED: &str = "The request is rejected because the current account has already invited or is already the GuardDuty master of the given member account ID.";
    const OTHER_ADMIN: &str =
        "The request is rejected because the given account ID is already an associated member of another master account.";

    #[test]
    fn statuses_that_need_an_invitation() {
        for s in ["Created", "Removed", "Resigned", "CREATED", "removed"] {
            assert_eq!(member_action(s, false, false), MemberAction::Invite, "{s}");
        }
        // Resigned is the member's own doing: invited, organization account or not.
        assert_eq!(member_action("Resigned", false, true), MemberAction::Invite);
    }

    #[test]
    fn a_removed_organization_account_is_associated_again() {
        assert_eq!(
            member_action("Removed", false, true),
            MemberAction::Associate
        );
    }

    #[test]
    fn a_disabled_member_is_monitored_again() {
        assert_eq!(
            member_action("Disabled", false, true),
            MemberAction::StartMonitoring
        );
    }

    #[test]
    fn invited_or_enabled_members_need_nothing() {
        assert_eq!(
            member_action("Invited", false, false),
            MemberAction::AlreadyInvited
        );
        assert_eq!(
            member_action("EmailVerificationInProgress", false, false),
            MemberAction::VerificationPending
        );
        assert_eq!(
            member_action("enabled", false, false),
            MemberAction::AlreadyEnabled
        );
    }

    #[test]
    fn enabled_right_after_create_means_organization_mode() {
        assert_eq!(
            member_action("Enabled", true, false),
            MemberAction::EnabledByOrganization
        );
    }

    #[test]
    fn failed_verification_and_unknown_statuses_are_problems() {
        assert!(
            matches!(member_action("EmailVerificationFailed", false, false), MemberAction::Problem(r) if r.contains("email"))
        );
        assert!(
            matches!(member_action("Paused", false, false), MemberAction::Problem(r) if r.contains("Paused"))
        );
    }

    #[test]
    fn already_our_member_is_recognised_but_another_administrators_is_not() {
        assert!(is_already_our_member(ALREADY_MEMBER));
        assert!(!is_already_our_member(OTHER_ADMIN));
        assert!(!is_already_our_member("Internal error"));
    }

    #[test]
    fn internal_errors_are_passing_failures_and_facts_about_the_account_are_not() {
        assert!(is_service_failure("Internal error"));
        assert!(is_service_failure("internal server error, try again"));
        assert!(!is_service_failure(OTHER_ADMIN));
        assert!(!is_service_failure(ALREADY_MEMBER));
    }

    #[test]
    fn unprocessed_results_say_what_to_do() {
        assert!(unprocessed_reason("CreateMembers", OTHER_ADMIN)
            .contains("another GuardDuty administrator"));
        assert!(unprocessed_reason(
            "CreateMembers",
            "The request is rejected because the current account has reached the maximum number of member accounts."
        )
        .contains("member limit"));
        assert!(unprocessed_reason(
            "InviteMembers",
            "The request is rejected because the account was added through the organization and cannot be invited."
        )
        .contains("CreateMembers"));
        assert!(unprocessed_reason("InviteMembers", "Something new").contains("InviteMembers"));
    }

    #[test]
    fn opt_in_region_codes_mean_the_region_is_disabled() {
        assert!(is_region_disabled("UnrecognizedClientException"));
        assert!(is_region_disabled("InvalidClientTokenId"));
        assert!(!is_region_disabled("AccessDeniedException"));
    }

    #[test]
    fn role_arn_names_partition_account_and_role() {
        assert_eq!(
            role_arn("aws-us-gov", "111122223333", "AWSControlTowerExecution"),
            "arn:aws-us-gov:iam::111122223333:role/AWSControlTowerExecution"
        );
    }

    #[test]
    fn a_second_detector_is_recognised_by_guardduty_s_wording() {
        assert!(is_detector_exists(
            "The request is rejected because a detector already exists for the current account."
        ));
        assert!(!is_detector_exists("The request is rejected because the input detectorId is not owned by the current account."));
    }

    #[test]
    fn sts_says_when_the_caller_s_own_policy_refused_assume_role() {
        let base = "User: arn:aws:sts::123456789012:assumed-role/fn/x is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111122223333:role/R";
        assert!(!denied_by_own_policy(base), "a trust policy refusal");
        assert!(denied_by_own_policy(&format!(
            "{base} because no identity-based policy allows the sts:AssumeRole action"
        )));
        assert!(denied_by_own_policy(&format!(
            "{base} with an explicit deny in an identity-based policy"
        )));
    }

    #[test]
    fn already_invited_is_recognised() {
        assert!(is_already_invited(ALREADY_INVITED));
        assert!(!is_already_invited(OTHER_ADMIN));
        // Either half of GuardDuty's wording is enough: the text is matched by substring.
        assert!(is_already_invited(
            "The request is rejected because the current account has already invited the member."
        ));
        assert!(is_already_invited(
            "The current account is already the GuardDuty master of the given member account ID."
        ));
    }
}
