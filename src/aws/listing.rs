//! The whole-organization reads of a reconcile: every account with its organizational unit
//! path, every member, every page.

use std::time::SystemTime;

use std::collections::{HashMap, HashSet};

use aws_sdk_organizations::types::Account;
use futures::channel::{mpsc, oneshot};
use futures::future::{BoxFuture, FutureExt};
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
    pub ou_names: HashMap<String, String>,
}

/// The organization's tree: its OUs, as the walk found them.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    /// Every organizational unit's id (the roots are not OUs).
    pub ous: Vec<String>,
    /// OU id → its name, for the coverage report.
    pub ou_names: HashMap<String, String>,
}

/// Where the walk's pages of accounts go.
type Pages = mpsc::UnboundedSender<Vec<ListedAccount>>;

/// One entry of the walk done.
enum Listed {
    /// A parent's OUs, and the parent's path for them.
    Ous {
        path: Vec<String>,
        ous: Vec<(String, String)>,
    },
    /// A parent's accounts were all sent (`read`), or nobody reads them any more.
    Accounts { read: bool },
}

/// One entry of the walk that failed.
enum Lost {
    /// The parent was deleted during the walk (`ous`: its OUs' listing, else its accounts').
    ParentGone {
        ous: bool,
    },
    Failed(AwsError),
}

impl Lost {
    fn of(e: AwsError, ous: bool) -> Self {
        if e.code.as_deref() == Some("ParentNotFoundException") {
            Self::ParentGone { ous }
        } else {
            Self::Failed(e)
        }
    }
}

/// The walk's progress: the tree so far, and the OU listings still under way.
struct Walk {
    tree: Tree,
    send_tree: Option<oneshot::Sender<Tree>>,
    ous_pending: usize,
    gone: bool,
}

impl Walk {
    fn new(send_tree: oneshot::Sender<Tree>) -> Self {
        Self {
            tree: Tree::default(),
            send_tree: Some(send_tree),
            ous_pending: 0,
            gone: false,
        }
    }

    /// Once no OU listing is under way, the tree is whole: it is sent, once.
    fn tree_if_complete(&mut self) {
        if self.ous_pending == 0 {
            if let Some(send) = self.send_tree.take() {
                // Not awaited any more: the run stopped.
                let _ = send.send(self.tree.clone());
            }
        }
    }
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

    /// Every account of the organization with its OU path, and its OUs: the whole walk
    /// ([`Aws::walk_organization`]) gathered.
    pub async fn list_organization(&self) -> Result<Listing, AwsError> {
        let (pages, mut listed) = mpsc::unbounded();
        let (tree, tree_rx) = oneshot::channel();
        let walking = self.walk_organization(pages, tree);
        let gathering = async {
            // An account listed twice (moved between OUs during the walk, or listed again
            // from the root) is one account: its first listing is kept.
            let mut seen = HashSet::new();
            let mut accounts = Vec::new();
            while let Some(page) = listed.next().await {
                accounts.extend(page.into_iter().filter(|a| seen.insert(a.id.clone())));
            }
            accounts
        };
        let (walked, accounts) = tokio::join!(walking, gathering);
        walked?;
        let tree = tree_rx.await.unwrap_or_default();
        Ok(Listing {
            accounts,
            ous: tree.ous,
            ou_names: tree.ou_names,
        })
    }

