//! Configuration: read from the environment once at start and validated before any event.

use crate::aws::{parse_overrides, Override};
use crate::plan::{self, Plan};
use crate::template::{MessageTemplate, TemplateError, DEFAULT_TEMPLATE};

pub const SNS_TOPIC_ARN: &str = "SNS_TOPIC_ARN";
pub const INVITE_MESSAGE_TEMPLATE: &str = "INVITE_MESSAGE_TEMPLATE";
pub const DISABLE_EMAIL_NOTIFICATION: &str = "DISABLE_EMAIL_NOTIFICATION";
pub const GUARDDUTY_REGIONS: &str = "GUARDDUTY_REGIONS";
pub const INVITATION_EMAIL_REGION: &str = "INVITATION_EMAIL_REGION";
pub const MEMBER_ROLE_NAME: &str = "MEMBER_ROLE_NAME";
pub const MEMBER_FEATURES: &str = "MEMBER_FEATURES";
pub const STALE_INVITATION_DAYS: &str = "STALE_INVITATION_DAYS";
pub const MEMBER_AGENT_MANAGEMENT: &str = "MEMBER_AGENT_MANAGEMENT";
pub const MEMBER_ROLE_GRACE_MINUTES: &str = "MEMBER_ROLE_GRACE_MINUTES";
pub const SECURITY_HUB_FINDINGS: &str = "SECURITY_HUB_FINDINGS";
pub const COVERAGE_BUCKET: &str = "COVERAGE_BUCKET";
pub const PROTECTION_POLICY_PARAMETER: &str = "PROTECTION_POLICY_PARAMETER";
pub const RETRY_SCHEDULE_GROUP: &str = "RETRY_SCHEDULE_GROUP";
pub const RETRY_SCHEDULE_ROLE_ARN: &str = "RETRY_SCHEDULE_ROLE_ARN";
pub const RETRY_FUNCTION_ARN: &str = "RETRY_FUNCTION_ARN";
/// Request rates in place of AWS's (other tools share the account's buckets). Not a
/// template parameter: set on the function by hand where needed.
pub const API_RATE_LIMITS: &str = "API_RATE_LIMITS";

/// Every variable of this function's own (the standard `AWS_*` ones aside). The deployment
/// template must set exactly these; a test holds it to that.
pub const FUNCTION_VARIABLES: &[&str] = &[
    SNS_TOPIC_ARN,
    INVITE_MESSAGE_TEMPLATE,
    DISABLE_EMAIL_NOTIFICATION,
    GUARDDUTY_REGIONS,
    INVITATION_EMAIL_REGION,
    MEMBER_ROLE_NAME,
    MEMBER_FEATURES,
    STALE_INVITATION_DAYS,
    MEMBER_AGENT_MANAGEMENT,
    MEMBER_ROLE_GRACE_MINUTES,
    SECURITY_HUB_FINDINGS,
    COVERAGE_BUCKET,
    PROTECTION_POLICY_PARAMETER,
    RETRY_SCHEDULE_GROUP,
    RETRY_SCHEDULE_ROLE_ARN,
    RETRY_FUNCTION_ARN,
];

