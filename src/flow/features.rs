//! The protection plans, each account its own (the protection policy's, or MEMBER_FEATURES
//! for all): every member GuardDuty shows `Enabled` has its features read
//! (GetMemberDetectors, one call per batch, unless a reconcile read them ahead while it
//! listed the members), the members that lack part of their plan are
//! updated (UpdateMemberDetectors, one call per distinct change), and those are read again,
//! so that every plan a slot reports is what GuardDuty returns. A replay of a finished
//! account reads and writes nothing; a dry run only reads.

use std::collections::HashMap;
use std::sync::Arc;

use super::{batch_of, find, Flow, ReadAhead, Slot, Step, BATCH_SIZE};
use crate::account::AccountId;
use crate::aws::Unprocessed;
use crate::decision::is_not_associated;
use crate::error::AwsError;
use crate::plan::{self, FeatureSetting, FeatureState, Plan};
use crate::report::Outcome;

pub async fn enable<'a>(flow: &Flow<'_>, slots: Vec<Slot<'a>>) -> Result<Vec<Slot<'a>>, AwsError> {
    // Members GuardDuty shows Enabled whose plan asks for something; never an excepted one.
    let (enabled, mut out): (Vec<_>, Vec<_>) = slots.into_iter().partition(|s| {
        matches!(&s.step, Step::Done(o) if *o != Outcome::Excepted)
            && s.reads_enabled()
            && !s.target.plan.is_empty()
    });
    let Some((region, detector)) = batch_of(&enabled) else {
        return Ok(out);
    };
    // Members whose plans a reconcile read ahead are not read again.
    let (ahead, unread): (Vec<_>, Vec<_>) =
        enabled.into_iter().partition(|s| s.read_ahead.is_some());
    let mut read = read_plans(flow, region, &detector, unread).await?;
    read.extend(ahead.into_iter().map(answered));
    // A feature GuardDuty returned nothing for may be one the region does not offer: ask,
    // once per region per run, and take what it does not offer out of the plans here.
    if read.iter().any(|s| {
        s.features
            .as_deref()
            .is_some_and(|h| s.target.plan.lacks_any(h))
    }) {
        let offered = flow.offered(region, &detector).await?;
        in_region(&mut read, &offered);
    }
    for s in &mut read {
        if let Some(have) = &s.features {
            let missing = s.plan().missing(have);
            s.plans_found_off = missing.into_iter().map(str::to_owned).collect();
        }
    }
    if flow.dry_run {
        out.extend(read);
        return Ok(out);
    }
    let (to_update, done): (Vec<_>, Vec<_>) = read.into_iter().partition(|s| {
        s.features
            .as_deref()
            .is_some_and(|f| !s.plan().changes(f).is_empty())
    });
    out.extend(done);
    let updated = update(flow, region, &detector, to_update).await?;
    let (written, refused): (Vec<_>, Vec<_>) = updated.into_iter().partition(|s| s.plans_set);
    out.extend(refused);
    let mut reread = read_plans(flow, region, &detector, written).await?;
    for s in &mut reread {
        if let Some(missing) = s.features.as_deref().map(|f| s.plan().missing(f)) {
            if !missing.is_empty() && s.side_problem.is_none() && s.pending.is_none() {
                s.side_problem = Some(Box::new(s.problem(
                    "GetMemberDetectors",
                    format!(
                        "GuardDuty accepted the plans but still shows {} off for the member, so it is NOT fully \
                         protected: check the organization's GuardDuty settings and the member's console",
                        missing.join(", ")
                    ),
                )));
            }
        }
    }
    out.extend(reread);
    Ok(out)
}

/// Each slot's plan in a region that offers only `offered`: one per distinct plan of the
/// batch (accounts share their policy's plans).
fn in_region(slots: &mut [Slot<'_>], offered: &[String]) {
    let mut seen: Vec<(*const Plan, Option<Arc<Plan>>)> = Vec::new();
    for s in slots {
        let key = Arc::as_ptr(&s.target.plan);
        let here = match seen.iter().find(|(k, _)| *k == key) {
            Some((_, here)) => here.clone(),
            None => {
                let here = s.target.plan.in_region(offered).map(Arc::new);
                seen.push((key, here.clone()));
                here
            }
        };
        s.plan_here = here;
    }
}

/// GetMemberDetectors for the slots: each gets its features as GuardDuty returns them. A
/// member seen `Enabled` that GuardDuty does not return, or returns as not associated, is
/// read-after-write lag: passing.
async fn read_plans<'a>(
    flow: &Flow<'_>,
    region: &str,
    detector: &str,
    slots: Vec<Slot<'a>>,
) -> Result<Vec<Slot<'a>>, AwsError> {
    if slots.is_empty() {
        return Ok(slots);
    }
    let ids: Vec<&AccountId> = slots.iter().map(Slot::account_id).collect();
    let (mut have, unprocessed) = flow.aws.member_features(region, detector, &ids).await?;
    Ok(slots
        .into_iter()
        .map(|mut s| match have.remove(s.account_id().as_str()) {
            Some(features) => {
                s.features = Some(features.into());
                s
            }
            None => not_read(s, &unprocessed),
        })
        .collect())
}

