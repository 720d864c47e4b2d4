//! The `key_rotations` table: each rotation of the primary key, its
//! rewrap progress by table, and who finished it.

use crate::envelope::RecordedEvent;
use crate::event::{KeyRewrapProgress, KeyRotationFinished, KeyRotationRequested};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Uuid as SqlUuid};
use sluice_schema::key_version::KeyVersion;
use sluice_schema::schema::key_rotations;

pub(super) fn requested(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    requested: &KeyRotationRequested,
) -> QueryResult<()> {
    diesel::insert_into(key_rotations::table)
        .values((
            key_rotations::rotation_id.eq(event.stream_id),
            key_rotations::primary_key.eq(KeyVersion(requested.primary)),
            key_rotations::requested_at.eq(event.recorded_at),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(())
}

pub(super) fn progressed(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    progress: &KeyRewrapProgress,
) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE key_rotations SET progress = progress || jsonb_build_object($2::text, $3::bigint) WHERE rotation_id = $1",
    )
    .bind::<SqlUuid, _>(event.stream_id)
    .bind::<Text, _>(&progress.table)
    .bind::<BigInt, _>(i64::try_from(progress.done).unwrap_or(i64::MAX))
    .execute(conn)?;
    Ok(())
}

pub(super) fn finished(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    finished: &KeyRotationFinished,
) -> QueryResult<()> {
    let progress = serde_json::to_value(&finished.rewrapped).unwrap_or_default();
    diesel::update(key_rotations::table.find(event.stream_id))
        .set((
            key_rotations::progress.eq(progress),
            key_rotations::finished_at.eq(event.recorded_at),
            key_rotations::finished_by.eq(&finished.worker),
        ))
        .execute(conn)?;
    Ok(())
}
