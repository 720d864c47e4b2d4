//! Quarantining an event the relay cannot publish: the alert that records
//! it, written with the cursor moving past it.

use super::cursor::{save_cursor, with_conn};
use super::error::RelayError;
use super::Relay;
use diesel::prelude::*;
use sluice_schema::models::EventRow;

impl Relay {
    /// Records that the event of `row` will not be published, and moves the
    /// cursor past it, in one transaction. Idempotent: the alert's id is
    /// derived from the cursor and the position, so a relay that dies
    /// half-way records it once.
    pub(super) async fn quarantine(
        &self,
        db: PgConnection,
        cursor_name: &str,
        row: &EventRow,
        reason: String,
    ) -> Result<PgConnection, RelayError> {
        tracing::error!(
            global_seq = row.global_seq,
            event_type = %row.event_type,
            reason = %reason,
            "relay quarantined an event it cannot publish; later events flow on"
        );
        let alert = quarantine_request(cursor_name, row, reason);
        let name = cursor_name.to_owned();
        let seq = row.global_seq;
        let (db, ()) = with_conn(db, move |c| {
            c.transaction(|c| {
                crate::append(c, &alert).map_err(|e| RelayError::Database(e.to_string()))?;
                save_cursor(c, &name, seq)
            })
        })
        .await?;
        self.metrics.events_quarantined.inc();
        Ok(db)
    }
}

/// The alert that quarantines the event of `row`.
pub fn quarantine_request(
    cursor_name: &str,
    row: &EventRow,
    reason: String,
) -> crate::AppendRequest {
    use crate::event::{DomainEvent, RelayEventQuarantined};
    let stream = quarantine_stream(cursor_name);
    let id = uuid::Uuid::new_v5(&stream, &row.global_seq.to_be_bytes());
    let mut event = crate::NewEvent::new(
        DomainEvent::RelayEventQuarantined(RelayEventQuarantined {
            cursor: cursor_name.to_owned(),
            global_seq: row.global_seq,
            event_id: row.event_id,
            event_type: row.event_type.clone(),
            reason,
        }),
        crate::Metadata::actor("relay"),
    );
    event.event_id = sluice_schema::ids::EventId(id);
    crate::AppendRequest::new("relay", stream, crate::ExpectedVersion::Any, vec![event])
}

/// The stream of a relay cursor's quarantine: its alerts and settlements.
pub(crate) fn quarantine_stream(cursor_name: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(&QUARANTINE_NAMESPACE, cursor_name.as_bytes())
}

/// The namespace of the relay's quarantine stream ids.
const QUARANTINE_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x736c_7569_6365_7172_6e74_0000_0000_0001);
