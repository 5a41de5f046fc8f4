//! The SNS topic: that it exists, and whether CloudWatch alarms can publish to it.

use super::fix::call_failed;
use super::CheckLine;
use crate::aws::Aws;

/// The AWS managed key of SNS.
const AWS_MANAGED_SNS_KEY: &str = "alias/aws/sns";

pub(super) async fn checks(aws: &Aws, topic_arn: &str) -> Vec<CheckLine> {
    match aws.topic_attributes(topic_arn).await {
        Ok(attrs) => {
            let fifo = attrs.get("FifoTopic").is_some_and(|v| v == "true");
            let key = attrs
                .get("KmsMasterKeyId")
                .map(String::as_str)
                .filter(|k| !k.trim().is_empty());
            vec![
                CheckLine::passed(
                    "topic",
                    None,
                    format!(
                        "{topic_arn} exists: {}",
                        if fifo { "FIFO" } else { "standard" }
                    ),
                ),
                encryption(key),
            ]
        }
        Err(e) => vec![call_failed("topic", None, e)],
    }
}

/// Whether `key` (a KmsMasterKeyId: key id, key ARN, alias or alias ARN) is SNS's AWS
/// managed key.
fn is_aws_managed_sns_key(key: &str) -> bool {
    key == AWS_MANAGED_SNS_KEY || key.ends_with(&format!(":{AWS_MANAGED_SNS_KEY}"))
}

/// CloudWatch alarms cannot publish to a topic encrypted with an AWS managed key: the
/// function's own alarms (and anyone's) would fail on every notification.
fn encryption(key: Option<&str>) -> CheckLine {
    const CHECK: &str = "topic encryption";
    match key {
        None => CheckLine::passed(
            CHECK,
            None,
            "the topic is not encrypted (CloudWatch alarms can publish to it)".into(),
        ),
        Some(k) if is_aws_managed_sns_key(k) => CheckLine::failed(
            CHECK,
            None,
            format!(
                "the topic is encrypted with the AWS managed key {k}: CloudWatch alarms cannot \
                 publish to a topic encrypted with an AWS managed key, so every alarm \
                 notification fails, seen only in the alarm's history"
            ),
            "encrypt the topic with a customer managed KMS key whose key policy lets \
             cloudwatch.amazonaws.com use it (kms:GenerateDataKey and kms:Decrypt), as the \
             stack's own topic does (leave ExistingTopicArn empty to use that one)"
                .into(),
        ),
        Some(k) => CheckLine::not_verified(
            CHECK,
            None,
            format!(
                "the topic is encrypted with {k}: a read-only check cannot see whether the key \
                 policy lets CloudWatch use the key"
            ),
            "make sure the key policy lets cloudwatch.amazonaws.com use the key \
             (kms:GenerateDataKey and kms:Decrypt), or CloudWatch alarms cannot publish to the \
             topic"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Verdict;

    #[test]
    fn the_aws_managed_key_fails_another_key_is_not_verified_and_no_key_passes() {
        for k in [
            "alias/aws/sns",
            "arn:aws:kms:us-east-1:123456789012:alias/aws/sns",
        ] {
            let line = encryption(Some(k));
            assert_eq!(line.verdict, Verdict::Failed, "{k}");
            assert!(line.detail.contains("CloudWatch alarms cannot publish"));
            assert!(line
                .fix
                .unwrap_or_default()
                .contains("cloudwatch.amazonaws.com"));
        }
        for k in [
            "alias/guardduty-invite",
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "alias/aws/snsx",
        ] {
            let line = encryption(Some(k));
            assert_eq!(line.verdict, Verdict::NotVerified, "{k}");
            assert!(line.detail.contains(
                "a read-only check cannot see whether the key policy lets CloudWatch use the key"
            ));
        }
        let line = encryption(None);
        assert_eq!(line.verdict, Verdict::Passed);
        assert!(line.detail.contains("not encrypted"));
    }
}
