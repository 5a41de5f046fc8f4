//! Protection plans: what a member's GuardDuty features and agent settings should be, and
//! how what GuardDuty returns compares with that. Pure: no I/O.
//!
//! A plan names the features to turn on (`on`), with the agent-management settings of a
//! runtime feature (`agents`), and the features to turn off where they are on (`off`).
//! Features it does not name are left alone.

use std::collections::BTreeMap;

use serde::Serialize;

/// GuardDuty refuses these two features together in one request.
pub const EXCLUSIVE_FEATURES: [&str; 2] = ["RUNTIME_MONITORING", "EKS_RUNTIME_MONITORING"];

/// The agent-management settings (a runtime feature's `additionalConfiguration`): without
/// them Runtime Monitoring sees nothing until someone deploys GuardDuty's agent, and on ECS
/// Fargate only GuardDuty can deploy it.
pub const AGENTS: [&str; 3] = [
    "EKS_ADDON_MANAGEMENT",
    "ECS_FARGATE_AGENT_MANAGEMENT",
    "EC2_AGENT_MANAGEMENT",
];

pub const ENABLED: &str = "ENABLED";
pub const DISABLED: &str = "DISABLED";
/// A wanted feature or agent setting GuardDuty did not return at all.
pub const MISSING: &str = "MISSING";

/// The agent settings GuardDuty accepts under `feature` (none for a feature without agents).
pub fn agents_of(feature: &str) -> &'static [&'static str] {
    match feature {
        "RUNTIME_MONITORING" => &AGENTS,
        "EKS_RUNTIME_MONITORING" => &AGENTS[..1],
        _ => &[],
    }
}

/// The features and agent settings wanted for a member.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Plan {
    /// Features to turn on, in the order given.
    pub on: Vec<String>,
    /// Agent settings to turn on under the runtime feature of `on` (only those that apply).
    pub agents: Vec<String>,
    /// Features to turn off where they are on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub off: Vec<String>,
}

/// One feature as GuardDuty returns it for a member: its status and its agent settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FeatureState {
    pub name: String,
    pub status: String,
    /// (name, status) of each additional configuration.
    pub additional: Vec<(String, String)>,
}

/// One feature of an UpdateMemberDetectors request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FeatureSetting {
    pub name: String,
    pub enable: bool,
    /// Agent settings to turn on with it.
    pub agents: Vec<String>,
}

fn is(status: &str, wanted: &str) -> bool {
    status.eq_ignore_ascii_case(wanted)
}

impl Plan {
    /// Nothing to set: features are left alone, and `Enabled` alone means protected.
    pub fn is_empty(&self) -> bool {
        self.on.is_empty() && self.off.is_empty()
    }

    /// The report columns of this plan: each feature it turns on, then that feature's agents.
    pub fn columns(&self) -> Vec<String> {
        self.on
            .iter()
            .flat_map(|f| std::iter::once(f.clone()).chain(self.agents_for(f)))
            .collect()
    }

    /// The agents that apply to `feature` in this plan.
    pub fn agents_for(&self, feature: &str) -> Vec<String> {
        self.applicable_agents(feature).map(str::to_owned).collect()
    }

