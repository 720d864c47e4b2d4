//! Appending to the log.
//!
//! Appends are serialised by a row lock on `event_log_head`, which makes
//! `global_seq` gap-free and the hash chain linear. One transaction may carry
//! many append requests (group commit); each runs in its own savepoint, so a
//! request that conflicts fails alone. The projections and the consumer's
//! "processed" marker are written in the same transaction as the events.

use crate::envelope::{NewEvent, RecordedEvent};
use crate::hash::event_hash;
use crate::projection;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use sluice_schema::ids::EventId;
use sluice_schema::models::EventRow;
use sluice_schema::schema::{event_log_head, events, processed_events};
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
        }
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

#[derive(Debug, Clone, PartialEq)]
pub enum AppendOutcome {
    /// The events were recorded.
    Appended(Vec<RecordedEvent>),
    /// Nothing was written: these event ids were recorded before, or the
    /// consumer had already processed its event. Retrying is safe.
    AlreadyRecorded,
}

impl AppendOutcome {
    pub fn events(&self) -> &[RecordedEvent] {
        match self {
            Self::Appended(events) => events,
            Self::AlreadyRecorded => &[],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("stream {stream_id} is at version {actual}, expected {expected:?}")]
    Conflict {
        stream_id: Uuid,
        expected: ExpectedVersion,
        actual: i64,
    },
    #[error("invalid append: {0}")]
    Invalid(String),
    #[error("event log unavailable: {0}")]
    Unavailable(String),
}

impl From<diesel::result::Error> for AppendError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<serde_json::Error> for AppendError {
    fn from(e: serde_json::Error) -> Self {
        Self::Invalid(e.to_string())
    }
}

/// Appends one request in its own transaction.
pub fn append(
    conn: &mut PgConnection,
    request: &AppendRequest,
) -> Result<AppendOutcome, AppendError> {
    let mut outcomes = append_batch(conn, std::slice::from_ref(request))?;
    outcomes
        .pop()
        .unwrap_or_else(|| Err(AppendError::Invalid("no outcome".into())))
}

/// Appends several requests in one transaction; each gets its own outcome.
/// The outer error means nothing was written (the database failed).
pub fn append_batch(
    conn: &mut PgConnection,
    requests: &[AppendRequest],
) -> Result<Vec<Result<AppendOutcome, AppendError>>, AppendError> {
    conn.transaction(|conn| {
        let (mut last_seq, mut last_hash): (i64, Vec<u8>) = event_log_head::table
            .select((event_log_head::last_seq, event_log_head::last_hash))
            .for_update()
            .first(conn)?;
        let now = now_micros();
        let mut outcomes = Vec::with_capacity(requests.len());
        for request in requests {
            let outcome = conn
                .transaction(|conn| append_one(conn, request, last_seq, last_hash.clone(), now));
            if let Ok(AppendOutcome::Appended(recorded)) = &outcome {
                if let Some(last) = recorded.last() {
                    last_seq = last.global_seq;
                    last_hash = last.hash.clone();
                }
            }
            outcomes.push(outcome);
        }
        diesel::update(event_log_head::table)
            .set((
                event_log_head::last_seq.eq(last_seq),
                event_log_head::last_hash.eq(&last_hash),
            ))
            .execute(conn)?;
        Ok(outcomes)
    })
}

fn append_one(
    conn: &mut PgConnection,
    request: &AppendRequest,
    last_seq: i64,
    last_hash: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<AppendOutcome, AppendError> {
    if request.events.is_empty() {
        return Err(AppendError::Invalid(
            "an append needs at least one event".into(),
        ));
    }
    if let Some(marker) = &request.processed {
        let inserted = diesel::insert_into(processed_events::table)
            .values((
                processed_events::consumer.eq(&marker.consumer),
                processed_events::event_id.eq(marker.event_id.0),
                processed_events::processed_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
        if inserted == 0 {
            return Ok(AppendOutcome::AlreadyRecorded);
        }
    }
    let ids: Vec<Uuid> = request.events.iter().map(|e| e.event_id.0).collect();
    let known: i64 = events::table
        .filter(events::event_id.eq_any(&ids))
        .count()
        .get_result(conn)?;
    if known == ids.len() as i64 {
        return Ok(AppendOutcome::AlreadyRecorded);
    }
    if known > 0 {
        return Err(AppendError::Invalid(
            "some of these event ids are recorded and some are not".into(),
        ));
    }

    let current: Option<i64> = events::table
        .filter(events::stream_id.eq(request.stream_id))
        .select(diesel::dsl::max(events::stream_version))
        .first(conn)?;
    let actual = current.unwrap_or(0);
    let ok = match request.expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => current.is_none(),
        ExpectedVersion::Exactly(v) => v == actual,
    };
    if !ok {
        return Err(AppendError::Conflict {
            stream_id: request.stream_id,
            expected: request.expected,
            actual,
        });
    }

    let mut rows = Vec::with_capacity(request.events.len());
    let mut prev_hash = last_hash;
    for (i, new) in request.events.iter().enumerate() {
        let (event_type, payload) = new.event.to_columns()?;
        let offset = i as i64 + 1;
        let mut row = EventRow {
            global_seq: last_seq + offset,
            event_id: new.event_id.0,
            stream_type: request.stream_type.clone(),
            stream_id: request.stream_id,
            stream_version: actual + offset,
            account_id: new.account_id.map(|a| a.0),
            event_type,
            payload,
            metadata: serde_json::to_value(&new.metadata)?,
            recorded_at: now,
            prev_hash,
            hash: Vec::new(),
        };
        row.hash = event_hash(&row);
        prev_hash = row.hash.clone();
        rows.push(row);
    }
    diesel::insert_into(events::table)
        .values(&rows)
        .execute(conn)?;

    let mut recorded = Vec::with_capacity(rows.len());
    for row in rows {
        let event =
            RecordedEvent::from_row(row).map_err(|e| AppendError::Invalid(e.to_string()))?;
        projection::apply(conn, &event)?;
        recorded.push(event);
    }
    Ok(AppendOutcome::Appended(recorded))
}

/// Now, at PostgreSQL's precision, so the hash computed here matches the row read back.
fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    let micros = now.timestamp_micros();
    DateTime::from_timestamp_micros(micros).unwrap_or(now)
}
