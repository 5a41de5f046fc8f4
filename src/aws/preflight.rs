//! The read calls of the preflight `check`, nothing else.

use std::collections::HashMap;

use super::Aws;
use crate::error::{AwsError, Service};

/// The organization as this account sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganizationInfo {
    pub id: String,
    pub management_account: String,
}

/// One feature of the organization's GuardDuty configuration: whether GuardDuty turns it
/// on for the organization's accounts by itself (`autoEnable`: `NEW`, `ALL`, `NONE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoEnabled {
    pub name: String,
    pub auto_enable: String,
    /// (name, autoEnable) of each agent setting (additional configuration) of the feature.
    pub additional: Vec<(String, String)>,
}

/// The organization's GuardDuty configuration as its delegated administrator reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrganizationConfiguration {
    /// `autoEnableOrganizationMembers`: `NEW`, `ALL` or `NONE` (empty when not answered).
    pub auto_enable_members: String,
    pub features: Vec<AutoEnabled>,
    /// `memberAccountLimitReached`: "Indicates whether the maximum number of allowed member
    /// accounts are already associated with the delegated administrator account".
    pub member_account_limit_reached: bool,
}

impl Aws {
    /// The organization's GuardDuty configuration in `region` (DescribeOrganizationConfiguration
    /// on the administrator's detector, every page of features). Only the organization's
    /// delegated administrator may read it: any other account gets a BadRequestException.
    /// A read call: the configuration is never changed here.
    pub async fn organization_configuration(
        &self,
        region: &str,
        detector_id: &str,
    ) -> Result<OrganizationConfiguration, AwsError> {
        const OPERATION: &str = "DescribeOrganizationConfiguration";
        let client = self.gd(region, OPERATION)?;
        let mut out = OrganizationConfiguration::default();
        let mut token: Option<String> = None;
        // Not through `on_detector`: the refusal of an account that is not the delegated
        // administrator is a 400 too, and must not make the detector be looked up again.
        loop {
            let sent = client
                .describe_organization_configuration()
                .detector_id(detector_id)
                .set_next_token(token.take())
                .send();
            let page = self
                .call(Service::GuardDuty, OPERATION, Some(region), sent)
                .await?;
            if let Some(m) = page.auto_enable_organization_members() {
                out.auto_enable_members = m.as_str().to_owned();
            }
            out.member_account_limit_reached |=
                page.member_account_limit_reached().unwrap_or(false);
            out.features
                .extend(page.features().iter().map(auto_enabled));
            match page.next_token().filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(out),
            }
        }
    }

    /// The status (`ENABLED`, `DISABLED`) of the administrator's detector in `region`.
    pub async fn detector_status(
        &self,
        region: &str,
        detector_id: &str,
    ) -> Result<String, AwsError> {
        let out = self
            .on_detector(region, "GetDetector", |c| {
                c.get_detector().detector_id(detector_id).send()
            })
            .await?;
        Ok(out
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default())
    }

    /// Whether the members can be read: one page of at most one member.
    pub async fn members_readable(&self, region: &str, detector_id: &str) -> Result<(), AwsError> {
        self.on_detector(region, "ListMembers", |c| {
            c.list_members()
                .detector_id(detector_id)
                .only_associated("false")
                .max_results(1)
                .send()
        })
        .await
        .map(|_| ())
    }

    pub async fn describe_organization(&self) -> Result<OrganizationInfo, AwsError> {
        let out = self
            .call(
                Service::Organizations,
                "DescribeOrganization",
                None,
                self.organizations.describe_organization().send(),
            )
            .await?;
        let org = out.organization();
        Ok(OrganizationInfo {
            id: org.and_then(|o| o.id()).unwrap_or_default().to_owned(),
            management_account: org
                .and_then(|o| o.master_account_id())
                .unwrap_or_default()
                .to_owned(),
        })
    }

    pub async fn topic_attributes(
        &self,
        topic_arn: &str,
    ) -> Result<HashMap<String, String>, AwsError> {
        let out = self
            .call(
                Service::Sns,
                "GetTopicAttributes",
                None,
                self.sns.get_topic_attributes().topic_arn(topic_arn).send(),
            )
            .await?;
        Ok(out.attributes().cloned().unwrap_or_default())
    }
}

fn auto_enabled(
    f: &aws_sdk_guardduty::types::OrganizationFeatureConfigurationResult,
) -> AutoEnabled {
    AutoEnabled {
        name: f.name().map(|n| n.as_str().to_owned()).unwrap_or_default(),
        auto_enable: f
            .auto_enable()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default(),
        additional: f
            .additional_configuration()
            .iter()
            .map(|a| {
                (
                    a.name().map(|n| n.as_str().to_owned()).unwrap_or_default(),
                    a.auto_enable()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                )
            })
            .collect(),
    }
}