    /// [`Plan::agents_for`] without allocating: a reconcile asks it several times for each of
    /// up to 200,000 account-regions.
    pub fn applicable_agents<'p>(&'p self, feature: &str) -> impl Iterator<Item = &'p str> + 'p {
        let applicable = agents_of(feature);
        self.agents
            .iter()
            .map(String::as_str)
            .filter(move |a| applicable.contains(a))
    }

    /// Whether `column` is one of [`Plan::columns`].
    pub fn has_column(&self, column: &str) -> bool {
        self.on
            .iter()
            .any(|f| f == column || self.applicable_agents(f).any(|a| a == column))
    }

    /// One entry of [`Plan::observed`] without building the map: the status GuardDuty
    /// returned for `column` (`MISSING` when none), or `None` when it is not a column of this
    /// plan.
    pub fn observed_column<'h>(&self, have: &'h [FeatureState], column: &str) -> Option<&'h str> {
        // An agent two features of the plan share (the EKS add-on) reads as the later one has it.
        let mut found = None;
        for f in &self.on {
            let state = have.iter().find(|s| &s.name == f);
            if f == column {
                found = Some(state.map_or(MISSING, |s| s.status.as_str()));
            } else if self.applicable_agents(f).any(|a| a == column) {
                found = Some(
                    state
                        .and_then(|s| s.additional.iter().find(|(n, _)| n == column))
                        .map_or(MISSING, |(_, st)| st.as_str()),
                );
            }
        }
        found
    }

    /// Whether a member with `have` is protected as this plan wants: every feature of `on`,
    /// and each of its agent settings, reads `ENABLED`. (`off` is a choice, not protection.)
    pub fn is_met(&self, have: &[FeatureState]) -> bool {
        self.on.iter().all(|f| self.feature_met(f, have))
    }

    fn feature_met(&self, feature: &str, have: &[FeatureState]) -> bool {
        let Some(state) = have.iter().find(|s| s.name == feature) else {
            return false;
        };
        is(&state.status, ENABLED)
            && self.applicable_agents(feature).all(|agent| {
                state
                    .additional
                    .iter()
                    .any(|(name, status)| name == agent && is(status, ENABLED))
            })
    }

    /// Whether `feature` of `on` reads `ENABLED` (with its agents) for a member with `have`.
    pub fn has(&self, feature: &str, have: &[FeatureState]) -> bool {
        self.feature_met(feature, have)
    }

    /// What an UpdateMemberDetectors call must set for a member with `have`: the features of
    /// `on` not fully on (with their agents), the features of `off` that are on. Empty: the
    /// member already has its plan, and no write is made.
    pub fn changes(&self, have: &[FeatureState]) -> Vec<FeatureSetting> {
        let mut out: Vec<FeatureSetting> = self
            .on
            .iter()
            .filter(|f| !self.feature_met(f, have))
            .map(|f| FeatureSetting {
                name: f.clone(),
                enable: true,
                agents: self.agents_for(f),
            })
            .collect();
        out.extend(
            self.off
                .iter()
                .filter(|f| have.iter().any(|s| &s.name == *f && is(&s.status, ENABLED)))
                .map(|f| FeatureSetting {
                    name: f.clone(),
                    enable: false,
                    agents: Vec::new(),
                }),
        );
        out
    }

    /// Each wanted feature and agent setting with the status GuardDuty returned (`MISSING`
    /// when it returned none), for reports.
    pub fn observed(&self, have: &[FeatureState]) -> BTreeMap<String, String> {
        self.columns()
            .into_iter()
            .filter_map(|c| {
                let status = self.observed_column(have, &c)?.to_owned();
                Some((c, status))
            })
            .collect()
    }

    /// Whether GuardDuty returned no entry at all for a feature of `on` (it reads `MISSING`):
    /// the region may not offer it.
    pub fn lacks_any(&self, have: &[FeatureState]) -> bool {
        self.on.iter().any(|f| !have.iter().any(|s| &s.name == f))
    }

    /// This plan where GuardDuty offers only `offered` (the features the administrator's own
    /// detector lists in a region): the features it does not offer taken out, since they
    /// cannot be wanted there. `None` when nothing is taken out, or when `offered` is empty
    /// (GuardDuty listed nothing, so nothing is known to be missing).
    pub fn in_region(&self, offered: &[String]) -> Option<Plan> {
        let is_offered = |f: &&String| offered.contains(f);
        if offered.is_empty() || self.on.iter().chain(&self.off).all(|f| is_offered(&f)) {
            return None;
        }
        Some(Plan {
            on: self.on.iter().filter(is_offered).cloned().collect(),
            agents: self.agents.clone(),
            off: self.off.iter().filter(is_offered).cloned().collect(),
        })
    }

    /// The features of `on` a member with `have` lacks (off, or an agent setting off).
    pub fn missing<'p>(&'p self, have: &[FeatureState]) -> Vec<&'p str> {
        self.on
            .iter()
            .filter(|f| !self.feature_met(f, have))
            .map(String::as_str)
            .collect()
    }
}

/// The UpdateMemberDetectors calls that make `changes`, in order. GuardDuty refuses the two
/// runtime features in one call, so when both change they go in two calls: the one turned
/// on first, then the one turned off, so that the member is never without runtime
/// monitoring between the two (AWS's migration order: Runtime Monitoring on, then EKS
/// Runtime Monitoring off). Turning both off is two calls as well.
pub fn calls(changes: &[FeatureSetting]) -> Vec<Vec<FeatureSetting>> {
    let exclusive = |c: &FeatureSetting| EXCLUSIVE_FEATURES.contains(&c.name.as_str());
    if changes.iter().filter(|c| exclusive(c)).count() < 2 {
        return if changes.is_empty() {
            Vec::new()
        } else {
            vec![changes.to_vec()]
        };
    }
    // The later call: a runtime feature turned off (the last such when both are).
    let later = changes
        .iter()
        .rposition(|c| exclusive(c) && !c.enable)
        .or_else(|| changes.iter().rposition(exclusive));
    let (first, second): (Vec<_>, Vec<_>) = changes
        .iter()
        .enumerate()
        .partition(|(i, _)| Some(*i) != later);
    vec![
        first.into_iter().map(|(_, c)| c.clone()).collect(),
        second.into_iter().map(|(_, c)| c.clone()).collect(),
    ]
}

