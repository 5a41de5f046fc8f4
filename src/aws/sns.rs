//! SNS Publish. It takes a message in SNS's own terms (a subject, a body, attributes, the FIFO
//! ids): what the message says is shaped by the publishing side (`publish::notify`).

use std::collections::BTreeMap;

use aws_sdk_sns::types::MessageAttributeValue;

use super::Aws;
use crate::error::{AwsError, FailureKind, Service};

/// One SNS Publish request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnsMessage {
    pub subject: String,
    pub body: SnsBody,
    /// (name, SNS data type, value).
    pub attributes: Vec<(&'static str, &'static str, String)>,
    pub fifo: Option<Fifo>,
}

/// What a FIFO topic requires of every message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fifo {
    pub group_id: String,
    pub deduplication_id: String,
}

/// The message of a Publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnsBody {
    /// The same text for every subscriber.
    Text(String),
    /// `MessageStructure: json`: a message per protocol (`email`, `https`, ...), and the
    /// `default` one for every protocol not named.
    PerProtocol(BTreeMap<String, String>),
}

impl SnsBody {
    /// The `Message` parameter as sent: for a structure, the JSON object of its messages.
    pub fn message(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            // A map of strings always serializes; the fallback keeps the signature total.
            Self::PerProtocol(messages) => serde_json::to_string(messages).unwrap_or_default(),
        }
    }
}

impl Aws {
    pub async fn publish(&self, topic_arn: &str, m: &SnsMessage) -> Result<String, AwsError> {
        let mut req = self
            .sns
            .publish()
            .topic_arn(topic_arn)
            .subject(&m.subject)
            .message(m.body.message());
        if matches!(m.body, SnsBody::PerProtocol(_)) {
            req = req.message_structure("json");
        }
        for (name, data_type, value) in &m.attributes {
            let attr = MessageAttributeValue::builder()
                .data_type(*data_type)
                .string_value(value)
                .build()
                .map_err(|e| AwsError {
                    service: Service::Sns,
                    operation: "Publish",
                    region: None,
                    kind: FailureKind::Rejected,
                    code: None,
                    message: format!("message attribute {name}: {e}"),
                })?;
            req = req.message_attributes(*name, attr);
        }
        if let Some(fifo) = &m.fifo {
            req = req
                .message_group_id(&fifo.group_id)
                .message_deduplication_id(&fifo.deduplication_id);
        }
        let out = self.call(Service::Sns, "Publish", None, req.send()).await?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }
}
