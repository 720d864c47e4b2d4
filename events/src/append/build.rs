//! The rows an accepted request writes: sequence numbers, stream versions
//! and the hash chain, each row's size checked.

use super::check::Known;
use super::request::AppendRequest;
use super::{AppendError, MAX_EVENT_BYTES};
use crate::envelope::RecordedEvent;
use crate::hash::event_hash;
use chrono::{DateTime, Utc};
use sluice_schema::models::EventRow;

/// The rows (with sequence numbers and chained hashes) and their recorded
/// events: the request's, then its claims', each claim at the version after
/// its stream's.
pub(super) fn build(
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
pub(super) fn micros(now: DateTime<Utc>) -> DateTime<Utc> {
    let micros = now.timestamp_micros();
    DateTime::from_timestamp_micros(micros).unwrap_or(now)
}
