//! Configuration: read from the environment once at start and validated before any event.

use crate::template::{MessageTemplate, TemplateError, DEFAULT_TEMPLATE};

pub const SNS_TOPIC_ARN: &str = "SNS_TOPIC_ARN";
pub const INVITE_MESSAGE_TEMPLATE: &str = "INVITE_MESSAGE_TEMPLATE";
pub const DISABLE_EMAIL_NOTIFICATION: &str = "DISABLE_EMAIL_NOTIFICATION";
pub const GUARDDUTY_REGIONS: &str = "GUARDDUTY_REGIONS";
pub const INVITATION_EMAIL_REGION: &str = "INVITATION_EMAIL_REGION";

/// Every variable of this function's own (the standard `AWS_*` ones aside). The deployment
/// template must set exactly these; a test holds it to that.
pub const FUNCTION_VARIABLES: &[&str] = &[
    SNS_TOPIC_ARN,
    INVITE_MESSAGE_TEMPLATE,
    DISABLE_EMAIL_NOTIFICATION,
    GUARDDUTY_REGIONS,
    INVITATION_EMAIL_REGION,
    "MEMBER_ROLE_NAME",
    "MEMBER_FEATURES",
    "STALE_INVITATION_DAYS",
];

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
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
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

        Ok(Self {
            topic_arn: topic_arn.trim().to_owned(),
            template,
            disable_email_notification,
            regions,
            email_region,
        })
    }

    /// Whether InviteMembers in `region` should suppress the invitation email.
    pub fn disable_email_in(&self, region: &str) -> bool {
        self.disable_email_notification || region != self.email_region
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
    use std::collections::HashMap;

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:guardduty-invite-problems";

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
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
