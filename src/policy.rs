//! The protection policy: which plans each account gets, by organizational unit or account,
//! and the exceptions, each with an owner, a reason and an end date. Pure: no I/O.
//!
//! ```yaml
//! default:
//!   plans: [S3_DATA_EVENTS, EBS_MALWARE_PROTECTION, RUNTIME_MONITORING]
//!   agents: [EKS_ADDON_MANAGEMENT, ECS_FARGATE_AGENT_MANAGEMENT, EC2_AGENT_MANAGEMENT]
//! rules:                                  # in order, the first that matches wins
//!   - match: {ou: ou-ab12-sandbox1}       # the OU or any OU below it
//!     plans: [S3_DATA_EVENTS]
//!     off: [EKS_AUDIT_LOGS, RUNTIME_MONITORING]  # turned off where on; others left alone
//!   - match: {account: "111122223333"}
//!     except: {owner: payments-platform, reason: "vendor appliance", until: 2027-03-31}
//! ```
//!
//! YAML or JSON (JSON is YAML). `MEMBER_FEATURES` is the short form of a policy with only a
//! default. An exception past its `until` date no longer holds: the account is treated like
//! any other (the rules after it, then the default), and the run reports the expiry.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::account::AccountId;
use crate::plan::{self, Plan};

/// The parser's message with its line: from the parser's location, or for a key it does
/// not know, the first line where that key stands.
fn located(e: &yaml_serde::Error, text: &str) -> String {
    let message = e.to_string();
    if message.contains("line ") {
        return message;
    }
    let line = e.location().map(|l| l.line()).or_else(|| {
        let key = message.split('`').nth(1)?;
        text.lines()
            .position(|l| {
                l.trim_start_matches(|c: char| c.is_whitespace() || c == '-')
                    .starts_with(&format!("{key}:"))
            })
            .map(|i| i + 1)
    });
    match line {
        Some(line) => format!("line {line}: {message}"),
        None => message,
    }
}

/// The names in the order first seen, each once.
fn first_seen(names: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    names.filter(|n| seen.insert(n.clone())).collect()
}

/// Days before an exception's end at which a reconcile lists it as expiring.
pub const EXPIRING_WITHIN_DAYS: i64 = 30;

/// Why a policy document cannot be used: the line or the field, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default)]
    default: Option<PlanSpec>,
    #[serde(default)]
    rules: Vec<RuleSpec>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PlanSpec {
    #[serde(default)]
    plans: Vec<String>,
    #[serde(default)]
    agents: Option<AgentsSpec>,
    #[serde(default)]
    off: Vec<String>,
}

/// `agents: [..]` or `agents: none`.
#[derive(Deserialize)]
#[serde(untagged)]
enum AgentsSpec {
    List(Vec<String>),
    Word(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    #[serde(rename = "match")]
    matcher: MatchSpec,
    #[serde(default)]
    plans: Option<Vec<String>>,
    #[serde(default)]
    agents: Option<AgentsSpec>,
    #[serde(default)]
    off: Option<Vec<String>>,
    #[serde(default)]
    except: Option<ExceptSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchSpec {
    #[serde(default)]
    ou: Option<String>,
    #[serde(default)]
    account: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExceptSpec {
    owner: String,
    reason: String,
    until: String,
}

/// A calendar date (UTC), compared as days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl Date {
    /// `YYYY-MM-DD`, a real date.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.trim().splitn(3, '-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        let date = Self {
            year: y.parse().ok()?,
            month: m.parse().ok()?,
            day: d.parse().ok()?,
        };
        (Self::from_days(date.days()) == date).then_some(date)
    }

