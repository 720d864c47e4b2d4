//! Appending to the log.
//!
//! Appends are serialised by a row lock on `event_log_head`, which makes
//! `global_seq` gap-free and the hash chain linear. One transaction may carry
//! many append requests (group commit); each is checked on its own, so a
//! request that conflicts fails alone. The projections and the consumer's
//! "processed" marker are written in the same transaction as the events.

use crate::clock::Clock;
use crate::envelope::{NewEvent, RecordedEvent};
use crate::hash::event_hash;
use crate::projection;
use crate::secrets::SecretWrite;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use sluice_schema::ids::EventId;
use sluice_schema::models::EventRow;
use sluice_schema::schema::{event_log_head, events, processed_events};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// The most bytes an event's payload and metadata may take, as JSON. Far
/// below the largest message RabbitMQ accepts (128 MiB by default), so
/// that every recorded event can be published; inputs are bounded at the
/// edge well within it, and this is the backstop.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

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

fn is_usable(conn: &mut PgConnection) -> bool {
    diesel::sql_query("SELECT 1").execute(conn).is_ok()
}

/// What the log holds of the group's ids and streams, read once.
struct Known {
    event_ids: HashSet<Uuid>,
    processed: HashSet<(String, Uuid)>,
    versions: HashMap<Uuid, i64>,
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
    for chunk in rows.chunks(1000) {
        diesel::insert_into(events::table)
            .values(chunk)
            .execute(conn)?;
    }
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

fn read_known(conn: &mut PgConnection, requests: &[AppendRequest]) -> QueryResult<Known> {
    let ids: Vec<Uuid> = requests
        .iter()
        .flat_map(|r| {
            r.events
                .iter()
                .chain(r.claims.iter().map(|c| &c.event))
                .map(|e| e.event_id.0)
        })
        .collect();
    let event_ids = events::table
        .filter(events::event_id.eq_any(&ids))
        .select(events::event_id)
        .load::<Uuid>(conn)?
        .into_iter()
        .collect();
    let marked: Vec<Uuid> = requests
        .iter()
        .filter_map(|r| r.processed.as_ref().map(|m| m.event_id.0))
        .collect();
    let processed = if marked.is_empty() {
        HashSet::new()
    } else {
        processed_events::table
            .filter(processed_events::event_id.eq_any(&marked))
            .select((processed_events::consumer, processed_events::event_id))
            .load::<(String, Uuid)>(conn)?
            .into_iter()
            .collect()
    };
    let streams: Vec<Uuid> = requests
        .iter()
        .flat_map(|r| std::iter::once(r.stream_id).chain(r.claims.iter().map(|c| c.stream_id)))
        .collect();
    let versions = events::table
        .filter(events::stream_id.eq_any(&streams))
        .group_by(events::stream_id)
        .select((events::stream_id, diesel::dsl::max(events::stream_version)))
        .load::<(Uuid, Option<i64>)>(conn)?
        .into_iter()
        .filter_map(|(stream, version)| version.map(|v| (stream, v)))
        .collect();
    Ok(Known {
        event_ids,
        processed,
        versions,
    })
}

impl Known {
    /// Records what an accepted request adds, for the requests after it.
    fn remember(&mut self, request: &AppendRequest, first_version: i64) {
        self.event_ids
            .extend(request.events.iter().map(|e| e.event_id.0));
        if let Some(marker) = &request.processed {
            self.processed
                .insert((marker.consumer.clone(), marker.event_id.0));
        }
        self.versions.insert(
            request.stream_id,
            first_version + request.events.len() as i64 - 1,
        );
        for claim in &request.claims {
            self.event_ids.insert(claim.event.event_id.0);
            let version = self.versions.get(&claim.stream_id).copied().unwrap_or(0);
            self.versions.insert(claim.stream_id, version + 1);
        }
    }
}

enum Decision {
    AlreadyRecorded,
    Append { first_version: i64 },
}

/// Checks one request against the log and the requests before it in the group.
fn decide(request: &AppendRequest, known: &Known) -> Result<Decision, AppendError> {
    if request.events.is_empty() {
        return Err(AppendError::Invalid(
            "an append needs at least one event".into(),
        ));
    }
    if let Some(marker) = &request.processed {
        if known
            .processed
            .contains(&(marker.consumer.clone(), marker.event_id.0))
        {
            return Ok(Decision::AlreadyRecorded);
        }
    }
    let recorded = request
        .events
        .iter()
        .filter(|e| known.event_ids.contains(&e.event_id.0))
        .count();
    if recorded == request.events.len() {
        return Ok(Decision::AlreadyRecorded);
    }
    if recorded > 0 {
        return Err(AppendError::Invalid(
            "some of these event ids are recorded and some are not".into(),
        ));
    }
    let actual = check_version(known, request.stream_id, request.expected)?;
    for claim in &request.claims {
        if claim.stream_id == request.stream_id || known.event_ids.contains(&claim.event.event_id.0)
        {
            return Err(AppendError::Invalid(
                "a claim must be a new event on another stream".into(),
            ));
        }
        check_version(known, claim.stream_id, claim.expected)?;
    }
    let mut ids = HashSet::new();
    if !request.events.iter().all(|e| ids.insert(e.event_id.0)) {
        return Err(AppendError::Invalid("an event id appears twice".into()));
    }
    Ok(Decision::Append {
        first_version: actual + 1,
    })
}

/// The version of `stream`, if it is the one `expected`.
fn check_version(
    known: &Known,
    stream: Uuid,
    expected: ExpectedVersion,
) -> Result<i64, AppendError> {
    let current = known.versions.get(&stream).copied();
    let actual = current.unwrap_or(0);
    let ok = match expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => current.is_none(),
        ExpectedVersion::Exactly(v) => v == actual,
    };
    if ok {
        Ok(actual)
    } else {
        Err(AppendError::Conflict {
            stream_id: stream,
            expected,
            actual,
        })
    }
}

