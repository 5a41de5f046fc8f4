//! The whole-organization reads of a reconcile: every account with its organizational unit
//! path, every member, every page.

use std::time::SystemTime;

use aws_sdk_organizations::types::Account;
use futures::stream::{FuturesUnordered, StreamExt};
use tracing::warn;

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
    /// The organizational units above the account, from the root's child down to its own
    /// OU (empty: directly under the root); `None` when not known.
    pub ous: Option<Vec<String>>,
}

impl ListedAccount {
    fn of(a: &Account, ous: Option<Vec<String>>) -> Self {
        Self {
            id: a.id().unwrap_or_default().to_owned(),
            email: a.email().map(str::to_owned),
            name: a.name().map(str::to_owned),
            status: a.status().map(|s| s.as_str().to_owned()),
            state: a.state().map(|s| s.as_str().to_owned()),
            joined_at: a
                .joined_timestamp()
                .and_then(|t| SystemTime::try_from(*t).ok()),
            ous,
        }
    }
}

/// The organization as the walk of its tree found it.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    pub accounts: Vec<ListedAccount>,
    /// Every organizational unit's id (the roots are not OUs).
    pub ous: Vec<String>,
    /// OU id → its name, for the coverage report.
    pub ou_names: std::collections::HashMap<String, String>,
}

/// What one parent of the organization's tree holds.
struct Children {
    /// The parent's path, for its children.
    path: Vec<String>,
    /// (id, name) of each OU.
    ous: Vec<(String, String)>,
    accounts: Vec<ListedAccount>,
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
            let accounts = page.accounts().iter().map(|a| ListedAccount::of(a, None));
            Ok((accounts.collect(), page.next_token().map(str::to_owned)))
        })
        .await
    }

    /// Every account of the organization with its OU path, walking the tree from the root:
    /// every parent's OUs and accounts are listed at once (under the in-flight cap), so the
    /// listing takes about (OUs + accounts / 20) pages, in parallel rather than one chain.
    /// An OU deleted during the walk loses none of its accounts: they are listed again from
    /// the root (ListAccounts), with no known path.
    pub async fn list_organization(&self) -> Result<Listing, AwsError> {
        let roots = self
            .call(
                Service::Organizations,
                "ListRoots",
                None,
                self.organizations.list_roots().send(),
            )
            .await?;
        let mut pending: FuturesUnordered<_> = roots
            .roots()
            .iter()
            .filter_map(|r| r.id())
            .map(|id| self.children(id.to_owned(), Vec::new()))
            .collect();
        let mut accounts = Vec::new();
        let mut ous = Vec::new();
        let mut ou_names = std::collections::HashMap::new();
        let mut gone = false;
        while let Some(listed) = pending.next().await {
            match listed {
                Ok(c) => {
                    for (ou, name) in c.ous {
                        ou_names.insert(ou.clone(), name);
                        let mut path = c.path.clone();
                        path.push(ou.clone());
                        ous.push(ou.clone());
                        pending.push(self.children(ou, path));
                    }
                    accounts.extend(c.accounts);
                }
                Err(e) if e.code.as_deref() == Some("ParentNotFoundException") => gone = true,
                Err(e) => return Err(e),
            }
        }
        if gone {
            warn!("an organizational unit was deleted during the walk: its accounts are listed again from the root");
            let seen: std::collections::HashSet<String> =
                accounts.iter().map(|a| a.id.clone()).collect();
            let all = self.list_accounts().await?;
            accounts.extend(all.into_iter().filter(|a| !seen.contains(&a.id)));
        }
        Ok(Listing {
            accounts,
            ous,
            ou_names,
        })
    }

    /// One parent's OUs and accounts, every page of each, the two listings at once.
    async fn children(&self, parent: String, path: Vec<String>) -> Result<Children, AwsError> {
        let ous = all_pages(|token| {
            let parent = parent.clone();
            async move {
                let sent = self
                    .organizations
                    .list_organizational_units_for_parent()
                    .parent_id(parent)
                    .set_next_token(token)
                    .send();
                let page = self
                    .call(
                        Service::Organizations,
                        "ListOrganizationalUnitsForParent",
                        None,
                        sent,
                    )
                    .await?;
                let ids = page.organizational_units().iter().filter_map(|o| {
                    let id = o.id()?.to_owned();
                    Some((id, o.name().unwrap_or_default().to_owned()))
                });
                Ok((ids.collect(), page.next_token().map(str::to_owned)))
            }
        });
        let accounts = all_pages(|token| {
            let (parent, path) = (parent.clone(), path.clone());
            async move {
                let sent = self
                    .organizations
                    .list_accounts_for_parent()
                    .parent_id(parent)
                    .set_next_token(token)
                    .send();
                let page = self
                    .call(Service::Organizations, "ListAccountsForParent", None, sent)
                    .await?;
                let accounts = page
                    .accounts()
                    .iter()
                    .map(|a| ListedAccount::of(a, Some(path.clone())));
                Ok((accounts.collect(), page.next_token().map(str::to_owned)))
            }
        });
        let (ous, accounts) = tokio::join!(ous, accounts);
        Ok(Children {
            path,
            ous: ous?,
            accounts: accounts?,
        })
    }

    /// An account's OU path, walking ListParents up to the root (a few calls; for one
    /// account of an event). An account outside the organization (a manual request may name
    /// one) has none: Organizations answers ChildNotFoundException for it.
    pub async fn ou_path(&self, account: &str) -> Result<Vec<String>, AwsError> {
        let mut path = Vec::new();
        let mut child = account.to_owned();
        // An organization is at most 5 OUs deep; the bound keeps a malformed answer finite.
        for _ in 0..8 {
            let sent = self.organizations.list_parents().child_id(&child).send();
            let out = match self
                .call(Service::Organizations, "ListParents", None, sent)
                .await
            {
                Err(e) if child == account && is_child_not_found(&e) => return Ok(Vec::new()),
                other => other?,
            };
            let Some(parent) = out.parents().first() else {
                break;
            };
            let id = parent.id().unwrap_or_default().to_owned();
            if parent
                .r#type()
                .is_some_and(|t| t.as_str().eq_ignore_ascii_case("ROOT"))
            {
                break;
            }
            path.insert(0, id.clone());
            child = id;
        }
        Ok(path)
    }

    /// One page of ListMembers (the largest, 50), associated members or not, and the next
    /// page's token.
    pub async fn members_page(
        &self,
        region: &str,
        detector_id: &str,
        token: Option<String>,
    ) -> Result<(Vec<ListedMember>, Option<String>), AwsError> {
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
    }
}
/// Organizations' ListParents answer for a child it does not know: "We can't find an
/// organizational unit (OU) or AWS account with the ChildId that you specified."
fn is_child_not_found(e: &AwsError) -> bool {
    e.code.as_deref() == Some("ChildNotFoundException")
}
