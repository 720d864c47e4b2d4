//! The pipeline's own events: probes, dead letters and the relay's quarantine.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayEventQuarantined {
    /// The relay's cursor (`amqp:<namespace>`) that passed the event by.
    pub cursor: String,
    pub global_seq: i64,
    pub event_id: Uuid,
    pub event_type: String,
    /// Why it could not be published, in Sluice's words (no payload).
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayQuarantineReleased {
    pub global_seq: i64,
    pub outcome: QuarantineOutcome,
}

/// What an operator did with a quarantined event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuarantineOutcome {
    /// Published to the broker after all.
    Republished,
    /// Left unpublished for good.
    Discarded,
}

impl QuarantineOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Republished => "republished",
            Self::Discarded => "discarded",
        }
    }
}
