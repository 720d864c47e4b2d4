//! What an append asks for: the events of one stream at the version it
//! expects, and what is written with them all or nothing (a consumer's
//! processed marker, secrets, claims on other streams).

use crate::envelope::NewEvent;
use crate::secrets::SecretWrite;
use sluice_schema::ids::EventId;
use uuid::Uuid;

/// The stream version an append expects to find (optimistic concurrency).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the stream's version is.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have exactly this version.
    Exactly(i64),
}

/// A consumer recording that it has handled an event, atomically with its effects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessedMarker {
    pub consumer: String,
    pub event_id: EventId,
}

/// Events for one stream, appended all or nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendRequest {
    pub stream_type: String,
    pub stream_id: Uuid,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
    pub processed: Option<ProcessedMarker>,
    /// Secrets written with the events, all or nothing.
    pub secrets: Vec<SecretWrite>,
    /// Events on other streams that must be appended with these, at the
    /// versions they expect, or not at all: how a uniqueness (an email) is
    /// claimed atomically with what needs it.
    pub claims: Vec<Claim>,
}

/// One event on a stream of its own, appended with a request all or
/// nothing, at the version it expects.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub stream_type: String,
    pub stream_id: Uuid,
    pub expected: ExpectedVersion,
    pub event: NewEvent,
}

impl AppendRequest {
    pub fn new(
        stream_type: impl Into<String>,
        stream_id: Uuid,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Self {
        Self {
            stream_type: stream_type.into(),
            stream_id,
            expected,
            events,
            processed: None,
            secrets: Vec::new(),
            claims: Vec::new(),
        }
    }

    /// Appends `claim` with the request, all or nothing.
    pub fn with_claim(mut self, claim: Claim) -> Self {
        self.claims.push(claim);
        self
    }

    /// Writes `secret` in the same transaction as the events.
    pub fn with_secret(mut self, secret: SecretWrite) -> Self {
        self.secrets.push(secret);
        self
    }

    /// Records that `consumer` handled `event_id` in the same transaction.
    pub fn processing(mut self, consumer: impl Into<String>, event_id: EventId) -> Self {
        self.processed = Some(ProcessedMarker {
            consumer: consumer.into(),
            event_id,
        });
        self
    }
}
