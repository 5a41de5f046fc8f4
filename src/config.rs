//! Configuration: read from the environment once at start and validated before any event.

use crate::template::{MessageTemplate, TemplateError, DEFAULT_TEMPLATE};

pub const SNS_TOPIC_ARN: &str = "SNS_TOPIC_ARN";
pub const INVITE_MESSAGE_TEMPLATE: &str = "INVITE_MESSAGE_TEMPLATE";
pub const DISABLE_EMAIL_NOTIFICATION: &str = "DISABLE_EMAIL_NOTIFICATION";
pub const GUARDDUTY_REGIONS: &str = "GUARDDUTY_REGIONS";
pub const INVITATION_EMAIL_REGION: &str = "INVITATION_EMAIL_REGION";
pub const MEMBER_ROLE_NAME: &str = "MEMBER_ROLE_NAME";
pub const MEMBER_FEATURES: &str = "MEMBER_FEATURES";
pub const STALE_INVITATION_DAYS: &str = "STALE_INVITATION_DAYS";

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
];

/// GuardDuty refuses these two features together in one request.
const EXCLUSIVE_FEATURES: [&str; 2] = ["RUNTIME_MONITORING", "EKS_RUNTIME_MONITORING"];
/// Days after which reconcile reports a member still `Invited`.
pub const DEFAULT_STALE_INVITATION_DAYS: u32 = 7;

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
    /// GuardDuty features (the SDK's `OrgFeature` names) to enable for every `Enabled`
    /// member; empty: leave features alone.
    pub member_features: Vec<String>,
    pub stale_invitation_days: u32,
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

        let (member_role, member_features, stale_invitation_days) = member_settings(&set)?;
        Ok(Self {
            topic_arn: topic_arn.trim().to_owned(),
            template,
            disable_email_notification,
            regions,
            email_region,
            member_role,
            member_features,
            stale_invitation_days,
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

/// MEMBER_ROLE_NAME, MEMBER_FEATURES and STALE_INVITATION_DAYS.
fn member_settings(
    set: &impl Fn(&str) -> Option<String>,
) -> Result<(Option<String>, Vec<String>, u32), ConfigError> {
    let role = set(MEMBER_ROLE_NAME)
        .map(|raw| parse_role_name(raw.trim()).map_err(|r| bad(MEMBER_ROLE_NAME, r)))
        .transpose()?;
    let features = match set(MEMBER_FEATURES) {
        None => Vec::new(),
        Some(raw) => parse_features(&raw).map_err(|r| bad(MEMBER_FEATURES, r))?,
    };
    let stale_days = match set(STALE_INVITATION_DAYS) {
        None => DEFAULT_STALE_INVITATION_DAYS,
        Some(raw) => match raw.trim().parse::<u32>() {
            Ok(days @ 1..=3650) => days,
            _ => {
                return Err(bad(
                    STALE_INVITATION_DAYS,
                    format!("{raw:?} is not a whole number of days from 1 to 3650"),
                ))
            }
        },
    };
    Ok((role, features, stale_days))
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

/// Comma-separated GuardDuty feature names, checked against the SDK's own list.
fn parse_features(raw: &str) -> Result<Vec<String>, String> {
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
    if EXCLUSIVE_FEATURES
        .iter()
        .all(|x| features.iter().any(|f| f == x))
    {
        return Err(format!(
            "{} and {} cannot be enabled together; RUNTIME_MONITORING covers EKS",
            EXCLUSIVE_FEATURES[0], EXCLUSIVE_FEATURES[1]
        ));
    }
    Ok(features)
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
        assert_eq!(c.member_features, ["S3_DATA_EVENTS", "RUNTIME_MONITORING"]);
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
        assert!(c.member_role.is_none() && c.member_features.is_empty());
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
