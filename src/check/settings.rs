//! Settings that work against this stack: the plan it is configured with (pure, no call),
//! and the organization's own GuardDuty auto-enable settings (read, never changed).

use super::fix::call_failed;
use super::CheckLine;
use crate::aws::{Aws, OrganizationConfiguration};
use crate::config::Config;
use crate::error::{AwsError, FailureKind};
use crate::plan::{agents_of, Plan};

const LEGACY_RUNTIME: &str = "EKS_RUNTIME_MONITORING";
const RUNTIME: &str = "RUNTIME_MONITORING";

/// Warnings about the configured plan itself: no call is made.
pub(super) fn configuration_warnings(config: &Config) -> Vec<CheckLine> {
    let plan = &config.plan;
    let mut lines = Vec::new();
    if plan.on.iter().any(|f| f == LEGACY_RUNTIME) {
        lines.push(CheckLine::warning(
            "member features",
            None,
            format!(
                "MEMBER_FEATURES turns on {LEGACY_RUNTIME}, GuardDuty's legacy EKS-only runtime \
                 plan; Security Hub control GuardDuty.11 checks {RUNTIME}, which covers EKS and, \
                 with agent management, ECS Fargate and EC2"
            ),
            format!("use {RUNTIME} instead of {LEGACY_RUNTIME} in MEMBER_FEATURES"),
        ));
    }
    let runtime: Vec<&str> = plan
        .on
        .iter()
        .map(String::as_str)
        .filter(|f| !agents_of(f).is_empty())
        .collect();
    if !runtime.is_empty() && plan.agents.is_empty() {
        lines.push(CheckLine::warning(
            "member agents",
            None,
            format!(
                "MEMBER_AGENT_MANAGEMENT is none with {}: Runtime Monitoring sees nothing until \
                 the GuardDuty security agent runs in each workload, and on ECS Fargate only \
                 GuardDuty can deploy it",
                runtime.join(", ")
            ),
            "leave MEMBER_AGENT_MANAGEMENT unset (GuardDuty then manages every agent that \
             applies) or name the settings GuardDuty should manage; keep none only where you \
             deploy the agent yourself, which ECS Fargate does not allow"
                .into(),
        ));
    }
    lines
}

const OFFERED: &str = "plan offered";

/// One warning per wanted plan GuardDuty does not offer in `region`: the features the
/// administrator's own detector lists there (GetDetector) are what the region offers. Such a
/// plan is not wanted there: not written, not counted against coverage.
pub(super) async fn offered(
    aws: &Aws,
    wanted: &[String],
    region: &str,
    detector: &str,
) -> Vec<CheckLine> {
    if wanted.is_empty() {
        return Vec::new();
    }
    let offered = match aws.offered_features(region, detector).await {
        Ok(offered) => offered,
        Err(e) => return vec![call_failed(OFFERED, Some(region), e)],
    };
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|f| !offered.is_empty() && !offered.contains(f))
        .collect();
    if missing.is_empty() {
        return vec![CheckLine::passed(
            OFFERED,
            Some(region),
            format!("GuardDuty offers every wanted plan in {region}"),
        )];
    }
    missing
        .into_iter()
        .map(|f| {
            CheckLine::warning(
                OFFERED,
                Some(region),
                format!(
                    "{f} is not offered in {region}: this account's detector there does not list it \
                     (GetDetector), so it is not wanted there, not written and not counted against coverage"
                ),
                format!("nothing to do; the reconcile's summary says it once for {region} as notOffered"),
            )
        })
        .collect()
}

const CHECK: &str = "org auto-enable";

/// The organization's auto-enable settings in `region`, where this account has `detector`.
pub(super) async fn organization_settings(
    aws: &Aws,
    config: &Config,
    region: &str,
    detector: &str,
) -> CheckLine {
    match aws.organization_configuration(region, detector).await {
        Ok(org) => organization_line(&config.plan, region, &org),
        Err(e) if is_not_delegated_administrator(&e) => CheckLine::skipped(
            CHECK,
            Some(region),
            format!(
                "this account is not the organization's GuardDuty delegated administrator in \
                 {region} (GuardDuty answered: {}): accounts reach this administrator by \
                 invitation there, which this stack handles",
                e.message
            ),
        ),
        Err(e) => call_failed(CHECK, Some(region), e),
    }
}

/// GuardDuty's refusal of DescribeOrganizationConfiguration to an account that is not the
/// organization's delegated administrator: a 400 BadRequestException whose message speaks of
/// the organization permission ("... you do not have required AWS Organization master
/// permission."; the wording is matched by substring, never whole).
fn is_not_delegated_administrator(e: &AwsError) -> bool {
    let m = e.message.to_ascii_lowercase();
    e.kind == FailureKind::Rejected
        && e.code.as_deref() == Some("BadRequestException")
        && (m.contains("permission") || m.contains("administrator") || m.contains("organization"))
}

