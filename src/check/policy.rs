//! The protection policy as it will apply: whether it reads and parses, and (`--policy`)
//! each rule with the accounts it matches and their plans, and the accounts left to the
//! default. Read calls only.

use std::sync::Arc;
use std::time::SystemTime;

use super::{call_failed, CheckLine};
use crate::aws::Aws;
use crate::plan::Plan;
use crate::policy::{Action, Date, Policy};

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

pub async fn checks(aws: &Aws, input: &PolicyInput) -> Vec<CheckLine> {
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
        lines.extend(placements(aws, &policy).await);
    }
    lines
}

/// Each rule with the accounts it matches, the default with the rest.
async fn placements(aws: &Aws, policy: &Policy) -> Vec<CheckLine> {
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
    let mut per_rule = vec![0usize; policy.rules.len()];
    let mut by_default = 0;
    for a in listing
        .accounts
        .iter()
        .filter(|a| a.id != admin && crate::reconcile::plan::is_active(a))
    {
        let place = policy.place(&a.id, a.ous.as_deref().unwrap_or_default(), today);
        match place.rule.and_then(|r| per_rule.get_mut(r)) {
            Some(n) => *n += 1,
            None => by_default += 1,
        }
        if let Some(e) = place.expired {
            lines.push(CheckLine::warning(
                "policy rules",
                None,
                format!("the exception of rules[{}] for {} (owner {}) ended on {}: the account is protected like any other", e.rule, a.id, e.owner, e.until),
                "renew the exception with its owner or remove the rule".into(),
            ));
        }
    }
    for (i, rule) in policy.rules.iter().enumerate() {
        let what = match &rule.action {
            Action::Plan(p) => describe(p),
            Action::Except(e) => format!(
                "excepted (owner {}, until {}: {})",
                e.owner, e.until, e.reason
            ),
        };
        let detail = format!("{}: {} account(s): {what}", rule.describe(i), per_rule[i]);
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
            "default: {by_default} account(s): {}",
            describe(&policy.default)
        ),
    ));
    lines
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