/// Comma-separated feature names, checked against the SDK's own list, without duplicates.
pub fn parse_feature_names(raw: &str) -> Result<Vec<String>, String> {
    let known = aws_sdk_guardduty::types::OrgFeature::values();
    let mut features: Vec<String> = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !known.contains(&name) {
            return Err(format!(
                "unknown feature {name:?}; known: {}",
                known.join(", ")
            ));
        }
        if !features.iter().any(|f| f == name) {
            features.push(name.to_owned());
        }
    }
    Ok(features)
}

/// Features to turn on: [`parse_feature_names`], without both runtime features (they cannot
/// be enabled together). A list of features to turn off may hold both.
pub fn parse_features(raw: &str) -> Result<Vec<String>, String> {
    let features = parse_feature_names(raw)?;
    check_exclusive(&features)?;
    Ok(features)
}

/// RUNTIME_MONITORING and EKS_RUNTIME_MONITORING cannot be enabled together.
pub fn check_exclusive(features: &[String]) -> Result<(), String> {
    if EXCLUSIVE_FEATURES
        .iter()
        .all(|x| features.iter().any(|f| f == x))
    {
        return Err(format!(
            "{} and {} cannot be enabled together; RUNTIME_MONITORING covers EKS",
            EXCLUSIVE_FEATURES[0], EXCLUSIVE_FEATURES[1]
        ));
    }
    Ok(())
}