/// Days after which reconcile reports a member still `Invited`.
pub const DEFAULT_STALE_INVITATION_DAYS: u32 = 7;
pub const STALE_INVITATION_DAYS_RANGE: std::ops::RangeInclusive<u32> = 1..=3650;
/// Minutes after joining the organization during which a member role that cannot be assumed
/// yet is waited for (a StackSet deploys it minutes after the account exists).
pub const DEFAULT_MEMBER_ROLE_GRACE_MINUTES: u32 = 30;
pub const MEMBER_ROLE_GRACE_MINUTES_RANGE: std::ops::RangeInclusive<u32> = 0..=1440;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration: {variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

fn bad(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        reason: reason.into(),
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub topic_arn: String,
    pub template: MessageTemplate,
    pub disable_email_notification: bool,
    /// Regions to invite in, in the order given, without duplicates; never empty.
    pub regions: Vec<String>,
    /// The one region whose invitation sends the email, so the account's root mailbox gets
    /// one invitation rather than one per region.
    pub email_region: String,
    /// The role the function assumes in a member account to enable GuardDuty there and
    /// accept the invitation; `None`: stop at the invitation.
    pub member_role: Option<String>,
    /// The features (the SDK's `OrgFeature` names) and agent settings to turn on for every
    /// `Enabled` member; empty: leave features alone.
    pub plan: Plan,
    pub stale_invitation_days: u32,
    pub member_role_grace_minutes: u32,
    /// Problems and drift also become Security Hub findings.
    pub security_hub_findings: bool,
    /// Where the scheduled reconcile writes its coverage report.
    pub coverage_bucket: Option<String>,
    /// The SSM parameter holding the protection policy (excludes `MEMBER_FEATURES`).
    pub policy_parameter: Option<String>,
    /// Where a member role not there yet is retried on a one-time schedule; `None`: such an
    /// account fails the invocation, and Lambda's own retries (two) are all it gets.
    pub retry: Option<RetrySchedule>,
    /// `API_RATE_LIMITS`: the rates each API is paced under in place of AWS's (empty: AWS's).
    pub rate_limits: Vec<Override>,
}

/// The one-time schedules that retry an account whose member role is not there yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySchedule {
    /// The stack's EventBridge Scheduler schedule group.
    pub group: String,
    /// The role EventBridge Scheduler assumes to invoke the function.
    pub role_arn: String,
    /// The invite function the schedule invokes (the reconcile function's own retries go
    /// there too, so it is not this function's own ARN).
    pub function_arn: String,
}

/// The error when the SDK has no region of its own (see `aws::region_without_imds`): the
/// clients outside `GUARDDUTY_REGIONS` (STS, Organizations, SSM, S3, Security Hub) sign
/// for it. Lambda always sets `AWS_REGION`; a run by hand must.
pub fn missing_own_region() -> ConfigError {
    bad(
        "AWS_REGION",
        "is not set, nor AWS_DEFAULT_REGION, nor a region in the AWS profile: set it to the \
         function's region (the calls outside GUARDDUTY_REGIONS are signed for it)",
    )
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The configuration a list of variables gives (tests and tools).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Result<Self, ConfigError> {
        Self::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    /// Pure form of [`Config::from_env`], for tests.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());

        let topic_arn = set(SNS_TOPIC_ARN).ok_or_else(|| {
            bad(
                SNS_TOPIC_ARN,
                "is required (the SNS topic ARN for problems)",
            )
        })?;
        validate_topic_arn(topic_arn.trim()).map_err(|r| bad(SNS_TOPIC_ARN, r))?;

        let template = match get(INVITE_MESSAGE_TEMPLATE) {
            None => MessageTemplate::parse(DEFAULT_TEMPLATE),
            Some(raw) => MessageTemplate::parse(&raw),
        }
        .map_err(|e: TemplateError| bad(INVITE_MESSAGE_TEMPLATE, e.to_string()))?;

        let disable_email_notification = match set(DISABLE_EMAIL_NOTIFICATION) {
            None => false,
            Some(raw) => parse_bool(&raw).ok_or_else(|| {
                bad(
                    DISABLE_EMAIL_NOTIFICATION,
                    format!("{:?} is not a boolean (use true or false)", raw),
                )
            })?,
        };

        let own_region = set("AWS_REGION").or_else(|| set("AWS_DEFAULT_REGION"));
        let regions = match set(GUARDDUTY_REGIONS) {
            Some(raw) => parse_regions(&raw).map_err(|r| bad(GUARDDUTY_REGIONS, r))?,
            None => {
                let own = own_region.ok_or_else(|| {
                    bad(
                        GUARDDUTY_REGIONS,
                        "is not set and neither is AWS_REGION, so there is no region to invite in",
                    )
                })?;
                parse_regions(&own).map_err(|r| bad("AWS_REGION", r))?
            }
        };

        let email_region = match set(INVITATION_EMAIL_REGION) {
            None => regions
                .first()
                .cloned()
                .ok_or_else(|| bad(GUARDDUTY_REGIONS, "lists no region"))?,
            Some(raw) => {
                let r = raw.trim().to_owned();
                if !regions.contains(&r) {
                    return Err(bad(
                        INVITATION_EMAIL_REGION,
                        format!("{r:?} is not one of the GuardDuty regions {regions:?}"),
                    ));
                }
                r
            }
        };

        let member = member_settings(&set)?;
        let outputs = output_settings(&set)?;
        Ok(Self {
            topic_arn: topic_arn.trim().to_owned(),
            template,
            disable_email_notification,
            regions,
            email_region,
            member_role: member.role,
            plan: member.plan,
            stale_invitation_days: member.stale_days,
            member_role_grace_minutes: member.grace_minutes,
            security_hub_findings: outputs.security_hub,
            coverage_bucket: outputs.bucket,
            policy_parameter: member.policy_parameter,
            retry: retry_settings(&set)?,
            rate_limits: set(API_RATE_LIMITS)
                .map(|raw| parse_overrides(&raw).map_err(|r| bad(API_RATE_LIMITS, r)))
                .transpose()?
                .unwrap_or_default(),
        })
    }

    /// The AWS partition (`aws`, `aws-cn`, `aws-us-gov`), from the topic's ARN.
    pub fn partition(&self) -> &str {
        self.topic_arn.split(':').nth(1).unwrap_or("aws")
    }

    /// The topic's own region (a publish must go there): the ARN's fourth field, validated
    /// at start.
    pub fn topic_region(&self) -> &str {
        self.topic_arn.split(':').nth(3).unwrap_or_default()
    }

    /// Whether InviteMembers in `region` should suppress the invitation email.
    pub fn disable_email_in(&self, region: &str) -> bool {
        self.disable_email_notification || region != self.email_region
    }
}

