//! The `runs` table: runs of jobs (imports and rollbacks), their status,
//! counts, result files' expiry, and which rollback undid which run.

use crate::envelope::RecordedEvent;
use crate::event::{RunFinished, RunFinishedV2, RunProgressed, RunRequested};
use crate::rules;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Timestamptz, Uuid as SqlUuid};
use sluice_schema::kinds::RunStatus;
use sluice_schema::schema::runs;

pub(super) fn requested(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    requested: &RunRequested,
) -> QueryResult<()> {
    let Some(account) = event.account_id else {
        return Ok(());
    };
    diesel::insert_into(runs::table)
        .values((
            runs::run_id.eq(event.stream_id),
            runs::account_id.eq(account.0),
            runs::job_id.eq(requested.job_id),
            runs::kind.eq(requested.kind),
            runs::status.eq(RunStatus::Queued),
            runs::requested_at.eq(event.recorded_at),
            runs::rollback_of.eq(requested.rollback_of),
            runs::sample_rows.eq(requested
                .sample
                .map(|s| i32::try_from(s.rows).unwrap_or(i32::MAX))),
            runs::sample_order.eq(requested.sample.map(|s| s.order)),
            runs::remaining_of.eq(requested.remaining_of),
            runs::retry_of.eq(requested.retry_of),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    if let Some(undone) = requested.rollback_of {
        diesel::update(runs::table.find(undone))
            .set(runs::rolled_back_by.eq(event.stream_id))
            .execute(conn)?;
    }
    Ok(())
}

pub(super) fn started(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    worker: &str,
) -> QueryResult<()> {
    let rollback = runs::table
        .find(event.stream_id)
        .select(runs::rollback_of.is_not_null())
        .first::<bool>(conn)
        .optional()?
        .unwrap_or(false);
    diesel::update(runs::table.find(event.stream_id))
        .set((
            runs::status.eq(rules::working_status(rollback)),
            runs::worker.eq(worker),
        ))
        .execute(conn)?;
    // A run resumed after a crash starts again: it started at its first
    // start.
    diesel::update(
        runs::table
            .find(event.stream_id)
            .filter(runs::started_at.is_null()),
    )
    .set(runs::started_at.eq(event.recorded_at))
    .execute(conn)?;
    Ok(())
}

pub(super) fn progressed(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    progress: &RunProgressed,
) -> QueryResult<()> {
    diesel::update(runs::table.find(event.stream_id))
        .set((
            runs::rows_read.eq(progress.rows_read),
            runs::rows_ok.eq(progress.rows_ok),
            runs::rows_failed.eq(progress.rows_failed),
            runs::rows_skipped.eq(progress.rows_skipped),
        ))
        .execute(conn)?;
    api_calls(conn, event, progress.api_calls)
}

/// A run's end, from `run.finished` (message in clear) or
/// `run.finished.v2` (message sealed).
pub(super) struct RunEnding<'a> {
    status: RunStatus,
    rows_total: i64,
    rows_ok: i64,
    rows_failed: i64,
    rows_skipped: i64,
    message: Option<&'a str>,
    sealed_message: Option<&'a str>,
    results_expire_at: Option<DateTime<Utc>>,
    api_calls: Option<i64>,
}

impl<'a> From<&'a RunFinished> for RunEnding<'a> {
    fn from(f: &'a RunFinished) -> Self {
        Self {
            status: f.status,
            rows_total: f.rows_total,
            rows_ok: f.rows_ok,
            rows_failed: f.rows_failed,
            rows_skipped: f.rows_skipped,
            message: f.message.as_deref(),
            sealed_message: None,
            results_expire_at: f.results_expire_at,
            api_calls: f.api_calls,
        }
    }
}

impl<'a> From<&'a RunFinishedV2> for RunEnding<'a> {
    fn from(f: &'a RunFinishedV2) -> Self {
        Self {
            status: f.status,
            rows_total: f.rows_total,
            rows_ok: f.rows_ok,
            rows_failed: f.rows_failed,
            rows_skipped: f.rows_skipped,
            message: None,
            sealed_message: f.message.as_deref(),
            results_expire_at: f.results_expire_at,
            api_calls: f.api_calls,
        }
    }
}

pub(super) fn finished(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    ending: &RunEnding<'_>,
) -> QueryResult<()> {
    diesel::update(runs::table.find(event.stream_id))
        .set((
            runs::status.eq(ending.status),
            runs::rows_total.eq(ending.rows_total),
            runs::rows_read.eq(ending.rows_total),
            runs::rows_ok.eq(ending.rows_ok),
            runs::rows_failed.eq(ending.rows_failed),
            runs::rows_skipped.eq(ending.rows_skipped),
            runs::message.eq(ending.message),
            runs::sealed_message.eq(ending.sealed_message),
            runs::finished_at.eq(event.recorded_at),
            runs::results_expire_at.eq(ending.results_expire_at),
        ))
        .execute(conn)?;
    api_calls(conn, event, ending.api_calls)
}

fn api_calls(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    calls: Option<i64>,
) -> QueryResult<()> {
    if let Some(calls) = calls {
        diesel::update(runs::table.find(event.stream_id))
            .set(runs::api_calls.eq(calls))
            .execute(conn)?;
    }
    Ok(())
}

pub(super) fn results_removed(conn: &mut PgConnection, event: &RecordedEvent) -> QueryResult<()> {
    diesel::update(runs::table.find(event.stream_id))
        .set(runs::results_removed_at.eq(event.recorded_at))
        .execute(conn)?;
    Ok(())
}

/// A shorter retention of `days` applies to the result files the account
/// keeps already (see [`rules::shortened_expiry`]).
pub(super) fn retention_shortened(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    days: i32,
) -> QueryResult<()> {
    type Kept = (uuid::Uuid, Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let kept: Vec<Kept> = runs::table
        .filter(runs::account_id.eq(event.stream_id))
        .filter(runs::results_removed_at.is_null())
        .filter(runs::results_expire_at.is_not_null())
        .select((runs::run_id, runs::finished_at, runs::results_expire_at))
        .load(conn)?;
    let (ids, times): (Vec<_>, Vec<_>) = kept
        .into_iter()
        .filter_map(|(id, finished, expires)| {
            let expires = expires?;
            let shortened = rules::shortened_expiry(expires, finished, days, event.recorded_at);
            (shortened != expires).then_some((id, shortened))
        })
        .unzip();
    if ids.is_empty() {
        return Ok(());
    }
    diesel::sql_query(
        "UPDATE runs SET results_expire_at = c.at FROM unnest($1, $2) AS c(id, at) \
         WHERE runs.run_id = c.id",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<Timestamptz>, _>(times)
    .execute(conn)?;
    Ok(())
}

pub(super) fn erased(conn: &mut PgConnection, account: uuid::Uuid) -> QueryResult<()> {
    diesel::delete(runs::table.filter(runs::account_id.eq(account))).execute(conn)?;
    Ok(())
}
