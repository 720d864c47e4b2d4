//! The `dead_letters` and `relay_quarantine` tables: deliveries that
//! reached the dead-letter queue, and events the relay could not publish.

use crate::envelope::RecordedEvent;
use crate::event::{DeliveryDeadLettered, RelayEventQuarantined, RelayQuarantineReleased};
use diesel::prelude::*;
use sluice_schema::models::{DeadLetterRow, QuarantineRow};
use sluice_schema::schema::{dead_letters, relay_quarantine};

pub(super) fn dead_lettered(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    dead: &DeliveryDeadLettered,
) -> QueryResult<()> {
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
    Ok(())
}

pub(super) fn quarantined(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    q: &RelayEventQuarantined,
) -> QueryResult<()> {
    diesel::insert_into(relay_quarantine::table)
        .values(QuarantineRow {
            global_seq: q.global_seq,
            cursor_name: q.cursor.clone(),
            event_id: q.event_id,
            event_type: q.event_type.clone(),
            reason: q.reason.clone(),
            quarantined_at: event.recorded_at,
            released_at: None,
            outcome: None,
        })
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(())
}

pub(super) fn released(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    released: &RelayQuarantineReleased,
) -> QueryResult<()> {
    diesel::update(relay_quarantine::table.find(released.global_seq))
        .set((
            relay_quarantine::released_at.eq(event.recorded_at),
            relay_quarantine::outcome.eq(released.outcome.as_str()),
        ))
        .execute(conn)?;
    Ok(())
}