/// What the member-side variables give.
struct MemberSettings {
    role: Option<String>,
    plan: Plan,
    stale_days: u32,
    grace_minutes: u32,
    policy_parameter: Option<String>,
}

/// MEMBER_ROLE_NAME, MEMBER_FEATURES, MEMBER_AGENT_MANAGEMENT, PROTECTION_POLICY_PARAMETER,
/// STALE_INVITATION_DAYS and MEMBER_ROLE_GRACE_MINUTES.
fn member_settings(set: &impl Fn(&str) -> Option<String>) -> Result<MemberSettings, ConfigError> {
    let role = set(MEMBER_ROLE_NAME)
        .map(|raw| parse_role_name(raw.trim()).map_err(|r| bad(MEMBER_ROLE_NAME, r)))
        .transpose()?;
    let features = match set(MEMBER_FEATURES) {
        None => Vec::new(),
        Some(raw) => plan::parse_features(&raw).map_err(|r| bad(MEMBER_FEATURES, r))?,
    };
    let agents = plan::parse_agents(set(MEMBER_AGENT_MANAGEMENT).as_deref(), &features)
        .map_err(|r| bad(MEMBER_AGENT_MANAGEMENT, r))?;
    let policy_parameter = set(PROTECTION_POLICY_PARAMETER)
        .map(|raw| {
            parse_parameter_name(raw.trim()).map_err(|r| bad(PROTECTION_POLICY_PARAMETER, r))
        })
        .transpose()?;
    if policy_parameter.is_some() && !features.is_empty() {
        return Err(bad(
            PROTECTION_POLICY_PARAMETER,
            "is set together with MEMBER_FEATURES: the policy's default plan replaces MEMBER_FEATURES, so set one of them",
        ));
    }
    Ok(MemberSettings {
        role,
        plan: Plan {
            on: features,
            agents,
            off: Vec::new(),
        },
        stale_days: whole_number(
            set,
            STALE_INVITATION_DAYS,
            DEFAULT_STALE_INVITATION_DAYS,
            STALE_INVITATION_DAYS_RANGE,
            "days",
        )?,
        grace_minutes: whole_number(
            set,
            MEMBER_ROLE_GRACE_MINUTES,
            DEFAULT_MEMBER_ROLE_GRACE_MINUTES,
            MEMBER_ROLE_GRACE_MINUTES_RANGE,
            "minutes",
        )?,
        policy_parameter,
    })
}

