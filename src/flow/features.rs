//! The protection plans: with `MEMBER_FEATURES`, every member `Enabled` at the end of the
//! flow gets those features turned on from the administrator side. A member enabled before
//! this run is read first and updated only where a feature is missing, so a replay of a
//! finished account writes nothing.

use super::{batch_of, find, take, Flow, Slot, Step};
use crate::account::AccountId;
use crate::error::AwsError;
use crate::report::Outcome;

pub async fn enable<'a>(flow: &Flow<'_>, slots: Vec<Slot<'a>>) -> Result<Vec<Slot<'a>>, AwsError> {
    let plan = &flow.config.plan;
    if plan.is_empty() {
        return Ok(slots);
    }
    let (enabled, mut out) = take(slots, |s| matches!(s, Step::Done(o) if o.is_enabled()));
    let Some((region, detector)) = batch_of(&enabled) else {
        return Ok(out);
    };
    let (known, mut to_update) = take(enabled, |s| {
        matches!(s, Step::Done(Outcome::AlreadyEnabled))
    });
    if !known.is_empty() {
        let ids: Vec<&AccountId> = known.iter().map(Slot::account_id).collect();
        let (have, _) = flow.aws.member_features(region, &detector, &ids).await?;
        for s in known {
            let on = have
                .get(s.account_id().as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            if plan.changes(on).is_empty() {
                out.push(s);
            } else {
                to_update.push(s);
            }
        }
    }
    if to_update.is_empty() {
        return Ok(out);
    }
    let ids: Vec<&AccountId> = to_update.iter().map(Slot::account_id).collect();
    let unprocessed = flow
        .aws
        .update_member_features(region, &detector, &ids, &plan.changes(&[]))
        .await?;
    out.extend(to_update.into_iter().map(|s| match find(&unprocessed, s.account_id()) {
        None => s,
        Some(u) => {
            let reason = format!(
                "the member is Enabled but its protection plans ({}) are not on: GuardDuty refused them; turn them \
                 on in the GuardDuty console or replay the event",
                plan.on.join(", ")
            );
            s.unprocessed("UpdateMemberDetectors", &u.result, reason)
        }
    }));
    Ok(out)
}
