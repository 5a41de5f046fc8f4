//! Calls made inside a member account, with the credentials of the role assumed there, and
//! the administrator-side calls on members' features.

use std::collections::HashMap;
use std::time::SystemTime;

use aws_config::Region;
use aws_sdk_guardduty::config::Credentials;
use aws_sdk_guardduty::types::{
    FeatureStatus, MemberAdditionalConfiguration, MemberFeaturesConfiguration,
    MemberFeaturesConfigurationResult, OrgFeature, OrgFeatureAdditionalConfiguration,
};

use super::{all_pages, unprocessed, Aws, Unprocessed};
use crate::account::AccountId;
use crate::error::{AwsError, FailureKind, Service};
use crate::plan::{FeatureSetting, FeatureState};

/// A member account's GuardDuty clients, one per configured region, acting with the role
/// assumed in that account.
#[derive(Debug)]
pub struct MemberSession {
    pub account_id: AccountId,
    guardduty: HashMap<String, aws_sdk_guardduty::Client>,
}

/// An invitation waiting in a member account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invitation {
    /// The administrator's account.
    pub account_id: String,
    pub invitation_id: String,
}

/// The administrator of a member account, as the member sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Administrator {
    pub account_id: String,
    pub relationship_status: String,
}

/// Whether assuming the member role worked.
#[derive(Debug)]
pub enum Assumed {
    Session(MemberSession),
    /// The role does not exist or does not trust this function: AWS's message.
    Denied(String),
}

/// GetMemberDetectors' answer: each returned member's features by account id, and the
/// accounts left unprocessed.
pub type MemberFeatures = (HashMap<String, Vec<FeatureState>>, Vec<Unprocessed>);

impl Aws {
    /// StartMonitoringMembers: the administrator monitors again members it stopped monitoring
    /// (`Disabled`); 1-50 accounts a call; the accounts GuardDuty left unprocessed.
    pub async fn start_monitoring_members(
        &self,
        region: &str,
        detector_id: &str,
        ids: &[&AccountId],
    ) -> Result<Vec<Unprocessed>, AwsError> {
        let out = self
            .on_detector(region, "StartMonitoringMembers", |c| {
                c.start_monitoring_members()
                    .detector_id(detector_id)
                    .set_account_ids(Some(ids.iter().map(|id| id.to_string()).collect()))
                    .send()
            })
            .await?;
        Ok(unprocessed(out.unprocessed_accounts()))
    }

    /// This function's own account (the administrator), asked of STS once per process.
    pub async fn admin_account(&self) -> Result<String, AwsError> {
        self.admin_account
            .get_or_try_init(|| async {
                let out = self
                    .call(
                        Service::Sts,
                        "GetCallerIdentity",
                        None,
                        self.sts.get_caller_identity().send(),
                    )
                    .await?;
                Ok(out.account().unwrap_or_default().to_owned())
            })
            .await
            .cloned()
    }