/// A whole number within `range`, or `default` when the variable is not set.
fn whole_number(
    set: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u32,
    range: std::ops::RangeInclusive<u32>,
    unit: &str,
) -> Result<u32, ConfigError> {
    let Some(raw) = set(variable) else {
        return Ok(default);
    };
    match raw.trim().parse::<u32>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(bad(
            variable,
            format!(
                "{raw:?} is not a whole number of {unit} from {} to {}",
                range.start(),
                range.end()
            ),
        )),
    }
}

/// Where results go besides SNS.
struct OutputSettings {
    security_hub: bool,
    bucket: Option<String>,
}

fn output_settings(set: &impl Fn(&str) -> Option<String>) -> Result<OutputSettings, ConfigError> {
    let security_hub = match set(SECURITY_HUB_FINDINGS) {
        None => false,
        Some(raw) => parse_bool(&raw).ok_or_else(|| {
            bad(
                SECURITY_HUB_FINDINGS,
                format!("{raw:?} is not a boolean (use true or false)"),
            )
        })?,
    };
    let bucket = set(COVERAGE_BUCKET)
        .map(|raw| parse_bucket(raw.trim()).map_err(|r| bad(COVERAGE_BUCKET, r)))
        .transpose()?;
    Ok(OutputSettings {
        security_hub,
        bucket,
    })
}

/// RETRY_SCHEDULE_GROUP, RETRY_SCHEDULE_ROLE_ARN and RETRY_FUNCTION_ARN: all three, or none.
fn retry_settings(
    set: &impl Fn(&str) -> Option<String>,
) -> Result<Option<RetrySchedule>, ConfigError> {
    let given = [
        RETRY_SCHEDULE_GROUP,
        RETRY_SCHEDULE_ROLE_ARN,
        RETRY_FUNCTION_ARN,
    ]
    .map(|name| (name, set(name).map(|v| v.trim().to_owned())));
    if given.iter().all(|(_, v)| v.is_none()) {
        return Ok(None);
    }
    if let Some((missing, _)) = given.iter().find(|(_, v)| v.is_none()) {
        return Err(bad(
            missing,
            "is not set, but the other RETRY_* variables are: set RETRY_SCHEDULE_GROUP, \
             RETRY_SCHEDULE_ROLE_ARN and RETRY_FUNCTION_ARN together, or none of them",
        ));
    }
    let [(_, group), (_, role), (_, function)] = given.map(|(n, v)| (n, v.unwrap_or_default()));
    if !is_schedule_group(&group) {
        return Err(bad(
            RETRY_SCHEDULE_GROUP,
            format!("{group:?} is not a schedule group name (1-64 letters, digits and -_.)"),
        ));
    }
    if !is_arn_of(&role, "iam", ":role/") {
        return Err(bad(
            RETRY_SCHEDULE_ROLE_ARN,
            format!("{role:?} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"),
        ));
    }
    if !is_arn_of(&function, "lambda", ":function:") {
        return Err(bad(
            RETRY_FUNCTION_ARN,
            format!("{function:?} is not a Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME)"),
        ));
    }
    Ok(Some(RetrySchedule {
        group,
        role_arn: role,
        function_arn: function,
    }))
}

/// EventBridge Scheduler's schedule group names: `[0-9a-zA-Z-_.]+`, 1 to 64 characters.
pub fn is_schedule_group(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// `arn:<partition>:<service>:<region or empty>:<12-digit account>` followed by `kind` and a
/// name (`:role/NAME`, `:function:NAME`).
fn is_arn_of(arn: &str, service: &str, kind: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(5, ':').collect();
    let region_ok = |r: &str| {
        if service == "iam" {
            r.is_empty()
        } else {
            is_region(r)
        }
    };
    parts.len() == 5
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == service
        && region_ok(parts[3])
        && parts[4].len() > 12
        && parts[4].as_bytes()[..12].iter().all(u8::is_ascii_digit)
        && parts[4][12..]
            .strip_prefix(kind)
            .is_some_and(|name| !name.is_empty() && !name.contains(char::is_whitespace))
}

/// An S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens, starting and ending
/// with a letter or digit.
fn parse_bucket(raw: &str) -> Result<String, String> {
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok = (3..=63).contains(&raw.len())
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && edge_ok(raw.chars().next())
        && edge_ok(raw.chars().last());
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(format!(
            "{raw:?} is not an S3 bucket name (3-63 lowercase letters, digits, dots and hyphens)"
        ))
    }
}

