//! Failed-login counters: after `limit` failures within `window`, a key is
//! blocked for `window` from the last failure.

use crate::schema::login_throttle;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub failures: i32,
    pub window: Duration,
}

/// How long the longest block among `keys` still lasts.
pub fn blocked_for(
    conn: &mut PgConnection,
    keys: &[String],
    now: DateTime<Utc>,
) -> QueryResult<Option<Duration>> {
    let until: Option<DateTime<Utc>> = login_throttle::table
        .filter(login_throttle::key.eq_any(keys))
        .filter(login_throttle::blocked_until.gt(now))
        .select(diesel::dsl::max(login_throttle::blocked_until))
        .first::<Option<DateTime<Utc>>>(conn)?;
    Ok(until.map(|u| u - now))
}

/// Counts a failure for `key`; blocks it once the limit is reached.
pub fn record_failure(
    conn: &mut PgConnection,
    key: &str,
    limit: Limit,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    conn.transaction(|conn| {
        let current: Option<(i32, DateTime<Utc>)> = login_throttle::table
            .find(key)
            .select((login_throttle::failures, login_throttle::window_started_at))
            .for_update()
            .first(conn)
            .optional()?;
        let (failures, started) = match current {
            Some((n, started)) if now - started < limit.window => (n + 1, started),
            _ => (1, now),
        };
        let blocked_until = (failures >= limit.failures).then(|| now + limit.window);
        diesel::insert_into(login_throttle::table)
            .values((
                login_throttle::key.eq(key),
                login_throttle::failures.eq(failures),
                login_throttle::window_started_at.eq(started),
                login_throttle::blocked_until.eq(blocked_until),
            ))
            .on_conflict(login_throttle::key)
            .do_update()
            .set((
                login_throttle::failures.eq(failures),
                login_throttle::window_started_at.eq(started),
                login_throttle::blocked_until.eq(blocked_until),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// Forgets the failures of `key` (after a successful log-in).
pub fn clear(conn: &mut PgConnection, key: &str) -> QueryResult<()> {
    diesel::delete(login_throttle::table.find(key)).execute(conn)?;
    Ok(())
}
