//! The relay's own database connection: the advisory lock that makes one
//! relay active, its cursor, and the events after it.

use super::error::RelayError;
use super::Topology;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};
use sluice_schema::models::EventRow;
use sluice_schema::schema::{event_log_head, events, relay_cursors};

/// Advisory lock key held by the active relay.
const RELAY_LOCK: i64 = 0x736c_7569_6365_0001;

pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RelayError> + Send + 'static,
) -> Result<T, RelayError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RelayError::Database(e.to_string()))?
}

/// Runs `f` on the blocking pool with the relay's own connection and gives it
/// back; on an error the connection is dropped, which also releases the lock.
pub(super) async fn with_conn<T: Send + 'static>(
    mut conn: PgConnection,
    f: impl FnOnce(&mut PgConnection) -> Result<T, RelayError> + Send + 'static,
) -> Result<(PgConnection, T), RelayError> {
    blocking(move || {
        let value = f(&mut conn)?;
        Ok((conn, value))
    })
    .await
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

pub(super) fn try_lock(conn: &mut PgConnection) -> Result<bool, RelayError> {
    let row: Locked = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
        .bind::<BigInt, _>(RELAY_LOCK)
        .get_result(conn)?;
    Ok(row.locked)
}

pub(super) fn read_cursor(conn: &mut PgConnection, name: &str) -> Result<i64, RelayError> {
    diesel::insert_into(relay_cursors::table)
        .values((
            relay_cursors::name.eq(name),
            relay_cursors::last_seq.eq(0_i64),
            relay_cursors::updated_at.eq(diesel::dsl::now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(relay_cursors::table
        .find(name)
        .select(relay_cursors::last_seq)
        .first(conn)?)
}

pub(super) fn fetch_after(
    conn: &mut PgConnection,
    cursor: i64,
    limit: i64,
) -> Result<(Vec<EventRow>, i64), RelayError> {
    let head: i64 = event_log_head::table
        .select(event_log_head::last_seq)
        .first(conn)?;
    if head <= cursor {
        return Ok((Vec::new(), head));
    }
    let rows = events::table
        .filter(events::global_seq.gt(cursor))
        .order(events::global_seq.asc())
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)?;
    Ok((rows, head))
}

pub(super) fn save_cursor(conn: &mut PgConnection, name: &str, seq: i64) -> Result<(), RelayError> {
    diesel::update(relay_cursors::table.find(name))
        .set((
            relay_cursors::last_seq.eq(seq),
            relay_cursors::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The name of the relay's cursor for `topology`.
pub fn cursor_name(topology: &Topology) -> String {
    format!("amqp:{}", topology.namespace)
}

/// When the oldest event that the relay of `cursor_name` has not yet
/// published (or quarantined) was recorded; none when it is caught up.
pub fn oldest_unpublished(
    conn: &mut PgConnection,
    cursor_name: &str,
) -> QueryResult<Option<chrono::DateTime<chrono::Utc>>> {
    let cursor: i64 = relay_cursors::table
        .find(cursor_name)
        .select(relay_cursors::last_seq)
        .first(conn)
        .optional()?
        .unwrap_or(0);
    events::table
        .filter(events::global_seq.gt(cursor))
        .order(events::global_seq.asc())
        .select(events::recorded_at)
        .first(conn)
        .optional()
}
