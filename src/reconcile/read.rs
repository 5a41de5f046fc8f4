//! The reads of a reconcile that need no decision: every region's members, and the plans of
//! those GuardDuty shows `Enabled`, read page by page while the listings go on.
//!
//! Each ListMembers page's `Enabled` members have their plans read at once (one
//! GetMemberDetectors of at most 50, the page's size), so the daily case, where every account
//! is a member with its plans, has read everything by the time the organization is listed;
//! the batches only read what was not read ahead. These reads run under their own few
//! permits (those the listings leave, at least one), so that with up to six regions they
//! never hold up a listing: the listings are the chains that bound the run.

use std::collections::HashMap;
use std::sync::Arc;

use futures::channel::mpsc;
use futures::stream::StreamExt;
use tokio::sync::Semaphore;
use tracing::debug;

use crate::account::AccountId;
use crate::aws::{all_pages, Aws, ListedMember, MemberFeatures, MAX_CONCURRENT_CALLS};
use crate::error::AwsError;
use crate::flow::ReadAhead;
use crate::plan::FeatureState;

/// What a reconcile read of one region before deciding anything.
#[derive(Debug, Default)]
pub struct RegionRead {
    /// Every member, in ListMembers' order (none without a detector).
    pub members: Vec<ListedMember>,
    pub plans: PlansRead,
}

/// Every region's members and plans, concurrently. `named` are the features any plan of
/// the policy names; with none, no plan is read.
pub async fn read_regions(
    aws: &Aws,
    regions: &[String],
    named: &[String],
) -> Result<Vec<RegionRead>, AwsError> {
    // The listings take the permits they need (the organization's chain and one per region);
    // the plan reads share the rest, and each region's permit once its listing is done.
    let reads = Semaphore::new(
        MAX_CONCURRENT_CALLS
            .saturating_sub(regions.len() + 1)
            .max(1),
    );
    let all = regions
        .iter()
        .map(|region| read_region(aws, region, named, &reads));
    futures::future::join_all(all).await.into_iter().collect()
}

async fn read_region(
    aws: &Aws,
    region: &str,
    named: &[String],
    permits: &Semaphore,
) -> Result<RegionRead, AwsError> {
    let Some(detector) = aws.detector(region).await? else {
        // No detector, so nothing can be a member there; the flow says so per region.
        permits.add_permits(1);
        return Ok(RegionRead::default());
    };
    let (pages, enabled) = mpsc::unbounded::<Vec<AccountId>>();
    let detector = detector.as_str();
    let listing = async move {
        // Owned here, so that the reads end when the listing does.
        let pages = pages;
        let members = all_pages(|token| {
            let pages = &pages;
            async move {
                let (page, next) = aws.members_page(region, detector, token).await?;
                if !named.is_empty() {
                    let ids: Vec<AccountId> = page
                        .iter()
                        .filter(|m| m.relationship_status.eq_ignore_ascii_case("enabled"))
                        .filter_map(|m| AccountId::parse(&m.account_id).ok())
                        .collect();
                    if !ids.is_empty() {
                        // The receiver lives as long as this listing: a send cannot fail.
                        let _ = pages.unbounded_send(ids);
                    }
                }
                Ok((page, next))
            }
        })
        .await;
        permits.add_permits(1);
        members
    };
    let reading = enabled
        .map(|ids| async move {
            let _permit = permits.acquire().await.ok();
            let refs: Vec<&AccountId> = ids.iter().collect();
            aws.member_features(region, detector, &refs).await
        })
        .buffer_unordered(MAX_CONCURRENT_CALLS)
        .fold(PlansRead::new(named), |mut plans, answer| async move {
            plans.keep(answer);
            plans
        });
    let (members, plans) = tokio::join!(listing, reading);
    Ok(RegionRead {
        members: members?,
        plans,
    })
}

