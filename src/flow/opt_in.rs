//! Opt-in regions, per account: a region such as af-south-1 exists for an account only once
//! that account has enabled it (new accounts have none enabled), so an invitation there can
//! never be accepted. Before any write, the accounts that need work in an opt-in region are
//! checked with Account Management's ListRegions (once per account per run) and those that
//! have not enabled the region are skipped: `region_not_enabled`, not a problem and not in
//! the coverage's count. A region the account is still enabling (`ENABLING`: "You cannot use
//! the Region until this process is complete", which can take hours) is skipped too, and
//! counted apart (`region_enabling`): the next run finds it enabled and invites it.
//!
//! Where ListRegions is not allowed (no trusted access for AWS Account Management, or the
//! role lacks account:ListRegions), the flow goes on as if every region were enabled, with
//! one warning per run. ListRegions takes only member accounts ("The specified account ID
//! must be a member account in the same organization"), so the management account's regions
//! cannot be read from another account: it is not asked about, every region is tried for
//! it, and the log says so once, plainly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;
use tracing::warn;

use super::{Flow, Slot, Step};
use crate::account::AccountId;
use crate::error::{AwsError, FailureKind};
use crate::regions::{is_enabled_status, is_opt_in};
use crate::report::Outcome;

/// One account's regions with their opt-in statuses, asked once; `None`: ListRegions is
/// not allowed.
type Asked = Arc<OnceCell<Option<Vec<(String, String)>>>>;

/// Each account's enabled regions, asked once per run; `None`: ListRegions is not allowed.
#[derive(Default)]
pub struct EnabledRegions {
    by_account: Mutex<HashMap<AccountId, Asked>>,
    warned: std::sync::atomic::AtomicBool,
    /// The organization's management account when this is not it (its regions cannot be
    /// read from here); `None` when this is the management account or it is not known.
    unreadable: OnceCell<Option<String>>,
    warned_management: std::sync::atomic::AtomicBool,
}

/// Slots that still need a write: not members yet, or invited and waiting for acceptance.
fn needs_work(s: &Slot<'_>) -> bool {
    matches!(
        s.step,
        Step::ToCreate | Step::ToInvite | Step::Done(Outcome::AlreadyInvited)
    )
}

pub async fn skip_not_enabled<'a>(
    flow: &Flow<'_>,
    slots: Vec<Slot<'a>>,
) -> Result<Vec<Slot<'a>>, AwsError> {
    let Some(region) = slots.first().map(|s| s.region) else {
        return Ok(slots);
    };
    if !is_opt_in(region) {
        return Ok(slots);
    }
    let mut out = Vec::with_capacity(slots.len());
    for s in slots {
        if !needs_work(&s) {
            out.push(s);
            continue;
        }
        let status = enabled(flow, s.account_id()).await?.map(|regions| {
            regions
                .into_iter()
                .find(|(r, _)| r == region)
                .map(|(_, status)| status)
        });
        match status {
            // ListRegions not allowed: every region is tried.
            None => out.push(s),
            Some(Some(st)) if is_enabled_status(&st) => out.push(s),
            Some(Some(st)) if st.eq_ignore_ascii_case("ENABLING") => {
                out.push(s.done(Outcome::RegionEnabling))
            }
            Some(_) => out.push(s.done(Outcome::RegionNotEnabled)),
        }
    }
    Ok(out)
}

/// The regions of `account` with their statuses, asked of ListRegions once per run; `None`
/// when it is not allowed. Throttling and 5xx fail the run (to be retried).
async fn enabled(
    flow: &Flow<'_>,
    account: &AccountId,
) -> Result<Option<Vec<(String, String)>>, AwsError> {
    let cache = &flow.enabled_regions;
    let cell = match cache.by_account.lock() {
        Ok(mut map) => map.entry(account.clone()).or_default().clone(),
        Err(_) => Arc::new(OnceCell::new()),
    };
    if management_elsewhere(flow).await?.as_deref() == Some(account.as_str()) {
        if !cache
            .warned_management
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            warn!(account_id = %account, "the organization's management account's regions cannot be read from this account (ListRegions takes only member accounts): every configured region is tried for it");
        }
        return Ok(None);
    }
    cell.get_or_try_init(|| async {
        match flow.aws.enabled_regions(account).await {
            Ok(all) => Ok(Some(all)),
            Err(e) if e.kind == FailureKind::Transient => Err(e),
            Err(e) => {
                if !cache.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    warn!(error = %e, "ListRegions is not allowed, so opt-in regions are not checked per account: every configured region is tried (check says how to allow it)");
                }
                Ok(None)
            }
        }
    })
    .await
    .cloned()
}

/// The organization's management account, when this account is not it: asked once per run
/// (DescribeOrganization). Throttling and 5xx fail the run; another error leaves it unknown.
async fn management_elsewhere(flow: &Flow<'_>) -> Result<Option<String>, AwsError> {
    flow.enabled_regions
        .unreadable
        .get_or_try_init(|| async {
            let org = match flow.aws.describe_organization().await {
                Ok(org) => org,
                Err(e) if e.kind == FailureKind::Transient => return Err(e),
                Err(_) => return Ok(None),
            };
            let this = flow.aws.admin_account().await?;
            Ok(
                (org.management_account != this && !org.management_account.is_empty())
                    .then_some(org.management_account),
            )
        })
        .await
        .cloned()
}
