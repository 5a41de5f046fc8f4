//! The whole-organization reads of a reconcile: every account, every member, every page.

use std::time::SystemTime;

use super::{all_pages, Aws};
use crate::error::{AwsError, Service};

/// An account as Organizations lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedAccount {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// `Status` (`ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`).
    pub status: Option<String>,
    /// The newer `State` (`ACTIVE`, `SUSPENDED`, `PENDING_ACTIVATION`, `CLOSED` ...).
    pub state: Option<String>,
    pub joined_at: Option<SystemTime>,
}

/// A member as ListMembers shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedMember {
    pub account_id: String,
    pub relationship_status: String,
    /// ISO 8601, when the member was invited.
    pub invited_at: Option<String>,
}

/// ListMembers' largest page.
const MEMBERS_PAGE: i32 = 50;

impl Aws {
    /// Every account of the organization (Organizations pages at 20).
    pub async fn list_accounts(&self) -> Result<Vec<ListedAccount>, AwsError> {
        all_pages(|token| async move {
            let sent = self
                .organizations
                .list_accounts()
                .set_next_token(token)
                .send();
            let page = self
                .call(Service::Organizations, "ListAccounts", None, sent)
                .await?;
            let accounts = page.accounts().iter().map(|a| ListedAccount {
                id: a.id().unwrap_or_default().to_owned(),
                email: a.email().map(str::to_owned),
                name: a.name().map(str::to_owned),
                status: a.status().map(|s| s.as_str().to_owned()),
                state: a.state().map(|s| s.as_str().to_owned()),
                joined_at: a
                    .joined_timestamp()
                    .and_then(|t| SystemTime::try_from(*t).ok()),
            });
            Ok((accounts.collect(), page.next_token().map(str::to_owned)))
        })
        .await
    }

    /// Every member of the administrator's detector in `region`, associated or not.
    pub async fn list_members(
        &self,
        region: &str,
        detector_id: &str,
    ) -> Result<Vec<ListedMember>, AwsError> {
        all_pages(|token| async move {
            let page = self
                .on_detector(region, "ListMembers", |c| {
                    c.list_members()
                        .detector_id(detector_id)
                        .only_associated("false")
                        .max_results(MEMBERS_PAGE)
                        .set_next_token(token)
                        .send()
                })
                .await?;
            let members = page.members().iter().map(|m| ListedMember {
                account_id: m.account_id().unwrap_or_default().to_owned(),
                relationship_status: m.relationship_status().unwrap_or_default().to_owned(),
                invited_at: m.invited_at().map(str::to_owned),
            });
            Ok((members.collect(), page.next_token().map(str::to_owned)))
        })
        .await
    }
}
