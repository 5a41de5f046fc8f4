//! The protection policy's reads: its parameter, and the organizational units it names.

use super::Aws;
use crate::error::{AwsError, Service};

impl Aws {
    /// A Parameter Store parameter's value (decrypted when it is a SecureString), in the
    /// function's own region.
    pub async fn parameter(&self, name: &str) -> Result<String, AwsError> {
        let sent = self
            .ssm
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send();
        let out = self
            .call(Service::Ssm, "GetParameter", Some(&self.home_region), sent)
            .await?;
        Ok(out
            .parameter()
            .and_then(|p| p.value())
            .unwrap_or_default()
            .to_owned())
    }

    /// Whether the organization has this organizational unit.
    pub async fn ou_exists(&self, id: &str) -> Result<bool, AwsError> {
        let sent = self
            .organizations
            .describe_organizational_unit()
            .organizational_unit_id(id)
            .send();
        match self
            .call(
                Service::Organizations,
                "DescribeOrganizationalUnit",
                None,
                sent,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.code.as_deref() == Some("OrganizationalUnitNotFoundException") => Ok(false),
            Err(e) => Err(e),
        }
    }
}