/// The settings as one line, with a warning where they work against this stack: accounts
/// not auto-enabled (ALL recommended), a plan or agent setting this stack turns on that is
/// not auto-enabled for new accounts.
fn organization_line(plan: &Plan, region: &str, org: &OrganizationConfiguration) -> CheckLine {
    let (members, settings) = described(org);

    let mut issues = Vec::new();
    let mut fixes = Vec::new();
    match members {
        "ALL" => {}
        "NEW" => issues.push(
            "NEW leaves the organization's existing accounts out: only this stack's invitations \
             bring them in"
                .to_owned(),
        ),
        "NONE" => issues
            .push("NONE leaves every organization account to this stack's invitations".to_owned()),
        _ => {}
    }
    if matches!(members, "NEW" | "NONE") {
        fixes.push("set auto-enable to ALL for the organization's accounts".to_owned());
    }
    if org.member_account_limit_reached {
        issues.push(
            "memberAccountLimitReached: the administrator has as many members as GuardDuty \
             allows, so no further account can be added (CreateMembers refuses it)"
                .to_owned(),
        );
        fixes.push(
            "remove members that no longer need monitoring, or ask AWS Support whether the \
             member account quota can be raised"
                .to_owned(),
        );
    }
    let (not_auto, unset) = not_auto_enabled(plan, org);
    if !not_auto.is_empty() {
        issues.push(format!(
            "this stack turns on {}, which the organization does not auto-enable for new \
             accounts (autoEnable NONE{})",
            not_auto.join(", "),
            if unset { " or not set" } else { "" }
        ));
        fixes.push(format!(
            "auto-enable {} for new accounts (NEW or ALL)",
            not_auto.join(", ")
        ));
    }
    if issues.is_empty() {
        return CheckLine::passed(CHECK, Some(region), settings);
    }
    CheckLine::warning(
        CHECK,
        Some(region),
        format!("{settings}. {}", issues.join("; ")),
        format!(
            "{} in GuardDuty's organization settings in {region} (aws guardduty \
             update-organization-configuration); check only reads them",
            fixes.join(", and ")
        ),
    )
}

/// (autoEnableOrganizationMembers, the settings as one line).
fn described(org: &OrganizationConfiguration) -> (&str, String) {
    let members = if org.auto_enable_members.is_empty() {
        "not given"
    } else {
        org.auto_enable_members.as_str()
    };
    let features: Vec<String> = org
        .features
        .iter()
        .map(|f| {
            let agents: Vec<String> = f
                .additional
                .iter()
                .map(|(n, a)| format!("{n} {a}"))
                .collect();
            if agents.is_empty() {
                format!("{} {}", f.name, f.auto_enable)
            } else {
                format!("{} {} ({})", f.name, f.auto_enable, agents.join(", "))
            }
        })
        .collect();
    let settings = format!(
        "autoEnableOrganizationMembers {members}; features: {}",
        if features.is_empty() {
            "none given".to_owned()
        } else {
            features.join(", ")
        }
    );
    (members, settings)
}