    /// Days since 1970-01-01 (proleptic Gregorian), after Howard Hinnant's algorithm.
    pub fn days(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (i64::from(self.month) + 9) % 12;
        let doy = (153 * mp + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    pub fn from_days(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Self { year, month, day }
    }

    /// The UTC date of `t`.
    pub fn of(t: std::time::SystemTime) -> Self {
        let secs = match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64),
        };
        Self::from_days(secs.div_euclid(86_400))
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An account excepted from protection, by whom, why and until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Exception {
    pub owner: String,
    pub reason: String,
    pub until: Date,
    /// The rule that holds it (`rules[N]`).
    #[serde(skip)]
    pub rule: usize,
}

/// What a rule matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Matcher {
    /// The OU or any OU below it.
    Ou(String),
    Account(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Plan(Arc<Plan>),
    Except(Arc<Exception>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub matcher: Matcher,
    pub action: Action,
}

impl Rule {
    pub fn matches(&self, account: &str, ous: &[String]) -> bool {
        match &self.matcher {
            Matcher::Account(a) => a == account,
            Matcher::Ou(ou) => ous.iter().any(|o| o == ou),
        }
    }

    /// `rules[N] (ou ou-ab12-x)`, for messages.
    pub fn describe(&self, index: usize) -> String {
        match &self.matcher {
            Matcher::Ou(ou) => format!("rules[{index}] (ou {ou})"),
            Matcher::Account(a) => format!("rules[{index}] (account {a})"),
        }
    }
}

/// The policy as the function applies it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub default: Arc<Plan>,
    pub rules: Vec<Rule>,
}

/// Where the policy puts one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub plan: Arc<Plan>,
    /// The rule that gave the plan (`None`: the default).
    pub rule: Option<usize>,
    /// An exception that holds: the account is left alone.
    pub excepted: Option<Arc<Exception>>,
    /// An exception that has ended: reported; the account gets `plan` like any other.
    pub expired: Option<Arc<Exception>>,
}

impl Policy {
    /// The short form: one plan for every account.
    pub fn of_plan(plan: Plan) -> Self {
        Self {
            default: Arc::new(plan),
            rules: Vec::new(),
        }
    }

    /// Parses and checks a policy document (YAML or JSON): every error names the line or the
    /// field. OU ids are checked against the organization elsewhere ([`Policy::ou_ids`]).
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let doc: Document =
            yaml_serde::from_str(text).map_err(|e| PolicyError(located(&e, text)))?;
        let default = doc.default.unwrap_or_default();
        let default = plan_of(
            "default",
            &default.plans,
            default.agents.as_ref(),
            &default.off,
        )?;
        let rules = doc
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| rule_of(i, r))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            default: Arc::new(default),
            rules,
        })
    }

    pub fn has_ou_rules(&self) -> bool {
        self.rules
            .iter()
            .any(|r| matches!(r.matcher, Matcher::Ou(_)))
    }

    /// The OU ids the rules name, with the rule that names each.
    pub fn ou_ids(&self) -> Vec<(usize, &str)> {
        self.rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match &r.matcher {
                Matcher::Ou(ou) => Some((i, ou.as_str())),
                Matcher::Account(_) => None,
            })
            .collect()
    }

    /// The error for a rule naming an OU the organization does not have.
    pub fn unknown_ou(index: usize, ou: &str) -> PolicyError {
        PolicyError(format!(
            "rules[{index}].match.ou: {ou} is not an organizational unit of this organization"
        ))
    }

    /// Where the policy puts `account`, under `ous` (its OU path), on `today`.
    pub fn place(&self, account: &str, ous: &[String], today: Date) -> Placement {
        let mut expired = None;
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.matches(account, ous) {
                continue;
            }
            match &rule.action {
                Action::Plan(plan) => {
                    return Placement {
                        plan: plan.clone(),
                        rule: Some(i),
                        excepted: None,
                        expired,
                    }
                }
                Action::Except(e) if e.until >= today => {
                    return Placement {
                        plan: Arc::new(Plan::default()),
                        rule: Some(i),
                        excepted: Some(e.clone()),
                        expired,
                    }
                }
                // Ended: from that day on, the account is treated like any other.
                Action::Except(e) => expired = expired.or_else(|| Some(e.clone())),
            }
        }
        Placement {
            plan: self.default.clone(),
            rule: None,
            excepted: None,
            expired,
        }
    }

    /// The default plan, then each rule's (exceptions have none).
    fn plans(&self) -> impl Iterator<Item = &Arc<Plan>> {
        std::iter::once(&self.default).chain(self.rules.iter().filter_map(|r| match &r.action {
            Action::Plan(p) => Some(p),
            Action::Except(_) => None,
        }))
    }

    /// Every plan column any plan of the policy reports, in first-seen order.
    pub fn columns(&self) -> Vec<String> {
        first_seen(self.plans().flat_map(|p| p.columns()))
    }

    /// Every feature any plan turns on, in first-seen order.
    pub fn wanted_features(&self) -> Vec<String> {
        first_seen(self.plans().flat_map(|p| p.on.clone()))
    }

    /// Every feature any plan turns on or off, in first-seen order: what a reconcile reads
    /// of each member's features.
    pub fn named_features(&self) -> Vec<String> {
        first_seen(
            self.plans()
                .flat_map(|p| p.on.iter().chain(&p.off).cloned()),
        )
    }

    /// No plan anywhere: features are left alone and `Enabled` alone is protected.
    pub fn wants_no_plan(&self) -> bool {
        self.default.is_empty()
            && self.rules.iter().all(|r| match &r.action {
                Action::Plan(p) => p.is_empty(),
                Action::Except(_) => true,
            })
    }
}

