//! The `probes` table: end-to-end pipeline probes, queued then completed.
//! Many probes in a row are written with one statement.

use crate::envelope::RecordedEvent;
use crate::event::{DomainEvent, ProbeCompleted};
use diesel::prelude::*;
use diesel::sql_types::{Array, Text, Timestamptz, Uuid as SqlUuid};
use sluice_schema::models::ProbeRow;
use sluice_schema::schema::probes;

fn queued(event: &RecordedEvent) -> ProbeRow {
    ProbeRow {
        probe_id: event.stream_id,
        status: "queued".into(),
        requested_at: event.recorded_at,
        completed_at: None,
        completed_by: None,
    }
}

pub(super) fn requested(conn: &mut PgConnection, event: &RecordedEvent) -> QueryResult<()> {
    diesel::insert_into(probes::table)
        .values(queued(event))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(())
}

pub(super) fn completed(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    done: &ProbeCompleted,
) -> QueryResult<()> {
    diesel::update(probes::table.find(event.stream_id))
        .set((
            probes::status.eq("completed"),
            probes::completed_at.eq(event.recorded_at),
            probes::completed_by.eq(&done.worker),
        ))
        .execute(conn)?;
    Ok(())
}

/// `probe.requested` events, in one statement per 5,000.
pub(super) fn insert_many(conn: &mut PgConnection, batch: &[&RecordedEvent]) -> QueryResult<()> {
    let rows: Vec<ProbeRow> = batch.iter().map(|event| queued(event)).collect();
    for chunk in rows.chunks(5000) {
        diesel::insert_into(probes::table)
            .values(chunk)
            .on_conflict_do_nothing()
            .execute(conn)?;
    }
    Ok(())
}

/// `probe.completed` events, in one statement.
pub(super) fn complete_many(conn: &mut PgConnection, batch: &[&RecordedEvent]) -> QueryResult<()> {
    let mut ids = Vec::with_capacity(batch.len());
    let mut times = Vec::with_capacity(batch.len());
    let mut workers = Vec::with_capacity(batch.len());
    for event in batch {
        if let DomainEvent::ProbeCompleted(done) = &event.event {
            ids.push(event.stream_id);
            times.push(event.recorded_at);
            workers.push(done.worker.clone());
        }
    }
    // A probe completed twice in one batch keeps the later completion, as
    // applying the events one by one would.
    diesel::sql_query(
        "UPDATE probes SET status = 'completed', completed_at = c.at, completed_by = c.worker \
         FROM (SELECT DISTINCT ON (id) id, at, worker \
               FROM unnest($1, $2, $3) WITH ORDINALITY AS u(id, at, worker, n) \
               ORDER BY id, n DESC) AS c \
         WHERE probes.probe_id = c.id",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<Timestamptz>, _>(times)
    .bind::<Array<Text>, _>(workers)
    .execute(conn)?;
    Ok(())
}
