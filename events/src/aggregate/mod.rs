//! Aggregates: decisions made on an event stream, not on a table.
//!
//! Each aggregate has an *apply* step (state + event → state, no logic) and
//! a *decide* step (command + state → events, or a [`Refusal`]). [`load`]
//! reads a stream's events and folds them into the state, with the version
//! it read; the caller appends what was decided at exactly that version
//! ([`Loaded::expected`]), so two commands decided at the same moment on
//! one stream cannot both be recorded: the second is a version conflict,
//! and deciding again on the stream as it is then gives the answer it
//! would have had if it had come second.

pub mod connection;
pub mod job;
pub mod mapping_template;
pub mod run;
pub mod trial;

use crate::envelope::RecordedEvent;
use crate::event::DecodeError;
use crate::ExpectedVersion;
use diesel::prelude::*;
use sluice_schema::ids::AccountId;
use sluice_schema::models::EventRow;
use sluice_schema::schema::events;
use uuid::Uuid;

/// The state of one stream, rebuilt from its events.
pub trait Aggregate: Default {
    /// The `stream_type` of its streams.
    const STREAM_TYPE: &'static str;

    /// The state after `event` (no decision here: an event is a fact).
    fn apply(&mut self, event: &RecordedEvent);
}

/// Why a command was refused, in the words a caller is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No such thing in the caller's account (or not any more).
    NotFound,
    /// Not in the state it is in.
    Conflict(String),
    /// What the command needs is gone for good.
    Gone(String),
}

/// An aggregate as its stream holds it, and the version that was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<A> {
    pub id: Uuid,
    pub state: A,
    /// The version of the stream's last event (0: no stream).
    pub version: i64,
}

impl<A> Loaded<A> {
    /// The version an append of what was decided must find.
    pub fn expected(&self) -> ExpectedVersion {
        if self.version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exactly(self.version)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("event log unavailable: {0}")]
    Database(#[from] diesel::result::Error),
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// The events of stream `id` of `stream_type`, in order.
pub fn read_stream(
    conn: &mut PgConnection,
    stream_type: &str,
    id: Uuid,
) -> Result<Vec<RecordedEvent>, LoadError> {
    let rows: Vec<EventRow> = events::table
        .filter(events::stream_id.eq(id))
        .filter(events::stream_type.eq(stream_type))
        .order(events::stream_version.asc())
        .select(EventRow::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(|row| RecordedEvent::from_row(row).map_err(LoadError::from))
        .collect()
}

/// Aggregate `A` of stream `id`, with the version read.
pub fn load<A: Aggregate>(conn: &mut PgConnection, id: Uuid) -> Result<Loaded<A>, LoadError> {
    Ok(fold(id, &read_stream(conn, A::STREAM_TYPE, id)?))
}

/// Aggregate `A` of stream `id` from its events.
pub fn fold<A: Aggregate>(id: Uuid, events: &[RecordedEvent]) -> Loaded<A> {
    let mut state = A::default();
    for event in events {
        state.apply(event);
    }
    Loaded {
        id,
        state,
        version: events.last().map_or(0, |e| e.stream_version),
    }
}

/// Whether a stream that belongs to `owner` may be acted on by `account`:
/// another account's stream is as if it did not exist.
pub(crate) fn owned_by(owner: Option<AccountId>, account: AccountId) -> Result<(), Refusal> {
    if owner == Some(account) {
        Ok(())
    } else {
        Err(Refusal::NotFound)
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Recorded events for the aggregates' unit tests.

    use crate::envelope::{Metadata, RecordedEvent};
    use crate::event::DomainEvent;
    use sluice_schema::ids::{AccountId, EventId};
    use uuid::Uuid;

    pub const ACCOUNT: AccountId = AccountId(Uuid::from_u128(1));

    /// `events` as recorded on stream `id` of `ACCOUNT`, versions from 1.
    pub fn recorded(id: Uuid, events: Vec<DomainEvent>) -> Vec<RecordedEvent> {
        events
            .into_iter()
            .enumerate()
            .map(|(i, event)| RecordedEvent {
                global_seq: i as i64 + 1,
                event_id: EventId::new(),
                stream_type: String::new(),
                stream_id: id,
                stream_version: i as i64 + 1,
                account_id: Some(ACCOUNT),
                event,
                metadata: Metadata::default(),
                recorded_at: chrono::Utc::now(),
                prev_hash: Vec::new(),
                hash: Vec::new(),
            })
            .collect()
    }
}