fn plan_of(
    at: &str,
    plans: &[String],
    agents: Option<&AgentsSpec>,
    off: &[String],
) -> Result<Plan, PolicyError> {
    let field = |name: &str, why: String| PolicyError(format!("{at}.{name}: {why}"));
    let on = plan::parse_features(&plans.join(",")).map_err(|why| field("plans", why))?;
    let off_list = plan::parse_feature_names(&off.join(",")).map_err(|why| field("off", why))?;
    if let Some(both) = on.iter().find(|f| off_list.contains(f)) {
        return Err(field("off", format!("{both} is also in plans")));
    }
    let agents_raw = match agents {
        None => None,
        Some(AgentsSpec::Word(w)) => Some(w.clone()),
        Some(AgentsSpec::List(list)) if list.is_empty() => Some("none".to_owned()),
        Some(AgentsSpec::List(list)) => Some(list.join(",")),
    };
    let agents =
        plan::parse_agents(agents_raw.as_deref(), &on).map_err(|why| field("agents", why))?;
    Ok(Plan {
        on,
        agents,
        off: off_list,
    })
}

fn rule_of(i: usize, r: &RuleSpec) -> Result<Rule, PolicyError> {
    let at = format!("rules[{i}]");
    let err = |what: String| PolicyError(format!("{at}{what}"));
    let matcher = match (&r.matcher.ou, &r.matcher.account) {
        (Some(ou), None) if is_ou_id(ou) => Matcher::Ou(ou.clone()),
        (Some(ou), None) => {
            return Err(err(format!(
                ".match.ou: {ou:?} is not an OU id (ou-xxxx-xxxxxxxx; for the whole organization, use the default)"
            )))
        }
        (None, Some(a)) => Matcher::Account(
            AccountId::parse(a)
                .map_err(|why| err(format!(".match.account: {why}")))?
                .to_string(),
        ),
        _ => return Err(err(".match: give exactly one of ou or account".into())),
    };
    let plan_given = r.plans.is_some() || r.agents.is_some() || r.off.is_some();
    let action = match (&r.except, plan_given) {
        (Some(_), true) => {
            return Err(err(
                ": an exception leaves the account alone, so it takes no plans, agents or off"
                    .into(),
            ))
        }
        (Some(e), false) => Action::Except(Arc::new(Exception {
            owner: nonempty(&e.owner).ok_or_else(|| err(".except.owner: is empty".into()))?,
            reason: nonempty(&e.reason).ok_or_else(|| err(".except.reason: is empty".into()))?,
            until: Date::parse(&e.until).ok_or_else(|| {
                err(format!(
                    ".except.until: {:?} is not a date (YYYY-MM-DD)",
                    e.until
                ))
            })?,
            rule: i,
        })),
        (None, true) => Action::Plan(Arc::new(plan_of(
            &at,
            r.plans.as_deref().unwrap_or_default(),
            r.agents.as_ref(),
            r.off.as_deref().unwrap_or_default(),
        )?)),
        (None, false) => return Err(err(": give plans (or off) or except".into())),
    };
    Ok(Rule { matcher, action })
}

