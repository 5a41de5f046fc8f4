//! Opt-in regions: whether the function may ask Account Management which regions an account
//! has enabled, before inviting it in an opt-in region.

use super::fix::call_failed;
use super::CheckLine;
use crate::account::AccountId;
use crate::aws::Aws;
use crate::config::Config;
use crate::error::FailureKind;
use crate::regions::is_opt_in;

const CHECK: &str = "opt-in regions";

/// ListRegions for `account` (or this account), only when an opt-in region is configured.
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
    let this = aws.admin_account().await;
    let target = match (account, &this) {
        (Some(a), _) => a.clone(),
        (None, Ok(own)) => match AccountId::parse(own) {
            Ok(id) => id,
            Err(why) => return CheckLine::failed(CHECK, None, why, "check the credentials".into()),
        },
        (None, Err(e)) => return call_failed(CHECK, None, e.clone()),
    };
    match aws.enabled_regions(&target).await {
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
        Err(e) if e.kind == FailureKind::AccessDenied => {
            let id = this.as_deref().unwrap_or("ID");
            CheckLine::warning(
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
                     register-delegated-administrator --account-id {id} --service-principal \
                     account.amazonaws.com), and grant account:ListRegions to the role the \
                     function runs as (template.yaml grants it)"
                ),
            )
        }
        Err(e) => call_failed(CHECK, None, e),
    }
}
