//! Opt-in regions: whether the function may ask Account Management which regions an account
//! has enabled, before inviting it in an opt-in region.
//!
//! The question is asked about a member account (the one given, else one of the
//! organization's), as the function asks it: asking about this account would pass where
//! asking about another is denied. ListRegions takes only member accounts ("The specified
//! account ID must be a member account in the same organization"), so the management
//! account's regions cannot be read from any other account: that is said plainly, not as
//! "ListRegions is not allowed".

use super::fix::call_failed;
use super::CheckLine;
use crate::account::AccountId;
use crate::aws::Aws;
use crate::config::Config;
use crate::error::FailureKind;
use crate::regions::is_opt_in;

const CHECK: &str = "opt-in regions";

/// ListRegions for `account` (or one of the organization's member accounts), only when an
/// opt-in region is configured.
pub(super) async fn check(aws: &Aws, config: &Config, account: Option<&AccountId>) -> CheckLine {
    let opt_in: Vec<&str> = config
        .regions
        .iter()
        .map(String::as_str)
        .filter(|r| is_opt_in(r))
        .collect();
    if opt_in.is_empty() {
        return CheckLine::skipped(
            CHECK,
            None,
            "GUARDDUTY_REGIONS holds no opt-in region: which regions an account has enabled does \
             not matter"
                .into(),
        );
    }
    let this = match aws.admin_account().await {
        Ok(own) => own,
        Err(e) => return call_failed(CHECK, None, e),
    };
    let management = match aws.describe_organization().await {
        Ok(org) => org.management_account,
        Err(e) => return call_failed(CHECK, None, e),
    };
    let target = match account {
        Some(a) => a.clone(),
        None => match a_member(aws, &this, &management).await {
            Ok(Some(id)) => id,
            Ok(None) => {
                return CheckLine::skipped(
                    CHECK,
                    None,
                    "the organization has no member account to ask about".into(),
                )
            }
            Err(e) => return call_failed(CHECK, None, e),
        },
    };
    if target.as_str() == management && this != management {
        return CheckLine::warning(
            CHECK,
            None,
            format!(
                "{target} is the organization's management account, whose regions cannot be read \
                 from another account (ListRegions takes only member accounts): the function \
                 tries every configured opt-in region ({}) for it",
                opt_in.join(", ")
            ),
            "nothing to grant: enable the opt-in regions in the management account itself, or \
             leave them; check with --account and a member account to see ListRegions work"
                .into(),
        );
    }
    asked(aws, &this, &target, &opt_in).await
}

/// An account of the organization other than this one and the management account (the
/// first by id), or none.
async fn a_member(
    aws: &Aws,
    this: &str,
    management: &str,
) -> Result<Option<AccountId>, crate::error::AwsError> {
    let mut ids: Vec<String> = aws
        .list_accounts()
        .await?
        .into_iter()
        .map(|a| a.id)
        .filter(|id| id != this && id != management)
        .collect();
    ids.sort_unstable();
    Ok(ids.iter().find_map(|id| AccountId::parse(id).ok()))
}

/// ListRegions about `target`, as the function asks it.
async fn asked(aws: &Aws, this: &str, target: &AccountId, opt_in: &[&str]) -> CheckLine {
    match aws.enabled_regions(target).await {
        Ok(regions) => {
            let statuses: Vec<String> = opt_in
                .iter()
                .map(|r| {
                    let status = regions
                        .iter()
                        .find(|(name, _)| name == r)
                        .map_or("not listed", |(_, s)| s.as_str());
                    format!("{r} {status}")
                })
                .collect();
            CheckLine::passed(
                CHECK,
                None,
                format!(
                    "ListRegions answers for {target}: {} (the function skips an account's \
                     regions that are not enabled)",
                    statuses.join(", ")
                ),
            )
        }
        Err(e) if e.kind == FailureKind::AccessDenied => CheckLine::warning(
            CHECK,
            None,
            format!(
                "{e}: the function cannot tell whether {target} has enabled {}, so it falls \
                 back to inviting in every configured region",
                opt_in.join(", ")
            ),
            format!(
                "allow it: enable trusted access for AWS Account Management (aws \
                 organizations enable-aws-service-access --service-principal \
                 account.amazonaws.com) and, when this account is a delegated administrator, \
                 register it from the management account (aws organizations \
                 register-delegated-administrator --account-id {this} --service-principal \
                 account.amazonaws.com), and grant account:ListRegions to the role the \
                 function runs as (template.yaml grants it)"
            ),
        ),
        Err(e) => call_failed(CHECK, None, e),
    }
}
