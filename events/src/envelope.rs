//! The envelope around every event: what is appended, what is recorded, and the
//! JSON form published to RabbitMQ.

use crate::event::{DecodeError, DomainEvent};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sluice_schema::ids::{AccountId, EventId};
use sluice_schema::models::EventRow;
use uuid::Uuid;

/// Who and what caused an event. Never holds secrets or customer data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// `user:<id>`, `token:<id>`, `worker:<name>`, `operator`, `system`.
    pub actor: Option<String>,
    pub request_id: Option<String>,
    /// The event that caused this one.
    pub causation_id: Option<Uuid>,
    /// The first event of the chain this one belongs to.
    pub correlation_id: Option<Uuid>,
    /// The region of the deployment that recorded the command; workers of
    /// another region refuse it.
    #[serde(default)]
    pub region: Option<String>,
}

impl Metadata {
    pub fn actor(actor: impl Into<String>) -> Self {
        Self {
            actor: Some(actor.into()),
            ..Self::default()
        }
    }

    /// Metadata for an event caused by `cause`, keeping its correlation.
    pub fn caused_by(cause: &RecordedEvent, actor: impl Into<String>) -> Self {
        Self {
            actor: Some(actor.into()),
            request_id: cause.metadata.request_id.clone(),
            causation_id: Some(cause.event_id.0),
            correlation_id: Some(cause.metadata.correlation_id.unwrap_or(cause.event_id.0)),
            region: cause.metadata.region.clone(),
        }
    }
}

/// An event about to be appended.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_id: EventId,
    pub account_id: Option<AccountId>,
    pub event: DomainEvent,
    pub metadata: Metadata,
}

impl NewEvent {
    pub fn new(event: DomainEvent, metadata: Metadata) -> Self {
        Self {
            event_id: EventId::new(),
            account_id: None,
            event,
            metadata,
        }
    }

    pub fn for_account(mut self, account: AccountId) -> Self {
        self.account_id = Some(account);
        self
    }
}

/// An event as the log holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub global_seq: i64,
    pub event_id: EventId,
    pub stream_type: String,
    pub stream_id: Uuid,
    pub stream_version: i64,
    pub account_id: Option<AccountId>,
    pub event: DomainEvent,
    pub metadata: Metadata,
    pub recorded_at: DateTime<Utc>,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

impl RecordedEvent {
    pub fn from_row(row: EventRow) -> Result<Self, DecodeError> {
        let event = DomainEvent::from_columns(row.global_seq, &row.event_type, &row.payload)?;
        let metadata = serde_json::from_value(row.metadata)?;
        Ok(Self {
            global_seq: row.global_seq,
            event_id: EventId(row.event_id),
            stream_type: row.stream_type,
            stream_id: row.stream_id,
            stream_version: row.stream_version,
            account_id: row.account_id.map(AccountId),
            event,
            metadata,
            recorded_at: row.recorded_at,
            prev_hash: row.prev_hash,
            hash: row.hash,
        })
    }

    /// The JSON body published to RabbitMQ and to the audit stream.
    pub fn to_wire(&self) -> Result<Vec<u8>, serde_json::Error> {
        let (event_type, payload) = self.event.to_columns()?;
        wire_from_row(&EventRow {
            global_seq: self.global_seq,
            event_id: self.event_id.0,
            stream_type: self.stream_type.clone(),
            stream_id: self.stream_id,
            stream_version: self.stream_version,
            account_id: self.account_id.map(|a| a.0),
            event_type,
            payload,
            metadata: serde_json::to_value(&self.metadata)?,
            recorded_at: self.recorded_at,
            prev_hash: self.prev_hash.clone(),
            hash: self.hash.clone(),
        })
    }

    pub fn from_wire(body: &[u8]) -> Result<Self, DecodeError> {
        let wire: WireEvent = serde_json::from_slice(body)?;
        Self::from_row(EventRow {
            global_seq: wire.global_seq,
            event_id: wire.event_id,
            stream_type: wire.stream_type,
            stream_id: wire.stream_id,
            stream_version: wire.stream_version,
            account_id: wire.account_id,
            event_type: wire.event_type,
            payload: wire.payload,
            metadata: wire.metadata,
            recorded_at: wire.recorded_at,
            prev_hash: hex::decode(wire.prev_hash).map_err(|_| DecodeError::Hash)?,
            hash: hex::decode(wire.hash).map_err(|_| DecodeError::Hash)?,
        })
    }
}

/// The wire form of a stored row, without decoding its payload: the relay
/// publishes every recorded event, whatever this build knows of its type.
pub fn wire_from_row(row: &EventRow) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&WireEvent {
        global_seq: row.global_seq,
        event_id: row.event_id,
        stream_type: row.stream_type.clone(),
        stream_id: row.stream_id,
        stream_version: row.stream_version,
        account_id: row.account_id,
        event_type: row.event_type.clone(),
        payload: row.payload.clone(),
        metadata: row.metadata.clone(),
        recorded_at: row.recorded_at,
        prev_hash: hex::encode(&row.prev_hash),
        hash: hex::encode(&row.hash),
    })
}

#[derive(Serialize, Deserialize)]
struct WireEvent {
    global_seq: i64,
    event_id: Uuid,
    stream_type: String,
    stream_id: Uuid,
    stream_version: i64,
    account_id: Option<Uuid>,
    event_type: String,
    payload: serde_json::Value,
    metadata: serde_json::Value,
    recorded_at: DateTime<Utc>,
    prev_hash: String,
    hash: String,
}
