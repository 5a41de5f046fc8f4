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

impl Aws {
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