/// The features of the plan, and their agent settings, whose organization autoEnable is
/// NONE or that the organization's configuration does not name (then `true`).
fn not_auto_enabled(plan: &Plan, org: &OrganizationConfiguration) -> (Vec<String>, bool) {
    let mut unset = false;
    let mut off = |value: Option<&str>| {
        unset |= value.is_none();
        value.is_none_or(|v| v.eq_ignore_ascii_case("NONE"))
    };
    let mut out = Vec::new();
    for feature in &plan.on {
        let found = org.features.iter().find(|f| &f.name == feature);
        let feature_off = off(found.map(|f| f.auto_enable.as_str()));
        let agents_off: Vec<String> = plan
            .agents_for(feature)
            .into_iter()
            .filter(|agent| {
                off(found.and_then(|f| {
                    f.additional
                        .iter()
                        .find(|(n, _)| n == agent)
                        .map(|(_, a)| a.as_str())
                }))
            })
            .collect();
        match (feature_off, agents_off.is_empty()) {
            (true, true) => out.push(feature.clone()),
            (true, false) => out.push(format!("{feature} (with {})", agents_off.join(", "))),
            (false, false) => out.push(format!(
                "the agent settings of {feature} ({})",
                agents_off.join(", ")
            )),
            (false, true) => {}
        }
    }
    (out, unset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::AutoEnabled;
    use crate::check::Verdict;

    fn config(vars: &[(&str, &str)]) -> Config {
        let mut all = vec![
            ("SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:t"),
            ("AWS_REGION", "us-east-1"),
        ];
        all.extend_from_slice(vars);
        Config::from_pairs(&all).unwrap_or_else(|e| panic!("{e}"))
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn the_legacy_runtime_plan_and_no_agents_are_warned_about() {
        let lines =
            configuration_warnings(&config(&[("MEMBER_FEATURES", "EKS_RUNTIME_MONITORING")]));
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].verdict, Verdict::Warning);
        assert!(lines[0]
            .detail
            .contains("GuardDuty.11 checks RUNTIME_MONITORING"));

        let lines = configuration_warnings(&config(&[
            ("MEMBER_FEATURES", "RUNTIME_MONITORING"),
            ("MEMBER_AGENT_MANAGEMENT", "none"),
        ]));
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].check, "member agents");
        assert!(lines[0]
            .detail
            .contains("on ECS Fargate only GuardDuty can deploy it"));

        assert!(
            configuration_warnings(&config(&[("MEMBER_FEATURES", "RUNTIME_MONITORING")]))
                .is_empty()
        );
        assert!(
            configuration_warnings(&config(&[("MEMBER_FEATURES", "S3_DATA_EVENTS")])).is_empty()
        );
    }

    /// (name, autoEnable, [(agent setting, autoEnable)]).
    type Feature<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

    fn org(members: &str, features: &[Feature]) -> OrganizationConfiguration {
        OrganizationConfiguration {
            auto_enable_members: members.into(),
            features: features
                .iter()
                .map(|(n, a, add)| AutoEnabled {
                    name: (*n).into(),
                    auto_enable: (*a).into(),
                    additional: add
                        .iter()
                        .map(|(x, y)| ((*x).into(), (*y).into()))
                        .collect(),
                })
                .collect(),
            member_account_limit_reached: false,
        }
    }

    #[test]
    fn all_with_every_plan_auto_enabled_passes_and_reports_the_settings() {
        let plan = Plan {
            on: s(&["S3_DATA_EVENTS"]),
            agents: vec![],
            off: vec![],
        };
        let line = organization_line(
            &plan,
            "us-east-1",
            &org("ALL", &[("S3_DATA_EVENTS", "NEW", &[])]),
        );
        assert_eq!(line.verdict, Verdict::Passed, "{line:?}");
        assert_eq!(
            line.detail,
            "autoEnableOrganizationMembers ALL; features: S3_DATA_EVENTS NEW"
        );
    }

    #[test]
    fn new_none_and_plans_not_auto_enabled_are_warned_about() {
        let plan = Plan {
            on: s(&["RUNTIME_MONITORING", "S3_DATA_EVENTS"]),
            agents: s(&["EKS_ADDON_MANAGEMENT", "ECS_FARGATE_AGENT_MANAGEMENT"]),
            off: vec![],
        };
        let settings = org(
            "NEW",
            &[(
                "RUNTIME_MONITORING",
                "ALL",
                &[
                    ("EKS_ADDON_MANAGEMENT", "NONE"),
                    ("ECS_FARGATE_AGENT_MANAGEMENT", "ALL"),
                ],
            )],
        );
        let line = organization_line(&plan, "eu-west-1", &settings);
        assert_eq!(line.verdict, Verdict::Warning);
        assert!(line
            .detail
            .contains("NEW leaves the organization's existing accounts out"));
        assert!(
            line.detail
                .contains("this stack turns on the agent settings of RUNTIME_MONITORING (EKS_ADDON_MANAGEMENT), S3_DATA_EVENTS, which the organization does not auto-enable for new accounts (autoEnable NONE or not set)"),
            "{}",
            line.detail
        );
        assert!(line
            .detail
            .contains("(EKS_ADDON_MANAGEMENT NONE, ECS_FARGATE_AGENT_MANAGEMENT ALL)"));
        let fix = line.fix.unwrap_or_default();
        assert!(fix.starts_with("set auto-enable to ALL"), "{fix}");

        let line = organization_line(&Plan::default(), "eu-west-1", &org("NONE", &[]));
        assert_eq!(line.verdict, Verdict::Warning);
        assert!(line
            .detail
            .contains("NONE leaves every organization account to this stack's invitations"));
    }

    #[test]
    fn only_the_delegated_administrator_refusal_is_recognised() {
        let e = |code: &str, message: &str| AwsError {
            service: crate::error::Service::GuardDuty,
            operation: "DescribeOrganizationConfiguration",
            region: Some("us-east-1".into()),
            kind: FailureKind::Rejected,
            code: Some(code.into()),
            message: message.into(),
        };
        assert!(is_not_delegated_administrator(&e(
            "BadRequestException",
            "The request failed because you do not have required AWS Organization master permission."
        )));
        assert!(!is_not_delegated_administrator(&e(
            "BadRequestException",
            "The request is rejected because the input detectorId is not owned by the current account."
        )));
        assert!(!is_not_delegated_administrator(&e(
            "AccessDeniedException",
            "permission"
        )));
    }
}
