//! The protection policy as it will apply: whether it reads and parses, and (`--policy`)
//! each rule with the accounts it matches and their plans, and the accounts left to the
//! default. Read calls only.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use super::{call_failed, CheckLine};
use crate::aws::Aws;
use crate::plan::Plan;
use crate::policy::{Action, Date, Policy};
use crate::reconcile::cost::{self, Costs, Reading};

/// What the preflight knows of the policy before it checks it.
pub struct PolicyInput {
    /// The parameter's name, and the policy read from it (or why not). `None`: no parameter
    /// (MEMBER_FEATURES is the whole policy).
    pub loaded: Option<(String, Result<Arc<Policy>, String>)>,
    /// The short form, when there is no parameter.
    pub short_form: Arc<Policy>,
    /// List the rules with the accounts they match (`check --policy`).
    pub list: bool,
}

pub async fn checks(aws: &Aws, input: &PolicyInput, regions: &[String]) -> Vec<CheckLine> {
    let mut lines = Vec::new();
    let policy = match &input.loaded {
        None => input.short_form.clone(),
        Some((name, Ok(p))) => {
            lines.push(CheckLine::passed(
                "policy",
                None,
                format!(
                    "{name}: {} rule(s); default: {}",
                    p.rules.len(),
                    describe(&p.default)
                ),
            ));
            p.clone()
        }
        Some((name, Err(why))) => {
            lines.push(CheckLine::failed(
                "policy",
                None,
                why.clone(),
                format!("fix the policy document in {name} (see docs/policy.md); the function fails every invocation until then"),
            ));
            return lines;
        }
    };
    if input.list {
        lines.extend(placements(aws, &policy, regions).await);
    }
    lines
}

/// Each rule with the accounts it matches, the default with the rest, and what their plans
/// cost over the last 30 days (GuardDuty's estimate): what a rule turning a plan off saves.
async fn placements(aws: &Aws, policy: &Policy, regions: &[String]) -> Vec<CheckLine> {
    let listing = match aws.list_organization().await {
        Ok(l) => l,
        Err(e) => return vec![call_failed("policy rules", None, e)],
    };
    let mut lines = Vec::new();
    for (i, ou) in policy.ou_ids() {
        if !listing.ous.iter().any(|k| k == ou) {
            let e = Policy::unknown_ou(i, ou);
            lines.push(CheckLine::failed(
                "policy rules",
                None,
                e.0,
                "correct the OU id or remove the rule".into(),
            ));
        }
    }
    let today = Date::of(SystemTime::now());
    let admin = aws.admin_account().await.unwrap_or_default();
    // "rules[N]" or "default" → the accounts it places.
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in listing
        .accounts
        .iter()
        .filter(|a| a.id != admin && crate::reconcile::plan::is_active(a))
    {
        let place = policy.place(&a.id, a.ous.as_deref().unwrap_or_default(), today);
        groups
            .entry(group_of(place.rule))
            .or_default()
            .push(a.id.clone());
        if let Some(e) = place.expired {
            lines.push(CheckLine::warning(
                "policy rules",
                None,
                format!("the exception of rules[{}] for {} (owner {}) ended on {}: the account is protected like any other", e.rule, a.id, e.owner, e.until),
                "renew the exception with its owner or remove the rule".into(),
            ));
        }
    }
    let costs = cost::read(aws, regions, &groups, Reading::PlansOnly, None).await;
    let placed = |rule: Option<usize>| groups.get(&group_of(rule)).map_or(0, Vec::len);
    let per_rule: Vec<usize> = (0..policy.rules.len()).map(|i| placed(Some(i))).collect();
    let by_default = placed(None);
    for (i, rule) in policy.rules.iter().enumerate() {
        let what = match &rule.action {
            Action::Plan(p) => describe(p),
            Action::Except(e) => format!(
                "excepted (owner {}, until {}: {})",
                e.owner, e.until, e.reason
            ),
        };
        let detail = format!(
            "{}: {} account(s): {what}; {}",
            rule.describe(i),
            per_rule[i],
            cost_words(&costs, &group_of(Some(i)))
        );
        lines.push(if per_rule[i] == 0 {
            CheckLine::warning(
                "policy rules",
                None,
                detail,
                "the rule matches no account: a typo here excepts nobody, or sets no plan, while seeming to; correct it or remove it".into(),
            )
        } else {
            CheckLine::passed("policy rules", None, detail)
        });
    }
    lines.push(CheckLine::passed(
        "policy rules",
        None,
        format!(
            "default: {by_default} account(s): {}; {}",
            describe(&policy.default),
            cost_words(&costs, &group_of(None))
        ),
    ));
    lines
}

fn group_of(rule: Option<usize>) -> String {
    rule.map_or_else(|| "default".to_owned(), |i| format!("rules[{i}]"))
}

/// "30-day cost USD 12.50 (RUNTIME_MONITORING 10.00, S3_DATA_EVENTS 2.50)", and the regions
/// whose cost is unknown, with why.
fn cost_words(costs: &Costs, group: &str) -> String {
    let plans = costs.per_ou_plan.get(group);
    let total: f64 = plans.map_or(0.0, |p| p.values().sum());
    let mut words = format!("30-day cost USD {total:.2}");
    if let Some(p) = plans.filter(|p| !p.is_empty()) {
        let each: Vec<String> = p.iter().map(|(k, v)| format!("{k} {v:.2}")).collect();
        words.push_str(&format!(" ({})", each.join(", ")));
    }
    for (region, why) in &costs.unknown {
        words.push_str(&format!("; unknown in {region}: {why}"));
    }
    words.push_str(" (GuardDuty's estimate, not the bill)");
    words
}

fn describe(plan: &Plan) -> String {
    if plan.is_empty() {
        return "no plan (features left alone)".into();
    }
    let mut s = format!("plans {}", plan.on.join(", "));
    if !plan.agents.is_empty() {
        s.push_str(&format!(" (agents {})", plan.agents.join(", ")));
    }
    if !plan.off.is_empty() {
        s.push_str(&format!("; off {}", plan.off.join(", ")));
    }
    s
}