/// An SSM parameter name (`/a/b` or `name`, at most 2048 of letters, digits and `_.-/`) or
/// its ARN.
fn parse_parameter_name(raw: &str) -> Result<String, String> {
    let name = match raw.strip_prefix("arn:") {
        Some(rest) => rest
            .split_once(":parameter")
            .map(|(_, name)| name)
            .unwrap_or_default(),
        None => raw,
    };
    let ok = (1..=2048).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(format!(
            "{raw:?} is not an SSM parameter name (letters, digits and _.-/) or ARN"
        ))
    }
}

/// An IAM role name: 1 to 64 of letters, digits and `+=,.@_-`.
fn parse_role_name(raw: &str) -> Result<String, String> {
    let ok = (1..=64).contains(&raw.len())
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(format!(
            "{raw:?} is not an IAM role name (1-64 letters, digits and +=,.@_-), such as \
             OrganizationAccountAccessRole or AWSControlTowerExecution"
        ))
    }
}

fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn parse_regions(raw: &str) -> Result<Vec<String>, String> {
    let mut regions: Vec<String> = Vec::new();
    for part in raw.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(format!("{raw:?} has an empty entry; give comma-separated regions such as us-east-1,eu-west-1"));
        }
        if !is_region(part) {
            return Err(format!(
                "{part:?} is not an AWS region name such as us-east-1"
            ));
        }
        if !regions.iter().any(|r| r == part) {
            regions.push(part.to_owned());
        }
    }
    Ok(regions)
}