/// The agent settings for `features`: `None` (not set) gives every setting that applies to
/// the runtime feature; `none` gives none; otherwise a comma-separated subset, each of which
/// must apply to a runtime feature of `features`.
pub fn parse_agents(raw: Option<&str>, features: &[String]) -> Result<Vec<String>, String> {
    let runtime: Vec<&str> = features
        .iter()
        .map(String::as_str)
        .filter(|f| !agents_of(f).is_empty())
        .collect();
    let applicable: Vec<&str> = runtime.iter().flat_map(|f| agents_of(f)).copied().collect();
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(applicable.iter().map(|a| (*a).to_owned()).collect());
    };
    if runtime.is_empty() {
        return Err(format!(
            "{raw:?} is set, but no runtime feature (RUNTIME_MONITORING or EKS_RUNTIME_MONITORING) is wanted"
        ));
    }
    if raw.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    let mut agents: Vec<String> = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !AGENTS.contains(&name) {
            return Err(format!(
                "unknown agent setting {name:?}; known: {}, or none",
                AGENTS.join(", ")
            ));
        }
        if !applicable.contains(&name) {
            return Err(format!(
                "{name} does not apply to {}; it applies to RUNTIME_MONITORING only",
                runtime.join(", ")
            ));
        }
        if !agents.iter().any(|a| a == name) {
            agents.push(name.to_owned());
        }
    }
    Ok(agents)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    fn state(name: &str, status: &str, additional: &[(&str, &str)]) -> FeatureState {
        FeatureState {
            name: name.into(),
            status: status.into(),
            additional: additional
                .iter()
                .map(|(n, st)| ((*n).into(), (*st).into()))
                .collect(),
        }
    }

    fn runtime_plan() -> Plan {
        Plan {
            on: s(&["S3_DATA_EVENTS", "RUNTIME_MONITORING"]),
            agents: s(&AGENTS),
            off: vec![],
        }
    }

    #[test]
    fn a_report_cell_reads_what_the_whole_observed_map_says() {
        // Both runtime features want the EKS agent: the later feature's entry is the one shown.
        let plan = Plan {
            on: s(&[
                "EKS_RUNTIME_MONITORING",
                "S3_DATA_EVENTS",
                "RUNTIME_MONITORING",
            ]),
            agents: s(&AGENTS),
            off: vec![],
        };
        let have = [
            state(
                "EKS_RUNTIME_MONITORING",
                "ENABLED",
                &[("EKS_ADDON_MANAGEMENT", "ENABLED")],
            ),
            state(
                "RUNTIME_MONITORING",
                "ENABLED",
                &[
                    ("EKS_ADDON_MANAGEMENT", "DISABLED"),
                    ("EC2_AGENT_MANAGEMENT", "ENABLED"),
                ],
            ),
        ];
        let expected = [
            ("EKS_RUNTIME_MONITORING", Some("ENABLED")),
            ("EKS_ADDON_MANAGEMENT", Some("DISABLED")),
            ("S3_DATA_EVENTS", Some(MISSING)),
            ("RUNTIME_MONITORING", Some("ENABLED")),
            ("ECS_FARGATE_AGENT_MANAGEMENT", Some(MISSING)),
            ("EC2_AGENT_MANAGEMENT", Some("ENABLED")),
            ("MALWARE_PROTECTION", None),
            ("", None),
        ];
        let map = plan.observed(&have);
        for (column, status) in expected {
            assert_eq!(plan.observed_column(&have, column), status, "{column}");
            assert_eq!(map.get(column).map(String::as_str), status, "{column}");
            assert_eq!(plan.has_column(column), status.is_some(), "{column}");
        }
        assert_eq!(map.len(), 6, "every column once: {map:?}");
    }

    #[test]
    fn agents_default_to_all_that_apply_to_the_runtime_feature() {
        assert_eq!(
            parse_agents(None, &s(&["RUNTIME_MONITORING"])).unwrap(),
            s(&AGENTS)
        );
        assert_eq!(
            parse_agents(None, &s(&["EKS_RUNTIME_MONITORING"])).unwrap(),
            ["EKS_ADDON_MANAGEMENT"]
        );
        assert!(parse_agents(None, &s(&["S3_DATA_EVENTS"]))
            .unwrap()
            .is_empty());
        assert!(parse_agents(Some("none"), &s(&["RUNTIME_MONITORING"]))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn an_unknown_agent_or_one_without_a_runtime_feature_is_refused() {
        assert!(
            parse_agents(Some("EKS_ADDON_MANAGEMENT"), &s(&["S3_DATA_EVENTS"]))
                .unwrap_err()
                .contains("no runtime feature")
        );
        assert!(parse_agents(Some("GPU_AGENT"), &s(&["RUNTIME_MONITORING"]))
            .unwrap_err()
            .contains("GPU_AGENT"));
        assert!(parse_agents(
            Some("ECS_FARGATE_AGENT_MANAGEMENT"),
            &s(&["EKS_RUNTIME_MONITORING"])
        )
        .unwrap_err()
        .contains("RUNTIME_MONITORING only"));
        assert_eq!(
            parse_agents(
                Some("EC2_AGENT_MANAGEMENT, EC2_AGENT_MANAGEMENT"),
                &s(&["RUNTIME_MONITORING"])
            )
            .unwrap(),
            ["EC2_AGENT_MANAGEMENT"]
        );
    }

    #[test]
    fn a_runtime_feature_without_its_agents_is_not_met_and_is_set_with_them() {
        let plan = runtime_plan();
        let have = [
            state("S3_DATA_EVENTS", "ENABLED", &[]),
            state(
                "RUNTIME_MONITORING",
                "ENABLED",
                &[
                    ("EKS_ADDON_MANAGEMENT", "ENABLED"),
                    ("ECS_FARGATE_AGENT_MANAGEMENT", "DISABLED"),
                ],
            ),
        ];
        assert!(!plan.is_met(&have));
        assert_eq!(plan.missing(&have), ["RUNTIME_MONITORING"]);
        assert_eq!(
            plan.changes(&have),
            [FeatureSetting {
                name: "RUNTIME_MONITORING".into(),
                enable: true,
                agents: s(&AGENTS),
            }]
        );
    }

    #[test]
    fn a_member_with_everything_needs_no_change() {
        let plan = runtime_plan();
        let all: Vec<(&str, &str)> = AGENTS.iter().map(|a| (*a, "enabled")).collect();
        let have = [
            state("RUNTIME_MONITORING", "ENABLED", &all),
            state("S3_DATA_EVENTS", "ENABLED", &[]),
            state("EKS_AUDIT_LOGS", "DISABLED", &[]),
        ];
        assert!(plan.is_met(&have));
        assert!(plan.changes(&have).is_empty());
    }

    #[test]
    fn off_features_are_turned_off_only_where_they_are_on() {
        let plan = Plan {
            on: s(&["S3_DATA_EVENTS"]),
            agents: vec![],
            off: s(&["EKS_AUDIT_LOGS", "RUNTIME_MONITORING"]),
        };
        let have = [
            state("S3_DATA_EVENTS", "ENABLED", &[]),
            state("EKS_AUDIT_LOGS", "ENABLED", &[]),
            state("RUNTIME_MONITORING", "DISABLED", &[]),
        ];
        assert!(plan.is_met(&have), "off plans are not protection");
        assert_eq!(
            plan.changes(&have),
            [FeatureSetting {
                name: "EKS_AUDIT_LOGS".into(),
                enable: false,
                agents: vec![],
            }]
        );
    }

    fn set(name: &str, enable: bool, agents: &[&str]) -> FeatureSetting {
        FeatureSetting {
            name: name.into(),
            enable,
            agents: s(agents),
        }
    }

    #[test]
    fn the_runtime_migration_turns_runtime_on_in_one_call_then_eks_runtime_off_in_another() {
        let plan = Plan {
            on: s(&["S3_DATA_EVENTS", "RUNTIME_MONITORING"]),
            agents: s(&AGENTS),
            off: s(&["EKS_RUNTIME_MONITORING"]),
        };
        let have = [state(
            "EKS_RUNTIME_MONITORING",
            "ENABLED",
            &[("EKS_ADDON_MANAGEMENT", "ENABLED")],
        )];
        assert_eq!(
            calls(&plan.changes(&have)),
            [
                vec![
                    set("S3_DATA_EVENTS", true, &[]),
                    set("RUNTIME_MONITORING", true, &AGENTS),
                ],
                vec![set("EKS_RUNTIME_MONITORING", false, &[])],
            ]
        );
        // Listed the other way round, the one turned on still goes first.
        let reversed = [
            set("EKS_RUNTIME_MONITORING", false, &[]),
            set("RUNTIME_MONITORING", true, &[]),
        ];
        assert_eq!(
            calls(&reversed),
            [
                vec![set("RUNTIME_MONITORING", true, &[])],
                vec![set("EKS_RUNTIME_MONITORING", false, &[])],
            ]
        );
    }

    #[test]
    fn turning_both_runtime_features_off_takes_two_calls_and_others_share_the_first() {
        let both_off = [
            set("RUNTIME_MONITORING", false, &[]),
            set("EKS_AUDIT_LOGS", false, &[]),
            set("EKS_RUNTIME_MONITORING", false, &[]),
        ];
        assert_eq!(
            calls(&both_off),
            [
                vec![
                    set("RUNTIME_MONITORING", false, &[]),
                    set("EKS_AUDIT_LOGS", false, &[]),
                ],
                vec![set("EKS_RUNTIME_MONITORING", false, &[])],
            ]
        );
        let one = [
            set("RUNTIME_MONITORING", true, &[]),
            set("S3_DATA_EVENTS", false, &[]),
        ];
        assert_eq!(calls(&one), [one.to_vec()]);
        assert!(calls(&[]).is_empty());
    }

    #[test]
    fn a_feature_the_region_does_not_offer_is_taken_out_of_the_plan_there() {
        let plan = Plan {
            on: s(&["S3_DATA_EVENTS", "RDS_LOGIN_EVENTS"]),
            agents: vec![],
            off: s(&["LAMBDA_NETWORK_LOGS"]),
        };
        let offered = s(&["S3_DATA_EVENTS", "EKS_AUDIT_LOGS"]);
        let here = plan.in_region(&offered).unwrap_or_default();
        assert_eq!(here.on, ["S3_DATA_EVENTS"]);
        assert!(here.off.is_empty());
        assert!(here.is_met(&[state("S3_DATA_EVENTS", "ENABLED", &[])]));
        assert!(plan.lacks_any(&[state("S3_DATA_EVENTS", "ENABLED", &[])]));
        assert_eq!(
            plan.in_region(&[]),
            None,
            "nothing listed: nothing known missing"
        );
        let all = s(&["S3_DATA_EVENTS", "RDS_LOGIN_EVENTS", "LAMBDA_NETWORK_LOGS"]);
        assert_eq!(plan.in_region(&all), None);
    }

    #[test]
    fn an_empty_plan_is_met_by_any_member() {
        let plan = Plan::default();
        assert!(plan.is_empty());
        assert!(plan.is_met(&[]));
        assert!(plan.changes(&[]).is_empty());
    }

    #[test]
    fn features_are_checked_and_the_runtime_pair_refused() {
        assert_eq!(
            parse_features("S3_DATA_EVENTS, RUNTIME_MONITORING,S3_DATA_EVENTS").unwrap(),
            ["S3_DATA_EVENTS", "RUNTIME_MONITORING"]
        );
        assert!(parse_features("FLUX_CAPACITOR").is_err());
        assert!(parse_features("RUNTIME_MONITORING,EKS_RUNTIME_MONITORING").is_err());
        assert_eq!(
            parse_feature_names("RUNTIME_MONITORING,EKS_RUNTIME_MONITORING").unwrap(),
            ["RUNTIME_MONITORING", "EKS_RUNTIME_MONITORING"],
            "a list to turn off may hold both"
        );
    }
}
