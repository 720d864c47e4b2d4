//! The `jobs` table: import jobs (ids, operation and schedule in clear;
//! what the customer typed sealed, or in clear columns for a job recorded
//! before sealing), since when their schedule holds (set afresh when it is
//! changed or resumed), whether it is paused, when deleted.

use crate::envelope::RecordedEvent;
use crate::event::{JobCreated, JobDefined};
use crate::rules;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use sluice_schema::job::Operation;
use sluice_schema::schema::jobs;

/// A job's definition columns: a job recorded before sealing keeps its
/// customer text in clear columns; one recorded since keeps ids in clear
/// and the rest in `details`. A change writes every one (none is null).
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = jobs, treat_none_as_null = true)]
pub(super) struct JobColumns<'a> {
    name: Option<&'a str>,
    source: serde_json::Value,
    target: serde_json::Value,
    operation: Operation,
    key_fields: Option<serde_json::Value>,
    mapping: Option<serde_json::Value>,
    details: Option<&'a str>,
    schedule: Option<&'a str>,
    retry_failed: bool,
    schedule_paused: bool,
}

/// `value` as the JSON its event holds it in.
fn json(value: &impl Serialize) -> QueryResult<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))
}

pub(super) fn clear(job: &JobCreated) -> QueryResult<JobColumns<'_>> {
    Ok(JobColumns {
        name: Some(&job.name),
        source: json(&job.source)?,
        target: json(&job.target)?,
        operation: job.operation,
        key_fields: Some(json(&job.key_fields)?),
        mapping: Some(json(&job.mapping)?),
        details: None,
        schedule: job.schedule.as_deref(),
        retry_failed: false,
        schedule_paused: false,
    })
}

pub(super) fn sealed(job: &JobDefined) -> QueryResult<JobColumns<'_>> {
    Ok(JobColumns {
        name: None,
        source: json(&job.source)?,
        target: json(&job.target)?,
        operation: job.operation,
        key_fields: None,
        mapping: None,
        details: Some(&job.details),
        schedule: job.schedule.as_deref(),
        retry_failed: job.retry_failed,
        schedule_paused: job.schedule_paused,
    })
}

pub(super) fn created(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    job: &JobColumns<'_>,
) -> QueryResult<()> {
    let Some(account) = event.account_id else {
        return Ok(());
    };
    let schedule = job.schedule.map(str::to_owned);
    diesel::insert_into(jobs::table)
        .values((
            job,
            jobs::job_id.eq(event.stream_id),
            jobs::account_id.eq(account.0),
            jobs::schedule_since.eq(rules::schedule_since(
                &None,
                None,
                &schedule,
                event.recorded_at,
            )),
            jobs::created_at.eq(event.recorded_at),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(())
}

pub(super) fn updated(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    job: &JobColumns<'_>,
) -> QueryResult<()> {
    type Before = (Option<String>, Option<DateTime<Utc>>, bool);
    let before: Option<Before> = jobs::table
        .find(event.stream_id)
        .select((jobs::schedule, jobs::schedule_since, jobs::schedule_paused))
        .first(conn)
        .optional()?;
    let Some((before, since, was_paused)) = before else {
        return Ok(());
    };
    let schedule = job.schedule.map(str::to_owned);
    let since = rules::schedule_since(&before, since, &schedule, event.recorded_at);
    let since = rules::resumed_since(since, was_paused, job.schedule_paused, event.recorded_at);
    diesel::update(jobs::table.find(event.stream_id))
        .set((job, jobs::schedule_since.eq(since)))
        .execute(conn)?;
    Ok(())
}

pub(super) fn deleted(conn: &mut PgConnection, event: &RecordedEvent) -> QueryResult<()> {
    diesel::update(jobs::table.find(event.stream_id))
        .set(jobs::deleted_at.eq(event.recorded_at))
        .execute(conn)?;
    Ok(())
}

pub(super) fn erased(conn: &mut PgConnection, account: uuid::Uuid) -> QueryResult<()> {
    diesel::delete(jobs::table.filter(jobs::account_id.eq(account))).execute(conn)?;
    Ok(())
}
