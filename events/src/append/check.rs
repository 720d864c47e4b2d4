//! The checks a group's requests pass before anything is written: what the
//! log already holds of their ids and streams, read once, and each request
//! decided against it and the requests before it.

use super::request::{AppendRequest, ExpectedVersion};
use super::AppendError;
use diesel::prelude::*;
use sluice_schema::schema::{events, processed_events};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

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
