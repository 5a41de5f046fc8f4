//! The preflight: what a deployment still lacks, learned with read calls only and the
//! function's own permissions, before the first account needs them.
//!
//! Each check is one line with a verdict: `passed`, `failed` (the only verdict that fails the
//! preflight), `warning` (works, but against this stack's purpose), `not_verified` (a read
//! call cannot tell) or `skipped` (nothing to try, or nothing to try it with).

mod fix;
mod member;
mod opt_in;
pub mod policy;
mod settings;
mod topic;

use futures::future::join_all;
use serde::Serialize;

use crate::account::AccountId;
use crate::aws::Aws;
use crate::config::Config;
use crate::publish::notify::CHECK_PREFIX;
use crate::report::{Problem, WHOLE_REGION};

use fix::call_failed;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Passed,
    Failed,
    /// Works, but against what this stack is for: see the fix. Does not fail the check.
    Warning,
    /// A read-only check cannot tell: see the fix. Does not fail the check.
    NotVerified,
    /// Not tried (nothing to try it with).
    Skipped,
}

/// One check: what was checked, where, what was found, and what to do when it failed.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckLine {
    pub check: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub verdict: Verdict,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The effective configuration, so the operator sees what the function will do.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Echo {
    pub regions: Vec<String>,
    pub email_region: String,
    pub email_disabled: bool,
    pub member_role: Option<String>,
    pub member_features: Vec<String>,
    /// The agent settings turned on with the runtime feature (MEMBER_AGENT_MANAGEMENT).
    pub member_agents: Vec<String>,
    pub topic_arn: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    pub passed: bool,
    pub checks: Vec<CheckLine>,
    pub configuration: Echo,
}

impl CheckLine {
    fn new(check: &'static str, region: Option<&str>, verdict: Verdict, detail: String) -> Self {
        Self {
            check,
            region: region.map(str::to_owned),
            verdict,
            detail,
            fix: None,
        }
    }

    fn passed(check: &'static str, region: Option<&str>, detail: String) -> Self {
        Self::new(check, region, Verdict::Passed, detail)
    }

    fn skipped(check: &'static str, region: Option<&str>, detail: String) -> Self {
        Self::new(check, region, Verdict::Skipped, detail)
    }

    fn with_fix(
        check: &'static str,
        region: Option<&str>,
        verdict: Verdict,
        detail: String,
        fix: String,
    ) -> Self {
        Self {
            fix: Some(fix),
            ..Self::new(check, region, verdict, detail)
        }
    }

    fn failed(check: &'static str, region: Option<&str>, detail: String, fix: String) -> Self {
        Self::with_fix(check, region, Verdict::Failed, detail, fix)
    }

    fn warning(check: &'static str, region: Option<&str>, detail: String, fix: String) -> Self {
        Self::with_fix(check, region, Verdict::Warning, detail, fix)
    }

    fn not_verified(
        check: &'static str,
        region: Option<&str>,
        detail: String,
        fix: String,
    ) -> Self {
        Self::with_fix(check, region, Verdict::NotVerified, detail, fix)
    }
}

/// Runs every check; `account` is where to try the member role (and whose regions to read).
pub async fn run(
    aws: &Aws,
    config: &Config,
    account: Option<&AccountId>,
    protection: &policy::PolicyInput,
) -> CheckReport {
    // The plans any account is given: the policy's, or MEMBER_FEATURES'.
    let wanted = match &protection.loaded {
        Some((_, Ok(policy))) => policy.wanted_features(),
        _ => protection.short_form.wanted_features(),
    };
    let mut checks: Vec<CheckLine> = join_all(
        config
            .regions
            .iter()
            .map(|r| region_checks(aws, config, r, &wanted)),
    )
    .await
    .into_iter()
    .flatten()
    .collect();
    checks.push(organization_check(aws).await);
    checks.extend(topic::checks(aws, &config.topic_arn).await);
    checks.push(opt_in::check(aws, config, account).await);
    checks.extend(member::checks(aws, config, account).await);
    checks.extend(settings::configuration_warnings(config));
    checks.extend(policy::checks(aws, protection, &config.regions).await);
    CheckReport {
        passed: checks.iter().all(|c| c.verdict != Verdict::Failed),
        checks,
        configuration: Echo {
            regions: config.regions.clone(),
            email_region: config.email_region.clone(),
            email_disabled: config.disable_email_notification,
            member_role: config.member_role.clone(),
            member_features: config.plan.on.clone(),
            member_agents: config.plan.agents.clone(),
            topic_arn: config.topic_arn.clone(),
        },
    }
}

/// The failed lines of a report as problems for the topic: what was found, where, and the
/// line's own fix. Each is the deployment's (`*`): a line's detail names the account it is
/// about, when it is about one.
pub fn failures(report: &CheckReport) -> Vec<Problem> {
    report
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Failed)
        .map(|c| {
            let operation = format!("{CHECK_PREFIX}{}", c.check);
            let mut p = Problem::new(WHOLE_REGION, &operation, c.detail.clone());
            p.region = c.region.clone();
            p.fix = c.fix.clone();
            p
        })
        .collect()
}

