//! The preflight: what a deployment still lacks, learned with read calls only and the
//! function's own permissions, before the first account needs them.

use futures::future::join_all;
use serde::Serialize;

use crate::account::AccountId;
use crate::aws::{Assumed, Aws};
use crate::config::Config;
use crate::decision::role_arn;
use crate::error::AwsError;
use crate::flow::accept::SESSION_NAME;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Passed,
    Failed,
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

    fn failed(check: &'static str, region: Option<&str>, detail: String, fix: String) -> Self {
        Self {
            fix: Some(fix),
            ..Self::new(check, region, Verdict::Failed, detail)
        }
    }
}

/// Runs every check; `account` is where to try the member role.
pub async fn run(aws: &Aws, config: &Config, account: Option<&AccountId>) -> CheckReport {
    let mut checks: Vec<CheckLine> = join_all(config.regions.iter().map(|r| region_checks(aws, r)))
        .await
        .into_iter()
        .flatten()
        .collect();
    checks.push(organization_check(aws).await);
    checks.push(topic_check(aws, &config.topic_arn).await);
    checks.extend(member_role_checks(aws, config, account).await);
    CheckReport {
        passed: checks.iter().all(|c| c.verdict != Verdict::Failed),
        checks,
        configuration: Echo {
            regions: config.regions.clone(),
            email_region: config.email_region.clone(),
            email_disabled: config.disable_email_notification,
            member_role: config.member_role.clone(),
            member_features: config.plan.on.clone(),
            topic_arn: config.topic_arn.clone(),
        },
    }
}

async fn region_checks(aws: &Aws, region: &str) -> Vec<CheckLine> {
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
    vec![status, members]
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

async fn topic_check(aws: &Aws, topic_arn: &str) -> CheckLine {
    match aws.topic_attributes(topic_arn).await {
        Ok(attrs) => {
            let fifo = attrs.get("FifoTopic").is_some_and(|v| v == "true");
            let key = attrs.get("KmsMasterKeyId").filter(|k| !k.is_empty());
            CheckLine::passed(
                "topic",
                None,
                format!(
                    "{topic_arn} exists: {}, {}",
                    if fifo { "FIFO" } else { "standard" },
                    key.map_or("not encrypted".to_owned(), |k| format!(
                        "encrypted with {k}"
                    ))
                ),
            )
        }
        Err(e) => call_failed("topic", None, e),
    }
}

async fn member_role_checks(
    aws: &Aws,
    config: &Config,
    account: Option<&AccountId>,
) -> Vec<CheckLine> {
    let Some(role) = &config.member_role else {
        return vec![CheckLine::new(
            "member role",
            None,
            Verdict::Skipped,
            "MEMBER_ROLE_NAME is not set: the function stops at the invitation".into(),
        )];
    };
    let Some(account) = account else {
        return vec![CheckLine::new(
            "member role",
            None,
            Verdict::Skipped,
            format!("{role} was not tried: give an account (check --account ID) to try it in"),
        )];
    };
    let arn = role_arn(config.partition(), account.as_str(), role);
    let session = match aws.assume_member_role(account, &arn, SESSION_NAME).await {
        Ok(Assumed::Session(s)) => s,
        Ok(Assumed::Denied(said)) => {
            return vec![CheckLine::failed(
                "member role",
                None,
                format!("{arn} cannot be assumed: {said}"),
                format!(
                    "create {role} in {account}, trusting this account, or fix MEMBER_ROLE_NAME"
                ),
            )]
        }
        Err(e) => return vec![call_failed("member role", None, e)],
    };
    let mut lines = vec![CheckLine::passed(
        "member role",
        None,
        format!("{arn} assumed"),
    )];
    for region in &config.regions {
        lines.push(match aws.member_detector(&session, region).await {
            Ok(found) => CheckLine::passed(
                "member detectors",
                Some(region),
                found.map_or(
                    "no detector yet (the function will create one)".into(),
                    |d| format!("detector {d}"),
                ),
            ),
            Err(e) => call_failed("member detectors", Some(region), e),
        });
    }
    lines
}

fn call_failed(check: &'static str, region: Option<&str>, e: AwsError) -> CheckLine {
    let fix = match (e.kind, e.code.as_deref()) {
        (_, Some("AWSOrganizationsNotInUseException")) => {
            "run the function in the organization's management account or its delegated administrator".to_owned()
        }
        (crate::error::FailureKind::AccessDenied, _) => format!(
            "grant {} to the function's role (the template does)",
            e.operation
        ),
        _ => "see the message; run check again".to_owned(),
    };
    CheckLine::failed(check, region, e.to_string(), fix)
}

impl CheckReport {
    /// One line per check, for a person at a terminal.
    pub fn table(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let verdict = match c.verdict {
                Verdict::Passed => "ok  ",
                Verdict::Failed => "FAIL",
                Verdict::Skipped => "skip",
            };
            let region = c.region.as_deref().unwrap_or("-");
            out.push_str(&format!(
                "{verdict}  {:<16} {:<15} {}\n",
                c.check, region, c.detail
            ));
            if let Some(fix) = &c.fix {
                out.push_str(&format!("      {:<16} {:<15} fix: {fix}\n", "", ""));
            }
        }
        let e = &self.configuration;
        out.push_str(&format!(
            "\nconfiguration: regions {}; invitation email from {}{}; member role {}; features {}\n",
            e.regions.join(","),
            e.email_region,
            if e.email_disabled { " (disabled)" } else { "" },
            e.member_role.as_deref().unwrap_or("off"),
            if e.member_features.is_empty() {
                "unchanged".to_owned()
            } else {
                e.member_features.join(",")
            }
        ));
        out.push_str(if self.passed {
            "every check passed\n"
        } else {
            "some checks failed\n"
        });
        out
    }
}
