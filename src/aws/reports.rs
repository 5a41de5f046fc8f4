//! Reading the coverage bucket's own small objects back: the daily summaries the report's
//! trend is drawn from.

use super::{all_pages, Aws};
use crate::error::{AwsError, Service};

impl Aws {
    /// The keys under `prefix` after `start_after` (S3 lists them in UTF-8 binary order,
    /// so dated keys come oldest first), every page.
    pub async fn list_keys(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
    ) -> Result<Vec<String>, AwsError> {
        all_pages(|token| async move {
            let sent = self
                .s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .start_after(start_after)
                .set_continuation_token(token)
                .send();
            let page = self
                .call(Service::S3, "ListObjectsV2", Some(&self.home_region), sent)
                .await?;
            let keys = page
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned));
            Ok((
                keys.collect(),
                page.next_continuation_token().map(str::to_owned),
            ))
        })
        .await
    }

    /// An object's bytes.
    pub async fn get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, AwsError> {
        let sent = self.s3.get_object().bucket(bucket).key(key).send();
        let out = self
            .call(Service::S3, "GetObject", Some(&self.home_region), sent)
            .await?;
        let body = out.body.collect().await.map_err(|e| AwsError {
            service: Service::S3,
            operation: "GetObject",
            region: Some(self.home_region.clone()),
            kind: crate::error::FailureKind::Transient,
            code: None,
            message: format!("reading the object's body: {e}"),
        })?;
        Ok(body.into_bytes().to_vec())
    }
}