/// A slot with its plans read ahead, as if read now.
fn answered(mut s: Slot<'_>) -> Slot<'_> {
    match s.read_ahead.take() {
        Some(ReadAhead::Features(features)) => {
            s.features = Some(features);
            s
        }
        Some(ReadAhead::Unprocessed(result)) => {
            let u = Unprocessed {
                account_id: s.account_id().to_string(),
                result,
            };
            not_read(s, &[u])
        }
        None => not_read(s, &[]),
    }
}

/// A member GetMemberDetectors did not return: its protection is unknown (not protected).
fn not_read<'a>(s: Slot<'a>, unprocessed: &[Unprocessed]) -> Slot<'a> {
    let Some(u) = find(unprocessed, s.account_id()) else {
        return lag(s, "GetMemberDetectors", "not returned");
    };
    if is_not_associated(&u.result) {
        return lag(s, "GetMemberDetectors", &u.result);
    }
    let reason = "GuardDuty did not return the member's plans, so its protection is unknown: check the member in \
                  the GuardDuty console"
        .to_owned();
    s.unprocessed_beside("GetMemberDetectors", &u.result, reason)
}

/// A member this run saw `Enabled` that GuardDuty answers as not associated: GuardDuty has
/// not caught up with its own state yet (seen at random right after an association), so the
/// run is retried and the outcome stands.
fn lag<'a>(mut s: Slot<'a>, operation: &'static str, said: &str) -> Slot<'a> {
    let e = super::per_account_failure(
        operation,
        &s,
        &format!("GuardDuty answered for a member it shows Enabled: {said}; try again later"),
    );
    s.pending = Some(Box::new(e));
    s
}

/// UpdateMemberDetectors for the slots, one write per distinct change and at most
/// `BATCH_SIZE` accounts; `plans_set` on the slots GuardDuty processed. A write that changes
/// both runtime features is two calls ([`plan::calls`]); the second is made only for the
/// members GuardDuty processed in the first.
async fn update<'a>(
    flow: &Flow<'_>,
    region: &str,
    detector: &str,
    slots: Vec<Slot<'a>>,
) -> Result<Vec<Slot<'a>>, AwsError> {
    let mut out = Vec::with_capacity(slots.len());
    for (changes, group) in group_by_changes(slots) {
        let mut writing = group;
        for call in plan::calls(&changes) {
            let ids: Vec<&AccountId> = writing.iter().map(Slot::account_id).collect();
            let unprocessed = flow
                .aws
                .update_member_features(region, detector, &ids, &call)
                .await?;
            let (refused, processed): (Vec<_>, Vec<_>) = writing
                .into_iter()
                .partition(|s| find(&unprocessed, s.account_id()).is_some());
            out.extend(
                refused
                    .into_iter()
                    .map(|s| match find(&unprocessed, s.account_id()) {
                        Some(u) => not_updated(s, &u.result),
                        None => s,
                    }),
            );
            writing = processed;
        }
        let turned_off: Vec<String> = changes
            .iter()
            .filter(|c| !c.enable)
            .map(|c| c.name.clone())
            .collect();
        out.extend(writing.into_iter().map(|mut s| {
            s.plans_set = true;
            s.plans_turned_off = turned_off.clone();
            s
        }));
    }
    Ok(out)
}

/// A member GuardDuty left unprocessed in UpdateMemberDetectors with `result`.
fn not_updated<'a>(s: Slot<'a>, result: &str) -> Slot<'a> {
    if is_not_associated(result) {
        return lag(s, "UpdateMemberDetectors", result);
    }
    let reason = format!(
        "the member is Enabled but its protection plans ({}) are not on: GuardDuty refused them; turn them \
         on in the GuardDuty console or replay the event",
        s.plan().on.join(", ")
    );
    s.unprocessed_beside("UpdateMemberDetectors", result, reason)
}

/// Groups slots by the change their features call for, in first-seen order, at most
/// `BATCH_SIZE` each.
fn group_by_changes<'a>(slots: Vec<Slot<'a>>) -> Vec<(Vec<FeatureSetting>, Vec<Slot<'a>>)> {
    let mut groups: Vec<(Vec<FeatureSetting>, Vec<Slot<'a>>)> = Vec::new();
    let mut index: HashMap<Vec<FeatureSetting>, usize> = HashMap::new();
    for s in slots {
        let have: &[FeatureState] = s.features.as_deref().unwrap_or_default();
        let changes = s.plan().changes(have);
        match index.get(&changes).copied() {
            Some(i) if groups[i].1.len() < BATCH_SIZE => groups[i].1.push(s),
            _ => {
                index.insert(changes.clone(), groups.len());
                groups.push((changes, vec![s]));
            }
        }
    }
    groups
}