    /// Assumes `role_arn` in a member account (regional STS endpoint) and builds its
    /// GuardDuty clients. Access denied is an answer (the role is missing or does not trust
    /// this function), not a failure.
    pub async fn assume_member_role(
        &self,
        account_id: &AccountId,
        role_arn: &str,
        session_name: &str,
    ) -> Result<Assumed, AwsError> {
        let sent = self
            .sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(session_name)
            .send();
        let out = match self.call(Service::Sts, "AssumeRole", None, sent).await {
            Ok(out) => out,
            Err(e) if e.kind == FailureKind::AccessDenied => return Ok(Assumed::Denied(e.message)),
            Err(e) => return Err(e),
        };
        let Some(c) = out.credentials() else {
            return Err(AwsError {
                service: Service::Sts,
                operation: "AssumeRole",
                region: None,
                kind: FailureKind::Transient,
                code: None,
                message: "STS answered without credentials".into(),
            });
        };
        let credentials = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            SystemTime::try_from(*c.expiration()).ok(),
            "guardduty-invite-member-role",
        );
        let guardduty = self
            .guardduty
            .keys()
            .map(|region| {
                let conf = aws_sdk_guardduty::config::Builder::from(&self.sdk)
                    .region(Region::new(region.clone()))
                    .credentials_provider(credentials.clone())
                    .build();
                (region.clone(), aws_sdk_guardduty::Client::from_conf(conf))
            })
            .collect();
        Ok(Assumed::Session(MemberSession {
            account_id: account_id.clone(),
            guardduty,
        }))
    }

    fn member_gd<'s>(
        &self,
        session: &'s MemberSession,
        region: &str,
        operation: &'static str,
    ) -> Result<&'s aws_sdk_guardduty::Client, AwsError> {
        session
            .guardduty
            .get(region)
            .ok_or_else(|| super::not_configured(region, operation))
    }

    /// The member's own detector in `region`, if it has one.
    pub async fn member_detector(
        &self,
        session: &MemberSession,
        region: &str,
    ) -> Result<Option<String>, AwsError> {
        let client = self.member_gd(session, region, "ListDetectors")?;
        let out = self
            .call(
                Service::GuardDuty,
                "ListDetectors",
                Some(region),
                client.list_detectors().send(),
            )
            .await?;
        Ok(out.detector_ids().first().cloned())
    }

    /// Enables GuardDuty in the member account in `region`.
    pub async fn create_member_detector(
        &self,
        session: &MemberSession,
        region: &str,
    ) -> Result<String, AwsError> {
        let client = self.member_gd(session, region, "CreateDetector")?;
        let out = self
            .call(
                Service::GuardDuty,
                "CreateDetector",
                Some(region),
                client.create_detector().enable(true).send(),
            )
            .await?;
        Ok(out.detector_id().unwrap_or_default().to_owned())
    }

    /// The status (`ENABLED`, or `DISABLED`: suspended) of the member's own detector.
    pub async fn member_detector_status(
        &self,
        session: &MemberSession,
        region: &str,
        detector_id: &str,
    ) -> Result<String, AwsError> {
        let client = self.member_gd(session, region, "GetDetector")?;
        let out = self
            .call(
                Service::GuardDuty,
                "GetDetector",
                Some(region),
                client.get_detector().detector_id(detector_id).send(),
            )
            .await?;
        Ok(out
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default())
    }

    /// Resumes the member's suspended detector.
    pub async fn resume_member_detector(
        &self,
        session: &MemberSession,
        region: &str,
        detector_id: &str,
    ) -> Result<(), AwsError> {
        let client = self.member_gd(session, region, "UpdateDetector")?;
        self.call(
            Service::GuardDuty,
            "UpdateDetector",
            Some(region),
            client
                .update_detector()
                .detector_id(detector_id)
                .enable(true)
                .send(),
        )
        .await
        .map(|_| ())
    }

    /// The administrator the member has accepted (or that enabled it through the
    /// organization), if any.
    pub async fn administrator_of(
        &self,
        session: &MemberSession,
        region: &str,
        detector_id: &str,
    ) -> Result<Option<Administrator>, AwsError> {
        let client = self.member_gd(session, region, "GetAdministratorAccount")?;
        let out = self
            .call(
                Service::GuardDuty,
                "GetAdministratorAccount",
                Some(region),
                client
                    .get_administrator_account()
                    .detector_id(detector_id)
                    .send(),
            )
            .await?;
        Ok(out.administrator().map(|a| Administrator {
            account_id: a.account_id().unwrap_or_default().to_owned(),
            relationship_status: a.relationship_status().unwrap_or_default().to_owned(),
        }))
    }

    /// The invitations waiting in the member account in `region`, every page.
    pub async fn list_invitations(
        &self,
        session: &MemberSession,
        region: &str,
    ) -> Result<Vec<Invitation>, AwsError> {
        let client = self.member_gd(session, region, "ListInvitations")?;
        all_pages(|token| async move {
            let sent = client.list_invitations().set_next_token(token).send();
            let page = self
                .call(Service::GuardDuty, "ListInvitations", Some(region), sent)
                .await?;
            let invitations = page.invitations().iter().map(|i| Invitation {
                account_id: i.account_id().unwrap_or_default().to_owned(),
                invitation_id: i.invitation_id().unwrap_or_default().to_owned(),
            });
            Ok((invitations.collect(), page.next_token().map(str::to_owned)))
        })
        .await
    }

    /// Accepts the administrator's invitation with the member's own detector.
    pub async fn accept_invitation(
        &self,
        session: &MemberSession,
        region: &str,
        member_detector: &str,
        invitation: &Invitation,
    ) -> Result<(), AwsError> {
        let client = self.member_gd(session, region, "AcceptAdministratorInvitation")?;
        self.call(
            Service::GuardDuty,
            "AcceptAdministratorInvitation",
            Some(region),
            client
                .accept_administrator_invitation()
                .detector_id(member_detector)
                .administrator_id(&invitation.account_id)
                .invitation_id(&invitation.invitation_id)
                .send(),
        )
        .await
        .map(|_| ())
    }

    /// Sets `settings` (features on with their agents, or off) for members of the
    /// administrator's detector.
    pub async fn update_member_features(
        &self,
        region: &str,
        detector_id: &str,
        ids: &[&AccountId],
        settings: &[FeatureSetting],
    ) -> Result<Vec<Unprocessed>, AwsError> {
        let features = settings.iter().map(feature_configuration).collect();
        let out = self
            .on_detector(region, "UpdateMemberDetectors", |c| {
                c.update_member_detectors()
                    .detector_id(detector_id)
                    .set_account_ids(Some(ids.iter().map(|id| id.to_string()).collect()))
                    .set_features(Some(features))
                    .send()
            })
            .await?;
        Ok(unprocessed(out.unprocessed_accounts()))
    }

    /// The features GuardDuty offers in `region`: those GetDetector lists for the
    /// administrator's own detector (every feature with its status; one the region does not
    /// offer is not listed).
    pub async fn offered_features(
        &self,
        region: &str,
        detector_id: &str,
    ) -> Result<Vec<String>, AwsError> {
        let out = self
            .on_detector(region, "GetDetector", |c| {
                c.get_detector().detector_id(detector_id).send()
            })
            .await?;
        Ok(out
            .features()
            .iter()
            .filter_map(|f| f.name().map(|n| n.as_str().to_owned()))
            .collect())
    }

    /// The features of each member as GuardDuty returns them, by account; members GuardDuty
    /// did not return are in the unprocessed list.
    pub async fn member_features(
        &self,
        region: &str,
        detector_id: &str,
        ids: &[&AccountId],
    ) -> Result<MemberFeatures, AwsError> {
        let out = self
            .on_detector(region, "GetMemberDetectors", |c| {
                c.get_member_detectors()
                    .detector_id(detector_id)
                    .set_account_ids(Some(ids.iter().map(|id| id.to_string()).collect()))
                    .send()
            })
            .await?;
        let features = out
            .member_data_source_configurations()
            .iter()
            .map(|m| {
                let states = m.features().iter().map(feature_state).collect();
                (m.account_id().unwrap_or_default().to_owned(), states)
            })
            .collect();
        Ok((features, unprocessed(out.unprocessed_accounts())))
    }
}

fn status(enable: bool) -> FeatureStatus {
    if enable {
        FeatureStatus::Enabled
    } else {
        FeatureStatus::Disabled
    }
}

fn feature_configuration(s: &FeatureSetting) -> MemberFeaturesConfiguration {
    let agents: Vec<MemberAdditionalConfiguration> = s
        .agents
        .iter()
        .map(|a| {
            MemberAdditionalConfiguration::builder()
                .name(OrgFeatureAdditionalConfiguration::from(a.as_str()))
                .status(FeatureStatus::Enabled)
                .build()
        })
        .collect();
    MemberFeaturesConfiguration::builder()
        .name(OrgFeature::from(s.name.as_str()))
        .status(status(s.enable))
        .set_additional_configuration((!agents.is_empty()).then_some(agents))
        .build()
}

fn feature_state(f: &MemberFeaturesConfigurationResult) -> FeatureState {
    FeatureState {
        name: f.name().map(|n| n.as_str().to_owned()).unwrap_or_default(),
        status: f
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        additional: f
            .additional_configuration()
            .iter()
            .map(|a| {
                (
                    a.name().map(|n| n.as_str().to_owned()).unwrap_or_default(),
                    a.status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                )
            })
            .collect(),
    }
}