/// `us-east-1`, `ap-southeast-4`, `us-gov-west-1`, `eu-isoe-west-1`: letters, dashes, a number.
fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `arn:<partition>:sns:<region>:<12-digit account>:<name>`.
fn validate_topic_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "sns"
        && is_region(parts[3])
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && !parts[5].is_empty()
        && parts[5].len() <= 256;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{arn:?} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:guardduty-invite-problems";

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_pairs(vars)
    }

    #[test]
    fn minimal_configuration_uses_the_function_region_and_defaults() {
        let c = config(&[(SNS_TOPIC_ARN, TOPIC), ("AWS_REGION", "eu-central-1")]).unwrap();
        assert_eq!(c.regions, ["eu-central-1"]);
        assert_eq!(c.email_region, "eu-central-1");
        assert!(!c.disable_email_notification);
        assert!(!c.disable_email_in("eu-central-1"));
    }

    #[test]
    fn api_rate_limits_that_do_not_parse_are_a_start_up_error_naming_the_entry() {
        let base = [(SNS_TOPIC_ARN, TOPIC), ("AWS_REGION", "us-east-1")];
        for raw in [
            "guardduty=fast",
            "guardduty=1e-300/1",
            "guardduty=2/0",
            "=2",
        ] {
            let err = config(&[base[0], base[1], (API_RATE_LIMITS, raw)]).unwrap_err();
            assert_eq!(err.variable, API_RATE_LIMITS, "{raw}");
            assert!(
                err.reason.contains("service[:Operation]=rate/burst"),
                "{err}"
            );
        }
        let c = config(&[
            base[0],
            base[1],
            (API_RATE_LIMITS, "guardduty:ListMembers=2/4"),
        ])
        .unwrap();
        assert_eq!(c.rate_limits.len(), 1);
        assert_eq!(c.rate_limits[0].operation.as_deref(), Some("ListMembers"));
        assert!(
            config(&base).unwrap().rate_limits.is_empty(),
            "unset: AWS's rates"
        );
    }

    #[test]
    fn missing_topic_names_the_variable() {
        let err = config(&[("AWS_REGION", "us-east-1")]).unwrap_err();
        assert_eq!(err.variable, SNS_TOPIC_ARN);
        assert!(err.to_string().starts_with("configuration: SNS_TOPIC_ARN"));
    }

    #[test]
    fn malformed_topic_arn_is_rejected() {
        for arn in [
            "guardduty-invite-problems",
            "arn:aws:sqs:us-east-1:123456789012:q",
            "arn:aws:sns:us-east-1:1234:t",
        ] {
            assert_eq!(
                config(&[(SNS_TOPIC_ARN, arn), ("AWS_REGION", "us-east-1")])
                    .unwrap_err()
                    .variable,
                SNS_TOPIC_ARN
            );
        }
    }

    #[test]
    fn unknown_template_placeholder_is_a_start_up_error() {
        let err = config(&[
            (SNS_TOPIC_ARN, TOPIC),
            ("AWS_REGION", "us-east-1"),
            (INVITE_MESSAGE_TEMPLATE, "Hi {acount}"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, INVITE_MESSAGE_TEMPLATE);
        assert!(err.reason.contains("{acount}"), "{err}");
    }

    #[test]
    fn bad_boolean_is_rejected_and_case_is_ignored() {
        let base = [(SNS_TOPIC_ARN, TOPIC), ("AWS_REGION", "us-east-1")];
        let err = config(&[base[0], base[1], (DISABLE_EMAIL_NOTIFICATION, "yes")]).unwrap_err();
        assert_eq!(err.variable, DISABLE_EMAIL_NOTIFICATION);
        assert!(
            config(&[base[0], base[1], (DISABLE_EMAIL_NOTIFICATION, "TRUE")])
                .unwrap()
                .disable_email_notification
        );
    }

    #[test]
    fn regions_are_parsed_deduplicated_and_validated() {
        let c = config(&[
            (SNS_TOPIC_ARN, TOPIC),
            (
                GUARDDUTY_REGIONS,
                "us-east-1, eu-west-1,us-east-1,us-gov-west-1",
            ),
        ])
        .unwrap();
        assert_eq!(c.regions, ["us-east-1", "eu-west-1", "us-gov-west-1"]);
        for bad_list in [
            "us-east-1,,eu-west-1",
            "US-EAST-1",
            "useast1",
            "us-east-1;eu-west-1",
        ] {
            assert_eq!(
                config(&[(SNS_TOPIC_ARN, TOPIC), (GUARDDUTY_REGIONS, bad_list)])
                    .unwrap_err()
                    .variable,
                GUARDDUTY_REGIONS
            );
        }
    }

    #[test]
    fn no_region_at_all_is_a_start_up_error() {
        assert_eq!(
            config(&[(SNS_TOPIC_ARN, TOPIC)]).unwrap_err().variable,
            GUARDDUTY_REGIONS
        );
    }

    #[test]
    fn invitation_email_goes_out_from_one_region_only() {
        let c = config(&[
            (SNS_TOPIC_ARN, TOPIC),
            (GUARDDUTY_REGIONS, "us-east-1,eu-west-1,ap-south-1"),
            (INVITATION_EMAIL_REGION, "eu-west-1"),
        ])
        .unwrap();
        assert!(c.disable_email_in("us-east-1"));
        assert!(!c.disable_email_in("eu-west-1"));
        assert!(c.disable_email_in("ap-south-1"));
        let err = config(&[
            (SNS_TOPIC_ARN, TOPIC),
            (GUARDDUTY_REGIONS, "us-east-1"),
            (INVITATION_EMAIL_REGION, "eu-west-1"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, INVITATION_EMAIL_REGION);
    }

    #[test]
    fn member_role_and_features_are_validated_at_start() {
        let base = [(SNS_TOPIC_ARN, TOPIC), ("AWS_REGION", "us-east-1")];
        let c = config(&[
            base[0],
            base[1],
            (MEMBER_ROLE_NAME, "OrganizationAccountAccessRole"),
            (
                MEMBER_FEATURES,
                "S3_DATA_EVENTS, RUNTIME_MONITORING,S3_DATA_EVENTS",
            ),
        ])
        .unwrap();
        assert_eq!(
            c.member_role.as_deref(),
            Some("OrganizationAccountAccessRole")
        );
        assert_eq!(c.plan.on, ["S3_DATA_EVENTS", "RUNTIME_MONITORING"]);
        assert_eq!(c.plan.agents, crate::plan::AGENTS);
        assert_eq!(c.stale_invitation_days, DEFAULT_STALE_INVITATION_DAYS);
        for (var, value) in [
            (MEMBER_ROLE_NAME, "role/with/path"),
            (MEMBER_FEATURES, "S3_DATA_EVENTS,FLUX_CAPACITOR"),
            (MEMBER_FEATURES, "RUNTIME_MONITORING,EKS_RUNTIME_MONITORING"),
            (STALE_INVITATION_DAYS, "0"),
            (STALE_INVITATION_DAYS, "a week"),
        ] {
            let err = config(&[base[0], base[1], (var, value)]).unwrap_err();
            assert_eq!(err.variable, var, "{value}: {err}");
        }
        let c = config(&[base[0], base[1], (STALE_INVITATION_DAYS, "30")]).unwrap();
        assert_eq!(c.stale_invitation_days, 30);
        assert!(c.member_role.is_none() && c.plan.is_empty());
    }

    #[test]
    fn agent_management_needs_a_runtime_feature_and_names_known_settings() {
        let base = [(SNS_TOPIC_ARN, TOPIC), ("AWS_REGION", "us-east-1")];
        let c = config(&[
            base[0],
            base[1],
            (MEMBER_FEATURES, "EKS_RUNTIME_MONITORING"),
        ])
        .unwrap();
        assert_eq!(c.plan.agents, ["EKS_ADDON_MANAGEMENT"]);
        let c = config(&[
            base[0],
            base[1],
            (MEMBER_FEATURES, "RUNTIME_MONITORING"),
            (MEMBER_AGENT_MANAGEMENT, "none"),
        ])
        .unwrap();
        assert!(c.plan.agents.is_empty());
        for (features, agents) in [
            ("S3_DATA_EVENTS", "EC2_AGENT_MANAGEMENT"),
            ("RUNTIME_MONITORING", "EC2_AGENT"),
            ("EKS_RUNTIME_MONITORING", "EC2_AGENT_MANAGEMENT"),
        ] {
            let err = config(&[
                base[0],
                base[1],
                (MEMBER_FEATURES, features),
                (MEMBER_AGENT_MANAGEMENT, agents),
            ])
            .unwrap_err();
            assert_eq!(err.variable, MEMBER_AGENT_MANAGEMENT, "{features} {agents}");
        }
        let err = config(&[base[0], base[1], (MEMBER_AGENT_MANAGEMENT, "none")]).unwrap_err();
        assert_eq!(err.variable, MEMBER_AGENT_MANAGEMENT);
    }

    #[test]
    fn whole_numbers_are_bounded_and_defaulted() {
        let base = [(SNS_TOPIC_ARN, TOPIC), ("AWS_REGION", "us-east-1")];
        let c = config(&base).unwrap();
        assert_eq!(
            c.member_role_grace_minutes,
            DEFAULT_MEMBER_ROLE_GRACE_MINUTES
        );
        for (var, ok, not_ok) in [
            (
                STALE_INVITATION_DAYS,
                ["1", "3650"],
                ["0", "3651", "7.5", "-1"],
            ),
            (
                MEMBER_ROLE_GRACE_MINUTES,
                ["0", "1440"],
                ["1441", "2.5", "-1", "x"],
            ),
        ] {
            for v in ok {
                assert!(config(&[base[0], base[1], (var, v)]).is_ok(), "{var}={v}");
            }
            for v in not_ok {
                let err = config(&[base[0], base[1], (var, v)]).unwrap_err();
                assert_eq!(err.variable, var, "{var}={v}");
            }
        }
    }

    #[test]
    fn outputs_and_the_policy_parameter_are_validated() {
        let base = [(SNS_TOPIC_ARN, TOPIC), ("AWS_REGION", "us-east-1")];
        let c = config(&[
            base[0],
            base[1],
            (SECURITY_HUB_FINDINGS, "true"),
            (COVERAGE_BUCKET, "my-coverage.reports-1"),
            (PROTECTION_POLICY_PARAMETER, "/guardduty-invite/policy"),
        ])
        .unwrap();
        assert!(c.security_hub_findings);
        assert_eq!(c.coverage_bucket.as_deref(), Some("my-coverage.reports-1"));
        assert_eq!(
            c.policy_parameter.as_deref(),
            Some("/guardduty-invite/policy")
        );
        for (var, v) in [
            (SECURITY_HUB_FINDINGS, "yes"),
            (COVERAGE_BUCKET, "Upper_Case"),
            (COVERAGE_BUCKET, "ab"),
            (COVERAGE_BUCKET, "-leading"),
            (PROTECTION_POLICY_PARAMETER, "has space"),
        ] {
            let err = config(&[base[0], base[1], (var, v)]).unwrap_err();
            assert_eq!(err.variable, var, "{var}={v}");
        }
        let err = config(&[
            base[0],
            base[1],
            (MEMBER_FEATURES, "S3_DATA_EVENTS"),
            (PROTECTION_POLICY_PARAMETER, "policy"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, PROTECTION_POLICY_PARAMETER);
    }

    #[test]
    fn retry_schedule_variables_go_together_and_a_bad_value_names_its_variable() {
        let base = [("SNS_TOPIC_ARN", TOPIC), ("AWS_REGION", "us-east-1")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            config(&v)
        };
        assert_eq!(with(&[]).map(|c| c.retry), Ok(None));
        let group = ("RETRY_SCHEDULE_GROUP", "gd-invite.retries_1");
        let role = (
            "RETRY_SCHEDULE_ROLE_ARN",
            "arn:aws:iam::123456789012:role/service-role/scheduler",
        );
        let function = (
            "RETRY_FUNCTION_ARN",
            "arn:aws:lambda:us-east-1:123456789012:function:guardduty-invite",
        );
        let retry = with(&[group, role, function]).map(|c| c.retry);
        assert_eq!(
            retry.ok().flatten().map(|r| r.group),
            Some("gd-invite.retries_1".to_owned())
        );
        assert_eq!(
            with(&[group, function])
                .map(|c| c.retry)
                .unwrap_err()
                .variable,
            RETRY_SCHEDULE_ROLE_ARN
        );
        for (bad_value, variable) in [
            (("RETRY_SCHEDULE_GROUP", "has space"), RETRY_SCHEDULE_GROUP),
            (
                (
                    "RETRY_SCHEDULE_GROUP",
                    "g123456789g123456789g123456789g123456789g123456789g123456789gggg5",
                ),
                RETRY_SCHEDULE_GROUP,
            ),
            (
                ("RETRY_SCHEDULE_ROLE_ARN", "scheduler"),
                RETRY_SCHEDULE_ROLE_ARN,
            ),
            (
                (
                    "RETRY_SCHEDULE_ROLE_ARN",
                    "arn:aws:iam::123456789012:user/x",
                ),
                RETRY_SCHEDULE_ROLE_ARN,
            ),
            (
                (
                    "RETRY_FUNCTION_ARN",
                    "arn:aws:lambda:us-east-1:1234:function:f",
                ),
                RETRY_FUNCTION_ARN,
            ),
            (
                (
                    "RETRY_FUNCTION_ARN",
                    "arn:aws:sns:us-east-1:123456789012:function:f",
                ),
                RETRY_FUNCTION_ARN,
            ),
        ] {
            let mut vars = vec![group, role, function];
            vars.retain(|(k, _)| *k != bad_value.0);
            vars.push(bad_value);
            assert_eq!(
                with(&vars).map(|c| c.retry).unwrap_err().variable,
                variable,
                "{bad_value:?}"
            );
        }
    }

    #[test]
    fn disabling_email_disables_it_everywhere() {
        let c = config(&[
            (SNS_TOPIC_ARN, TOPIC),
            (GUARDDUTY_REGIONS, "us-east-1,eu-west-1"),
            (DISABLE_EMAIL_NOTIFICATION, "true"),
        ])
        .unwrap();
        assert!(c.disable_email_in("us-east-1") && c.disable_email_in("eu-west-1"));
    }
}