/// The members' answers to GetMemberDetectors, kept small: 50,000 members in each of several
/// regions share a handful of distinct feature states, so each account holds the index of
/// its state.
#[derive(Debug, Default)]
pub struct PlansRead {
    named: Vec<String>,
    /// Shared with every slot that reads one: a slot holds its members' state, not a copy.
    states: Vec<Arc<[FeatureState]>>,
    index: HashMap<Arc<[FeatureState]>, u32>,
    /// By account id (12 digits, as a number).
    by_account: HashMap<u64, u32>,
    unprocessed: HashMap<u64, String>,
}

impl PlansRead {
    fn new(named: &[String]) -> Self {
        Self {
            named: named.to_vec(),
            ..Self::default()
        }
    }

    /// Keeps one call's answer. A failed call keeps nothing: its batch reads those members
    /// again, with the flow's handling of the failure.
    fn keep(&mut self, answer: Result<MemberFeatures, AwsError>) {
        let (features, unprocessed) = match answer {
            Ok(a) => a,
            Err(e) => {
                debug!(error = %e, "plans not read ahead: their batch reads them");
                return;
            }
        };
        for (id, have) in features {
            let Ok(key) = id.parse::<u64>() else { continue };
            let named: Vec<FeatureState> = have
                .into_iter()
                .filter(|f| self.named.contains(&f.name))
                .collect();
            let i = match self.index.get(named.as_slice()) {
                Some(i) => *i,
                None => {
                    let i = self.states.len() as u32;
                    let state: Arc<[FeatureState]> = named.into();
                    self.index.insert(Arc::clone(&state), i);
                    self.states.push(state);
                    i
                }
            };
            self.by_account.insert(key, i);
        }
        for u in unprocessed {
            if let Ok(key) = u.account_id.parse::<u64>() {
                self.unprocessed.insert(key, u.result);
            }
        }
    }

    /// The account's answer, if one was read ahead.
    pub fn get(&self, account: &AccountId) -> Option<ReadAhead> {
        let key = account.as_str().parse::<u64>().ok()?;
        if let Some(result) = self.unprocessed.get(&key) {
            return Some(ReadAhead::Unprocessed(result.clone()));
        }
        let i = *self.by_account.get(&key)?;
        Some(ReadAhead::Features(self.states.get(i as usize)?.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::Unprocessed;

    fn feature(name: &str, status: &str) -> FeatureState {
        FeatureState {
            name: name.into(),
            status: status.into(),
            additional: vec![("EKS_ADDON_MANAGEMENT".into(), status.into())],
        }
    }

    fn id(raw: &str) -> AccountId {
        AccountId::parse(raw).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn read_ahead_keeps_the_named_features_each_account_returned() {
        let mut plans = PlansRead::new(&["RUNTIME_MONITORING".into()]);
        let on = vec![
            feature("S3_DATA_EVENTS", "DISABLED"),
            feature("RUNTIME_MONITORING", "ENABLED"),
        ];
        let off = vec![feature("RUNTIME_MONITORING", "DISABLED")];
        plans.keep(Ok((
            HashMap::from([
                ("111111111111".into(), on.clone()),
                ("222222222222".into(), off),
                ("333333333333".into(), on),
            ]),
            vec![Unprocessed {
                account_id: "444444444444".into(),
                result: "data unavailable".into(),
            }],
        )));
        assert_eq!(
            plans.get(&id("111111111111")),
            Some(ReadAhead::Features(
                vec![feature("RUNTIME_MONITORING", "ENABLED")].into()
            ))
        );
        assert_eq!(
            plans.get(&id("222222222222")),
            Some(ReadAhead::Features(
                vec![feature("RUNTIME_MONITORING", "DISABLED")].into()
            ))
        );
        assert_eq!(
            plans.get(&id("333333333333")),
            plans.get(&id("111111111111"))
        );
        assert_eq!(plans.states.len(), 2, "one copy per distinct state");
        assert_eq!(
            plans.get(&id("444444444444")),
            Some(ReadAhead::Unprocessed("data unavailable".into()))
        );
        assert_eq!(
            plans.get(&id("555555555555")),
            None,
            "not read: its batch reads it"
        );
    }
}
