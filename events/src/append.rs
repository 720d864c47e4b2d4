//! Appending to the log.
//!
//! Appends are serialised by a row lock on `event_log_head`, which makes
//! `global_seq` gap-free and the hash chain linear. One transaction may carry
//! many append requests (group commit); each is checked on its own, so a
//! request that conflicts fails alone. The projections and the consumer's
//! "processed" marker are written in the same transaction as the events.

mod build;
mod check;
pub mod request;

use crate::clock::Clock;
use crate::envelope::RecordedEvent;
use crate::projection;
use build::{build, micros};
use check::{decide, read_known, Decision};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Bytea, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use request::{AppendRequest, ExpectedVersion};
use sluice_schema::models::EventRow;
use sluice_schema::schema::{event_log_head, processed_events};
use uuid::Uuid;

/// The most bytes an event's payload and metadata may take, as JSON. Far
/// below the largest message RabbitMQ accepts (128 MiB by default), so
/// that every recorded event can be published; inputs are bounded at the
/// edge well within it, and this is the backstop.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

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
    /// An event would be larger than [`MAX_EVENT_BYTES`]; nothing was written.
    #[error("a {event_type} event of {bytes} bytes is larger than the {MAX_EVENT_BYTES} bytes an event may hold")]
    TooLarge { event_type: String, bytes: usize },
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

/// Appends several requests in one transaction; each gets its own outcome (a
/// conflicting request fails alone). The outer error means nothing was
/// written because the database failed.
///
/// Every check is made up front with one query per kind, under the head lock,
/// so the group costs a handful of round trips rather than several per
/// request. Should a write still fail, each request is retried in a
/// transaction of its own, so that one bad request cannot sink the others.
pub fn append_batch(
    conn: &mut PgConnection,
    requests: &[AppendRequest],
) -> Result<Vec<Result<AppendOutcome, AppendError>>, AppendError> {
    append_batch_at(conn, requests, &Clock::default())
}

/// [`append_batch`], the events recorded at `clock`'s time: the process's
/// clock, which the scheduler and every expiry read too.
pub fn append_batch_at(
    conn: &mut PgConnection,
    requests: &[AppendRequest],
    clock: &Clock,
) -> Result<Vec<Result<AppendOutcome, AppendError>>, AppendError> {
    match conn.transaction(|conn| write_group(conn, requests, clock)) {
        Err(AppendError::Unavailable(_)) if requests.len() > 1 && is_usable(conn) => Ok(requests
            .iter()
            .map(|request| {
                conn.transaction(|conn| write_group(conn, std::slice::from_ref(request), clock))
                    .and_then(|mut outcomes| {
                        outcomes
                            .pop()
                            .unwrap_or_else(|| Err(AppendError::Invalid("no outcome".into())))
                    })
            })
            .collect()),
        other => other,
    }
}

/// The group's events in one statement, a column an array: a `VALUES` list
/// of a dozen parameters a row took PostgreSQL longer to parse and plan than
/// to insert the rows.
fn insert_rows(conn: &mut PgConnection, rows: Vec<EventRow>) -> QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut c = Columns::default();
    for row in rows {
        c.push(row);
    }
    diesel::sql_query(
        "INSERT INTO events (global_seq, event_id, stream_type, stream_id, stream_version, \
             account_id, event_type, payload, metadata, recorded_at, prev_hash, hash) \
         SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::uuid[], $5::bigint[], \
             $6::uuid[], $7::text[], $8::jsonb[], $9::jsonb[], $10::timestamptz[], \
             $11::bytea[], $12::bytea[])",
    )
    .bind::<Array<BigInt>, _>(c.global_seq)
    .bind::<Array<SqlUuid>, _>(c.event_id)
    .bind::<Array<Text>, _>(c.stream_type)
    .bind::<Array<SqlUuid>, _>(c.stream_id)
    .bind::<Array<BigInt>, _>(c.stream_version)
    .bind::<Array<Nullable<SqlUuid>>, _>(c.account_id)
    .bind::<Array<Text>, _>(c.event_type)
    .bind::<Array<Jsonb>, _>(c.payload)
    .bind::<Array<Jsonb>, _>(c.metadata)
    .bind::<Array<Timestamptz>, _>(c.recorded_at)
    .bind::<Array<Bytea>, _>(c.prev_hash)
    .bind::<Array<Bytea>, _>(c.hash)
    .execute(conn)?;
    Ok(())
}

