//! Account Management: which regions an account has enabled (its opt-in regions).

use super::{all_pages, Aws};
use crate::account::AccountId;
use crate::error::{AwsError, Service};

impl Aws {
    /// Every region of `account` with its opt-in status as ListRegions reports it
    /// (`ENABLED`, `ENABLING`, `DISABLING`, `DISABLED`, `ENABLED_BY_DEFAULT`), every page.
    ///
    /// For another account the caller must be the organization's management account or the
    /// Account Management delegated administrator, with trusted access for AWS Account
    /// Management enabled; else AWS answers access denied. This function's own account is
    /// asked about without an account id: AWS refuses the management account naming itself
    /// ("can only be managed using the standalone context").
    pub async fn enabled_regions(
        &self,
        account: &AccountId,
    ) -> Result<Vec<(String, String)>, AwsError> {
        let own = self.admin_account().await.ok();
        let target = (own.as_deref() != Some(account.as_str())).then(|| account.as_str());
        all_pages(|token| async move {
            let sent = self
                .account
                .list_regions()
                .set_account_id(target.map(str::to_owned))
                // The largest page: one or two calls for every region there is.
                .max_results(50)
                .set_next_token(token)
                .send();
            let page = self
                .call(Service::Account, "ListRegions", None, sent)
                .await?;
            let regions = page
                .regions()
                .iter()
                .map(|r| {
                    (
                        r.region_name().unwrap_or_default().to_owned(),
                        r.region_opt_status()
                            .map(|s| s.as_str().to_owned())
                            .unwrap_or_default(),
                    )
                })
                .collect();
            Ok((regions, page.next_token().map(str::to_owned)))
        })
        .await
    }
}