async fn region_checks(
    aws: &Aws,
    config: &Config,
    region: &str,
    wanted: &[String],
) -> Vec<CheckLine> {
    let r = Some(region);
    let detector = match aws.detector(region).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return vec![CheckLine::failed(
                "detector",
                r,
                format!("this account has no GuardDuty detector in {region}"),
                format!("enable GuardDuty in {region} in this account, or remove {region} from GUARDDUTY_REGIONS"),
            )]
        }
        Err(e) => return vec![call_failed("detector", r, e)],
    };
    let status = match aws.detector_status(region, &detector).await {
        Ok(s) if s.eq_ignore_ascii_case("ENABLED") => {
            CheckLine::passed("detector", r, format!("detector {detector} is enabled"))
        }
        Ok(s) => CheckLine::failed(
            "detector",
            r,
            format!("detector {detector} is {s}"),
            format!("enable the detector in {region} (GuardDuty settings)"),
        ),
        Err(e) => call_failed("detector", r, e),
    };
    let members = match aws.members_readable(region, &detector).await {
        Ok(()) => CheckLine::passed("members", r, "the members can be read".into()),
        Err(e) => call_failed("members", r, e),
    };
    let organization = settings::organization_settings(aws, config, region, &detector).await;
    let mut lines = vec![status, members, organization];
    lines.extend(settings::offered(aws, wanted, region, &detector).await);
    lines
}

async fn organization_check(aws: &Aws) -> CheckLine {
    let org = match aws.describe_organization().await {
        Ok(org) => org,
        Err(e) => return call_failed("organization", None, e),
    };
    let this = match aws.admin_account().await {
        Ok(a) => a,
        Err(e) => return call_failed("organization", None, e),
    };
    let lookup = AccountId::parse(&this);
    match lookup {
        Ok(id) => match aws.describe_account(&id).await {
            Ok(_) => CheckLine::passed(
                "organization",
                None,
                format!(
                    "organization {}, management account {}; this account {this} can look accounts up",
                    org.id, org.management_account
                ),
            ),
            Err(e) => call_failed("organization", None, e),
        },
        Err(why) => CheckLine::failed("organization", None, why, "check the credentials".into()),
    }
}

impl Verdict {
    /// Four characters for the table.
    fn label(self) -> &'static str {
        match self {
            Verdict::Passed => "ok  ",
            Verdict::Failed => "FAIL",
            Verdict::Warning => "warn",
            Verdict::NotVerified => "n/v ",
            Verdict::Skipped => "skip",
        }
    }
}

impl CheckReport {
    /// One line per check, for a person at a terminal, then the outcome, then the
    /// configuration the function runs with.
    pub fn table(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let region = c.region.as_deref().unwrap_or("-");
            out.push_str(&format!(
                "{}  {:<16} {:<15} {}\n",
                c.verdict.label(),
                c.check,
                region,
                c.detail
            ));
            if let Some(fix) = &c.fix {
                out.push_str(&format!("      {:<16} {:<15} fix: {fix}\n", "", ""));
            }
        }
        let count = |v: Verdict| self.checks.iter().filter(|c| c.verdict == v).count();
        let (warnings, unverified) = (count(Verdict::Warning), count(Verdict::NotVerified));
        out.push('\n');
        let mut look_at = Vec::new();
        if warnings > 0 {
            look_at.push(format!("{warnings} warning(s) (warn)"));
        }
        if unverified > 0 {
            look_at.push(format!("{unverified} not verified (n/v)"));
        }
        out.push_str(&if !self.passed {
            "some checks failed\n".to_owned()
        } else if look_at.is_empty() {
            "every check passed\n".to_owned()
        } else {
            format!("no check failed; to look at: {}\n", look_at.join(" and "))
        });
        let e = &self.configuration;
        let list = |v: &[String], empty: &str| {
            if v.is_empty() {
                empty.to_owned()
            } else {
                v.join(",")
            }
        };
        out.push_str(&format!(
            "configuration: regions {}; invitation email from {}{}; member role {}; features {}; agent settings {}\n",
            e.regions.join(","),
            e.email_region,
            if e.email_disabled { " (disabled)" } else { "" },
            e.member_role.as_deref().unwrap_or("off"),
            list(&e.member_features, "unchanged"),
            list(&e.member_agents, "none"),
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(checks: Vec<CheckLine>) -> CheckReport {
        CheckReport {
            passed: checks.iter().all(|c| c.verdict != Verdict::Failed),
            checks,
            configuration: Echo {
                regions: vec!["us-east-1".into()],
                email_region: "us-east-1".into(),
                email_disabled: false,
                member_role: None,
                member_features: vec!["RUNTIME_MONITORING".into()],
                member_agents: vec!["EKS_ADDON_MANAGEMENT".into()],
                topic_arn: "arn:aws:sns:us-east-1:123456789012:t".into(),
            },
        }
    }

    #[test]
    fn warnings_and_unverified_lines_do_not_fail_and_read_warn_and_n_v() {
        let r = report(vec![
            CheckLine::passed("detector", Some("us-east-1"), "ok".into()),
            CheckLine::warning("member agents", None, "w".into(), "f".into()),
            CheckLine::not_verified("topic encryption", None, "n".into(), "f".into()),
        ]);
        assert!(r.passed);
        let json = serde_json::to_value(&r).unwrap_or_default();
        assert_eq!(json["checks"][1]["verdict"], "warning");
        assert_eq!(json["checks"][2]["verdict"], "not_verified");
        let table = r.table();
        assert!(table.contains("\nwarn  member agents"), "{table}");
        assert!(table.contains("\nn/v   topic encryption"), "{table}");
        assert!(
            table.contains(
                "no check failed; to look at: 1 warning(s) (warn) and 1 not verified (n/v)"
            ),
            "{table}"
        );
        let last = table.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("configuration: ")
                && last
                    .ends_with("features RUNTIME_MONITORING; agent settings EKS_ADDON_MANAGEMENT"),
            "{table}"
        );
    }

    #[test]
    fn a_failed_line_fails_the_report() {
        let r = report(vec![CheckLine::failed(
            "topic",
            None,
            "d".into(),
            "f".into(),
        )]);
        assert!(!r.passed);
        assert!(r.table().contains("some checks failed"));
    }
}