/// [`EventRow`]s, a column each.
#[derive(Default)]
struct Columns {
    global_seq: Vec<i64>,
    event_id: Vec<Uuid>,
    stream_type: Vec<String>,
    stream_id: Vec<Uuid>,
    stream_version: Vec<i64>,
    account_id: Vec<Option<Uuid>>,
    event_type: Vec<String>,
    payload: Vec<serde_json::Value>,
    metadata: Vec<serde_json::Value>,
    recorded_at: Vec<chrono::DateTime<chrono::Utc>>,
    prev_hash: Vec<Vec<u8>>,
    hash: Vec<Vec<u8>>,
}

impl Columns {
    fn push(&mut self, row: EventRow) {
        self.global_seq.push(row.global_seq);
        self.event_id.push(row.event_id);
        self.stream_type.push(row.stream_type);
        self.stream_id.push(row.stream_id);
        self.stream_version.push(row.stream_version);
        self.account_id.push(row.account_id);
        self.event_type.push(row.event_type);
        self.payload.push(row.payload);
        self.metadata.push(row.metadata);
        self.recorded_at.push(row.recorded_at);
        self.prev_hash.push(row.prev_hash);
        self.hash.push(row.hash);
    }
}

fn is_usable(conn: &mut PgConnection) -> bool {
    diesel::sql_query("SELECT 1").execute(conn).is_ok()
}

fn write_group(
    conn: &mut PgConnection,
    requests: &[AppendRequest],
    clock: &Clock,
) -> Result<Vec<Result<AppendOutcome, AppendError>>, AppendError> {
    let (mut last_seq, mut last_hash): (i64, Vec<u8>) = event_log_head::table
        .select((event_log_head::last_seq, event_log_head::last_hash))
        .for_update()
        .first(conn)?;
    let mut known = read_known(conn, requests)?;
    let now = micros(clock.now());
    let mut rows = Vec::new();
    let mut markers = Vec::new();
    let mut secrets = Vec::new();
    let mut outcomes = Vec::with_capacity(requests.len());
    for request in requests {
        let outcome = decide(request, &known).and_then(|decision| match decision {
            Decision::AlreadyRecorded => Ok(AppendOutcome::AlreadyRecorded),
            Decision::Append { first_version } => {
                let recorded = build(request, first_version, &known, last_seq, &last_hash, now)?;
                known.remember(request, first_version);
                if let Some(last) = recorded.last() {
                    last_seq = last.0.global_seq;
                    last_hash = last.0.hash.clone();
                }
                if let Some(marker) = &request.processed {
                    markers.push(marker);
                }
                secrets.extend(&request.secrets);
                let (new_rows, events): (Vec<_>, Vec<_>) = recorded.into_iter().unzip();
                rows.extend(new_rows);
                Ok(AppendOutcome::Appended(events))
            }
        });
        outcomes.push(outcome);
    }
    insert_rows(conn, rows)?;
    if !markers.is_empty() {
        let values: Vec<_> = markers
            .iter()
            .map(|m| {
                (
                    processed_events::consumer.eq(&m.consumer),
                    processed_events::event_id.eq(m.event_id.0),
                    processed_events::processed_at.eq(now),
                )
            })
            .collect();
        diesel::insert_into(processed_events::table)
            .values(values)
            .execute(conn)?;
    }
    for secret in secrets {
        crate::secrets::write(conn, secret, now)?;
    }
    let recorded: Vec<&RecordedEvent> = outcomes
        .iter()
        .filter_map(|o| o.as_ref().ok())
        .flat_map(AppendOutcome::events)
        .collect();
    projection::apply_all(conn, &recorded)?;
    diesel::update(event_log_head::table)
        .set((
            event_log_head::last_seq.eq(last_seq),
            event_log_head::last_hash.eq(&last_hash),
        ))
        .execute(conn)?;
    Ok(outcomes)
}
