//! The checks a group's requests pass before anything is written: what the
//! log already holds of their ids and streams, read once, and each request
//! decided against it and the requests before it.

use super::request::{AppendRequest, ExpectedVersion};
use super::AppendError;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text, Uuid as SqlUuid};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Which of the event ids (an array) are recorded, each looked up by the
/// unique index on its own (a subquery an id, which the planner cannot turn
/// into a scan of the table): filtered with `= ANY`, with the table's
/// statistics taken when it was small, PostgreSQL read the whole log for
/// every group.
const RECORDED: &str = "SELECT m.event_id FROM unnest($1::uuid[]) AS m(event_id) \
     WHERE (SELECT true FROM events e WHERE e.event_id = m.event_id)";

/// Which of the markers (consumer and event, given as two arrays) are
/// recorded, each looked up by the primary key on its own, likewise.
const MARKED: &str = "SELECT m.consumer, m.event_id \
     FROM unnest($1::text[], $2::uuid[]) AS m(consumer, event_id) \
     WHERE (SELECT true FROM processed_events p \
            WHERE p.consumer = m.consumer AND p.event_id = m.event_id)";

/// Each stream's version (null for a stream without events), read from the
/// end of the stream's index, stream by stream, for the same reason.
const VERSIONS: &str = "SELECT s.stream_id, \
       (SELECT e.stream_version FROM events e WHERE e.stream_id = s.stream_id \
        ORDER BY e.stream_version DESC LIMIT 1) AS version \
     FROM unnest($1::uuid[]) AS s(stream_id)";

#[derive(QueryableByName)]
struct Recorded {
    #[diesel(sql_type = SqlUuid)]
    event_id: Uuid,
}

#[derive(QueryableByName)]
struct Marker {
    #[diesel(sql_type = Text)]
    consumer: String,
    #[diesel(sql_type = SqlUuid)]
    event_id: Uuid,
}

#[derive(QueryableByName)]
struct StreamVersion {
    #[diesel(sql_type = SqlUuid)]
    stream_id: Uuid,
    #[diesel(sql_type = Nullable<BigInt>)]
    version: Option<i64>,
}

/// What the log holds of the group's ids and streams, read once.
pub(super) struct Known {
    pub(super) event_ids: HashSet<Uuid>,
    pub(super) processed: HashSet<(String, Uuid)>,
    pub(super) versions: HashMap<Uuid, i64>,
}

pub(super) fn read_known(
    conn: &mut PgConnection,
    requests: &[AppendRequest],
) -> QueryResult<Known> {
    let ids: Vec<Uuid> = requests
        .iter()
        .flat_map(|r| {
            r.events
                .iter()
                .chain(r.claims.iter().map(|c| &c.event))
                .map(|e| e.event_id.0)
        })
        .collect();
    let event_ids = diesel::sql_query(RECORDED)
        .bind::<Array<SqlUuid>, _>(&ids)
        .load::<Recorded>(conn)?
        .into_iter()
        .map(|r| r.event_id)
        .collect();
    let (consumers, marked): (Vec<&str>, Vec<Uuid>) = requests
        .iter()
        .filter_map(|r| r.processed.as_ref())
        .map(|m| (m.consumer.as_str(), m.event_id.0))
        .unzip();
    let processed = if marked.is_empty() {
        HashSet::new()
    } else {
        diesel::sql_query(MARKED)
            .bind::<Array<Text>, _>(&consumers)
            .bind::<Array<SqlUuid>, _>(&marked)
            .load::<Marker>(conn)?
            .into_iter()
            .map(|m| (m.consumer, m.event_id))
            .collect()
    };
    let mut streams: Vec<Uuid> = requests
        .iter()
        .flat_map(|r| std::iter::once(r.stream_id).chain(r.claims.iter().map(|c| c.stream_id)))
        .collect();
    streams.sort_unstable();
    streams.dedup();
    let versions = diesel::sql_query(VERSIONS)
        .bind::<Array<SqlUuid>, _>(&streams)
        .load::<StreamVersion>(conn)?
        .into_iter()
        .filter_map(|s| s.version.map(|v| (s.stream_id, v)))
        .collect();
    Ok(Known {
        event_ids,
        processed,
        versions,
    })
}

impl Known {
    /// Records what an accepted request adds, for the requests after it.
    pub(super) fn remember(&mut self, request: &AppendRequest, first_version: i64) {
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

pub(super) enum Decision {
    AlreadyRecorded,
    Append { first_version: i64 },
}

/// Checks one request against the log and the requests before it in the group.
pub(super) fn decide(request: &AppendRequest, known: &Known) -> Result<Decision, AppendError> {
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