    /// Walks the organization's tree from the root: every parent's OUs and accounts are
    /// listed at once (under the in-flight cap), so the listing takes about (OUs + accounts
    /// / 20) pages, in parallel rather than one chain. Each page of accounts goes to `pages`
    /// as it comes, so that work on them starts while the listing goes on; the tree (every
    /// OU) goes to `tree` as soon as the last OU is listed, most often long before the last
    /// account. An OU deleted during the walk loses none of its accounts: every account is
    /// listed again from the root (ListAccounts), with no known path, and the reader keeps
    /// each account's first listing. The walk stops early, with
    /// no error, when `pages` is no longer read.
    pub async fn walk_organization(
        &self,
        pages: mpsc::UnboundedSender<Vec<ListedAccount>>,
        tree: oneshot::Sender<Tree>,
    ) -> Result<(), AwsError> {
        let roots = self
            .call(
                Service::Organizations,
                "ListRoots",
                None,
                self.organizations.list_roots().send(),
            )
            .await?;
        let mut walk = Walk::new(tree);
        let mut pending = FuturesUnordered::new();
        for root in roots.roots().iter().filter_map(|r| r.id()) {
            pending.extend(self.parent(root.to_owned(), Vec::new(), &pages));
            walk.ous_pending += 1;
        }
        walk.tree_if_complete();
        while let Some(listed) = pending.next().await {
            match listed {
                Ok(Listed::Ous { path, ous }) => {
                    walk.ous_pending -= 1;
                    for (ou, name) in ous {
                        let mut path = path.clone();
                        path.push(ou.clone());
                        walk.tree.ous.push(ou.clone());
                        walk.tree.ou_names.insert(ou.clone(), name);
                        pending.extend(self.parent(ou, path, &pages));
                        walk.ous_pending += 1;
                    }
                }
                Ok(Listed::Accounts { read: true }) => {}
                // Nobody reads the pages any more: the run stopped, and says why.
                Ok(Listed::Accounts { read: false }) => return Ok(()),
                Err(Lost::ParentGone { ous }) => {
                    walk.ous_pending -= usize::from(ous);
                    walk.gone = true;
                }
                Err(Lost::Failed(e)) => return Err(e),
            }
            walk.tree_if_complete();
        }
        // Every listing has answered, so the tree is whole whatever the count says: a tree
        // never sent would leave the run waiting on nothing and listing no account at all.
        walk.ous_pending = 0;
        walk.tree_if_complete();
        if walk.gone {
            warn!("an organizational unit was deleted during the walk: its accounts are listed again from the root");
            // Every account, those already listed too: the reader keeps an account's first
            // listing, with its OU path. Not read any more: the run stopped, and says why.
            let _ = pages.unbounded_send(self.list_accounts().await?);
        }
        Ok(())
    }

    /// One parent's OUs, every page, and its accounts, every page: two entries of the walk,
    /// listed at once.
    fn parent<'s>(
        &'s self,
        parent: String,
        path: Vec<String>,
        pages: &'s Pages,
    ) -> [BoxFuture<'s, Result<Listed, Lost>>; 2] {
        let ous = {
            let (parent, path) = (parent.clone(), path.clone());
            async move {
                let ous = self.child_ous(parent).await;
                ous.map(|ous| Listed::Ous { path, ous })
                    .map_err(|e| Lost::of(e, true))
            }
        };
        let accounts = async move {
            let read = self.accounts_of(parent, path, pages).await;
            read.map(|read| Listed::Accounts { read })
                .map_err(|e| Lost::of(e, false))
        };
        [ous.boxed(), accounts.boxed()]
    }

    /// (id, name) of each OU directly under `parent`, every page.
    async fn child_ous(&self, parent: String) -> Result<Vec<(String, String)>, AwsError> {
        all_pages(|token| {
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
        })
        .await
    }

    /// The accounts directly under `parent`, each page sent as it comes; `false` when the
    /// pages are no longer read (the listing then stops).
    async fn accounts_of(
        &self,
        parent: String,
        path: Vec<String>,
        pages: &Pages,
    ) -> Result<bool, AwsError> {
        let mut token = None;
        loop {
            let sent = self
                .organizations
                .list_accounts_for_parent()
                .parent_id(&parent)
                .set_next_token(token.take())
                .send();
            let page = self
                .call(Service::Organizations, "ListAccountsForParent", None, sent)
                .await?;
            let accounts: Vec<ListedAccount> = page
                .accounts()
                .iter()
                .map(|a| ListedAccount::of(a, Some(path.clone())))
                .collect();
            if pages.unbounded_send(accounts).is_err() {
                return Ok(false);
            }
            match page.next_token().filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(true),
            }
        }
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
