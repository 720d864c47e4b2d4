//! Every event Sluice records, as one versioned enum.
//!
//! The serde tag is the `event_type` column and the content is the `payload`
//! column. A payload changes shape only by adding a new variant (for example
//! `probe.completed.v2`); old variants stay so that the log can be replayed.
//! Payloads carry ids and key versions, never secrets or file contents.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload", deny_unknown_fields)]
pub enum DomainEvent {
    /// An operator asked for an end-to-end pipeline probe (a no-op command).
    #[serde(rename = "probe.requested")]
    ProbeRequested(ProbeRequested),
    /// A worker received the probe and recorded it.
    #[serde(rename = "probe.completed")]
    ProbeCompleted(ProbeCompleted),
    /// A delivery exhausted its retries (or was refused) and reached the dead-letter queue.
    #[serde(rename = "delivery.dead_lettered")]
    DeliveryDeadLettered(DeliveryDeadLettered),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeRequested {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeCompleted {
    /// The worker instance that handled the probe.
    pub worker: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryDeadLettered {
    pub event_id: Uuid,
    pub event_type: String,
    pub queue: String,
    pub reason: String,
    pub delivery_count: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("event {global_seq} has type {event_type:?}, which this version of Sluice does not know: {source}")]
    Unknown {
        global_seq: i64,
        event_type: String,
        source: serde_json::Error,
    },
    #[error("event is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("event hash is not hexadecimal")]
    Hash,
}

impl DomainEvent {
    /// The `event_type` column (and AMQP routing key) of this event.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::ProbeRequested(_) => "probe.requested",
            Self::ProbeCompleted(_) => "probe.completed",
            Self::DeliveryDeadLettered(_) => "delivery.dead_lettered",
        }
    }

    /// Splits the event into its `(event_type, payload)` columns.
    pub fn to_columns(&self) -> Result<(String, serde_json::Value), serde_json::Error> {
        let mut value = serde_json::to_value(self)?;
        let payload = value
            .get_mut("payload")
            .map(serde_json::Value::take)
            .unwrap_or_else(|| serde_json::json!({}));
        Ok((self.event_type().to_owned(), payload))
    }

    /// Reads an event back from its columns; an unknown type is an error, never skipped.
    pub fn from_columns(
        global_seq: i64,
        event_type: &str,
        payload: &serde_json::Value,
    ) -> Result<Self, DecodeError> {
        let tagged = serde_json::json!({ "event_type": event_type, "payload": payload });
        serde_json::from_value(tagged).map_err(|source| DecodeError::Unknown {
            global_seq,
            event_type: event_type.to_owned(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_round_trip() {
        let event = DomainEvent::ProbeCompleted(ProbeCompleted {
            worker: "w1".into(),
        });
        let (kind, payload) = event.to_columns().unwrap();
        assert_eq!(kind, "probe.completed");
        assert_eq!(payload, serde_json::json!({"worker": "w1"}));
        assert_eq!(
            DomainEvent::from_columns(1, &kind, &payload).unwrap(),
            event
        );
    }

    #[test]
    fn unknown_event_type_is_an_error() {
        let err =
            DomainEvent::from_columns(7, "account.teleported", &serde_json::json!({})).unwrap_err();
        assert!(err.to_string().contains("account.teleported"), "{err}");
    }

    #[test]
    fn unit_payload_is_an_empty_object() {
        let (_, payload) = DomainEvent::ProbeRequested(ProbeRequested {})
            .to_columns()
            .unwrap();
        assert_eq!(payload, serde_json::json!({}));
    }
}
