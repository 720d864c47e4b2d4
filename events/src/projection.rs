//! Projections: read-side tables derived from events only (no clock, no
//! randomness), so that `sluice replay` rebuilds them identically.

use crate::envelope::RecordedEvent;
use crate::event::DomainEvent;
use diesel::prelude::*;
use sluice_schema::models::{DeadLetterRow, ProbeRow};
use sluice_schema::schema::{dead_letters, probes};

/// Every table that [`apply`] writes, in the order replay rebuilds them.
pub const TABLES: &[&str] = &["probes", "dead_letters"];

pub fn apply(conn: &mut PgConnection, event: &RecordedEvent) -> QueryResult<()> {
    match &event.event {
        DomainEvent::ProbeRequested(_) => {
            diesel::insert_into(probes::table)
                .values(ProbeRow {
                    probe_id: event.stream_id,
                    status: "queued".into(),
                    requested_at: event.recorded_at,
                    completed_at: None,
                    completed_by: None,
                })
                .on_conflict_do_nothing()
                .execute(conn)?;
        }
        DomainEvent::ProbeCompleted(done) => {
            diesel::update(probes::table.find(event.stream_id))
                .set((
                    probes::status.eq("completed"),
                    probes::completed_at.eq(event.recorded_at),
                    probes::completed_by.eq(&done.worker),
                ))
                .execute(conn)?;
        }
        DomainEvent::DeliveryDeadLettered(dead) => {
            diesel::insert_into(dead_letters::table)
                .values(DeadLetterRow {
                    event_id: dead.event_id,
                    event_type: dead.event_type.clone(),
                    queue: dead.queue.clone(),
                    reason: dead.reason.clone(),
                    delivery_count: dead.delivery_count,
                    dead_lettered_at: event.recorded_at,
                })
                .on_conflict(dead_letters::event_id)
                .do_update()
                .set((
                    dead_letters::reason.eq(&dead.reason),
                    dead_letters::delivery_count.eq(dead.delivery_count),
                    dead_letters::dead_lettered_at.eq(event.recorded_at),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}