fn nonempty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// `ou-` then 4-32 lowercase letters or digits, `-`, 8-32 more.
fn is_ou_id(s: &str) -> bool {
    let ok = |part: &str, min: usize| {
        (min..=32).contains(&part.len())
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    match s.split('-').collect::<Vec<_>>().as_slice() {
        ["ou", root, ou] => ok(root, 4) && ok(ou, 8),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A document of `n` rules of one shape, as docs/policy.md shows them.
    fn document_of(n: usize, exception: bool) -> String {
        let mut doc = String::from(
            "default:\n  plans: [S3_DATA_EVENTS, EBS_MALWARE_PROTECTION, RUNTIME_MONITORING]\n  \
             agents: [EKS_ADDON_MANAGEMENT, ECS_FARGATE_AGENT_MANAGEMENT, EC2_AGENT_MANAGEMENT]\nrules:\n",
        );
        for i in 0..n {
            if exception {
                doc.push_str(&format!(
                    "  - match: {{account: \"{:012}\"}}\n    except:\n      owner: payments-platform\n      \
                     reason: vendor appliance, GuardDuty agent unsupported\n      until: 2027-03-31\n",
                    111_122_220_000u64 + i as u64
                ));
            } else {
                doc.push_str(&format!(
                    "  - match: {{ou: ou-ab12-sandbx{i:02}}}\n    plans: [S3_DATA_EVENTS]\n    \
                     off: [EKS_AUDIT_LOGS, RUNTIME_MONITORING]\n"
                ));
            }
        }
        doc
    }

    /// The counts docs/policy.md gives: a Standard parameter (4 KB) holds about 35 plan
    /// rules or 23 exceptions, an Advanced one (8 KB) about 74 or 48.
    #[test]
    fn the_documented_number_of_rules_fits_each_parameter_tier() {
        for (limit, plans, exceptions) in [(4096, 35, 23), (8192, 74, 48)] {
            for (n, exception) in [(plans, false), (exceptions, true)] {
                let doc = document_of(n, exception);
                assert!(doc.len() <= limit, "{n} rules take {} bytes", doc.len());
                let policy = Policy::parse(&doc).unwrap();
                assert_eq!(policy.rules.len(), n);
                let more = document_of(n + 3, exception);
                assert!(more.len() > limit, "{} rules fit too: say so", n + 3);
            }
        }
    }

    const SKETCH: &str = r#"
default:
  plans: [S3_DATA_EVENTS, EBS_MALWARE_PROTECTION, RUNTIME_MONITORING]
  agents: [EKS_ADDON_MANAGEMENT, ECS_FARGATE_AGENT_MANAGEMENT, EC2_AGENT_MANAGEMENT]
rules:
  - match: {ou: ou-ab12-sandbox1}
    plans: [S3_DATA_EVENTS]
    off: [EKS_AUDIT_LOGS, RUNTIME_MONITORING]
  - match: {account: "111122223333"}
    except: {owner: "payments-platform", reason: "vendor appliance, GuardDuty agent unsupported", until: 2027-03-31}
"#;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    fn err(text: &str) -> String {
        Policy::parse(text).unwrap_err().0
    }

    #[test]
    fn the_sketch_parses_and_places_accounts_by_the_first_matching_rule() {
        let p = Policy::parse(SKETCH).unwrap();
        assert_eq!(p.default.agents.len(), 3);
        let sandbox = p.place(
            "444455556666",
            &["ou-ab12-parent00".into(), "ou-ab12-sandbox1".into()],
            d("2026-12-01"),
        );
        assert_eq!(sandbox.rule, Some(0));
        assert_eq!(sandbox.plan.on, ["S3_DATA_EVENTS"]);
        assert_eq!(sandbox.plan.off, ["EKS_AUDIT_LOGS", "RUNTIME_MONITORING"]);
        let other = p.place(
            "444455556666",
            &["ou-ab12-prod0000".into()],
            d("2026-12-01"),
        );
        assert_eq!(other.rule, None);
        assert_eq!(other.plan, p.default);
    }

    #[test]
    fn an_exception_holds_until_its_date_then_the_account_is_treated_like_any_other() {
        let p = Policy::parse(SKETCH).unwrap();
        let held = p.place("111122223333", &[], d("2027-03-31"));
        assert!(held.excepted.is_some() && held.expired.is_none());
        assert!(held.plan.is_empty());
        let ended = p.place("111122223333", &[], d("2027-04-01"));
        assert!(ended.excepted.is_none());
        assert_eq!(
            ended.expired.as_ref().map(|e| e.owner.as_str()),
            Some("payments-platform")
        );
        assert_eq!(ended.plan, p.default);
    }

    #[test]
    fn json_is_a_policy_too_and_the_short_form_has_only_a_default() {
        let p = Policy::parse(r#"{"default": {"plans": ["S3_DATA_EVENTS"]}}"#).unwrap();
        assert_eq!(p.default.on, ["S3_DATA_EVENTS"]);
        assert!(p.rules.is_empty());
        assert!(Policy::of_plan(Plan::default()).wants_no_plan());
    }

    #[test]
    fn every_bad_input_is_one_error_naming_the_field_or_the_line() {
        let cases = [
            ("default: {plans: [FLUX]}", "default.plans: unknown feature \"FLUX\""),
            ("default: {plans: [RUNTIME_MONITORING], agents: [GPU]}", "default.agents: unknown agent setting \"GPU\""),
            ("rules:\n  - match: {ou: ou-1}\n    plans: [S3_DATA_EVENTS]\n", "rules[0].match.ou"),
            ("rules:\n  - match: {account: \"1\"}\n    except: {owner: a, reason: b, until: 2027-01-01}\n", "rules[0].match.account"),
            ("rules:\n  - match: {account: \"111122223333\"}\n    except: {owner: a, reason: b, until: next spring}\n", "rules[0].except.until: \"next spring\" is not a date"),
            ("rules:\n  - match: {account: \"111122223333\"}\n    except: {owner: a, reason: b, until: 2027-02-30}\n", "is not a date"),
            ("default: {plans: [RUNTIME_MONITORING, EKS_RUNTIME_MONITORING]}", "cannot be enabled together"),
            ("default: {plan: [S3_DATA_EVENTS]}", "unknown field `plan`"),
            ("rules:\n  - match: {ou: ou-ab12-sandbox1}\n    plans: [S3_DATA_EVENTS]\n    colour: red\n", "unknown field `colour`"),
            ("rules:\n  - match: {ou: ou-ab12-sandbox1, account: \"111122223333\"}\n    plans: []\n", "exactly one of ou or account"),
            ("rules:\n  - match: {ou: ou-ab12-sandbox1}\n", "give plans (or off) or except"),
            ("rules:\n  - match: {ou: ou-ab12-sandbox1}\n    plans: [S3_DATA_EVENTS]\n    except: {owner: a, reason: b, until: 2027-01-01}\n", "takes no plans"),
            ("default: [unclosed", "line 1"),
        ];
        for (text, expected) in cases {
            let e = err(text);
            assert!(e.contains(expected), "{text:?}: {e}");
        }
        let unknown_key = err("defaults:\n  plans: [S3_DATA_EVENTS]\n");
        assert!(unknown_key.contains("line 1"), "{unknown_key}");
        let in_json = err("{\n  \"rules\": [],\n  \"defaults\": {}\n}");
        assert!(in_json.contains("line 3"), "{in_json}");
    }

    #[test]
    fn both_runtime_plans_may_be_turned_off_and_the_migration_policy_parses() {
        let p = Policy::parse("default: {off: [RUNTIME_MONITORING, EKS_RUNTIME_MONITORING]}")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            p.default.off,
            ["RUNTIME_MONITORING", "EKS_RUNTIME_MONITORING"]
        );
        let p =
            Policy::parse("default: {plans: [RUNTIME_MONITORING], off: [EKS_RUNTIME_MONITORING]}")
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.default.on, ["RUNTIME_MONITORING"]);
        assert_eq!(p.default.off, ["EKS_RUNTIME_MONITORING"]);
        assert!(
            err("default: {plans: [RUNTIME_MONITORING, EKS_RUNTIME_MONITORING]}")
                .contains("default.plans")
        );
    }

    #[test]
    fn dates_are_days_both_ways() {
        assert_eq!(d("1970-01-01").days(), 0);
        assert_eq!(
            d("2000-03-01").days() - d("2000-02-28").days(),
            2,
            "2000 is a leap year"
        );
        assert_eq!(
            d("2100-03-01").days() - d("2100-02-28").days(),
            1,
            "2100 is not"
        );
        for days in [-1, 0, 59, 10_957, 20_000, 60_000] {
            assert_eq!(Date::from_days(days).days(), days);
        }
        assert_eq!(d("2026-11-30").to_string(), "2026-11-30");
        assert_eq!(
            Date::of(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_040_000)),
            d("2026-11-30")
        );
        assert!(Date::parse("2026-1-30").is_none());
    }

    #[test]
    fn columns_are_the_union_of_every_plan_s() {
        let p = Policy::parse(SKETCH).unwrap();
        assert_eq!(
            p.columns(),
            [
                "S3_DATA_EVENTS",
                "EBS_MALWARE_PROTECTION",
                "RUNTIME_MONITORING",
                "EKS_ADDON_MANAGEMENT",
                "ECS_FARGATE_AGENT_MANAGEMENT",
                "EC2_AGENT_MANAGEMENT"
            ]
        );
    }
}