/// The rows (with sequence numbers and chained hashes) and their recorded
/// events: the request's, then its claims', each claim at the version after
/// its stream's.
fn build(
    request: &AppendRequest,
    first_version: i64,
    known: &Known,
    last_seq: i64,
    last_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Vec<(EventRow, RecordedEvent)>, AppendError> {
    let planned = request
        .events
        .iter()
        .enumerate()
        .map(|(i, new)| {
            (
                &request.stream_type,
                request.stream_id,
                first_version + i as i64,
                new,
            )
        })
        .chain(request.claims.iter().map(|claim| {
            let version = known.versions.get(&claim.stream_id).copied().unwrap_or(0) + 1;
            (&claim.stream_type, claim.stream_id, version, &claim.event)
        }));
    let mut out = Vec::with_capacity(request.events.len() + request.claims.len());
    let mut prev_hash = last_hash.to_vec();
    for (i, (stream_type, stream_id, stream_version, new)) in planned.enumerate() {
        let (event_type, payload) = new.event.to_columns()?;
        let metadata = serde_json::to_value(&new.metadata)?;
        let bytes = serde_json::to_vec(&payload)?.len() + serde_json::to_vec(&metadata)?.len();
        if bytes > MAX_EVENT_BYTES {
            return Err(AppendError::TooLarge { event_type, bytes });
        }
        let mut row = EventRow {
            global_seq: last_seq + i as i64 + 1,
            event_id: new.event_id.0,
            stream_type: stream_type.clone(),
            stream_id,
            stream_version,
            account_id: new.account_id.map(|a| a.0),
            event_type,
            payload,
            metadata,
            recorded_at: now,
            prev_hash,
            hash: Vec::new(),
        };
        row.hash = event_hash(&row);
        prev_hash = row.hash.clone();
        let event = RecordedEvent {
            global_seq: row.global_seq,
            event_id: new.event_id,
            stream_type: row.stream_type.clone(),
            stream_id: row.stream_id,
            stream_version: row.stream_version,
            account_id: new.account_id,
            event: new.event.clone(),
            metadata: new.metadata.clone(),
            recorded_at: now,
            prev_hash: row.prev_hash.clone(),
            hash: row.hash.clone(),
        };
        out.push((row, event));
    }
    Ok(out)
}

/// `now` at PostgreSQL's precision, so the hash computed here matches the row read back.
fn micros(now: DateTime<Utc>) -> DateTime<Utc> {
    let micros = now.timestamp_micros();
    DateTime::from_timestamp_micros(micros).unwrap_or(now)
}
