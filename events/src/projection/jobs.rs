//! The `jobs` table: import jobs (ids, operation and schedule in clear;
//! what the customer typed sealed, or in clear columns for a job recorded
//! before sealing), since when their schedule holds, when deleted.

use crate::envelope::RecordedEvent;
use crate::event::{JobCreated, JobDefined};
use crate::rules;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use sluice_schema::schema::jobs;

/// A job's columns but its schedule: a job recorded before sealing keeps
/// its customer text in clear columns; one recorded since keeps ids in
/// clear and the rest in `details`.
pub(super) struct JobColumns<'a> {
    name: Option<&'a str>,
    source: &'a serde_json::Value,
    target: &'a serde_json::Value,
    operation: &'a str,
    key_fields: Option<serde_json::Value>,
    mapping: Option<&'a serde_json::Value>,
    details: Option<&'a str>,
}

pub(super) fn clear(job: &JobCreated) -> JobColumns<'_> {
    JobColumns {
        name: Some(&job.name),
        source: &job.source,
        target: &job.target,
        operation: &job.operation,
        key_fields: Some(serde_json::json!(job.key_fields)),
        mapping: Some(&job.mapping),
        details: None,
    }
}

pub(super) fn sealed(job: &JobDefined) -> JobColumns<'_> {
    JobColumns {
        name: None,
        source: &job.source,
        target: &job.target,
        operation: &job.operation,
        key_fields: None,
        mapping: None,
        details: Some(&job.details),
    }
}

pub(super) fn created(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    job: &JobColumns<'_>,
    schedule: &Option<String>,
) -> QueryResult<()> {
    let Some(account) = event.account_id else {
        return Ok(());
    };
    diesel::insert_into(jobs::table)
        .values((
            jobs::job_id.eq(event.stream_id),
            jobs::account_id.eq(account.0),
            jobs::name.eq(job.name),
            jobs::source.eq(job.source),
            jobs::target.eq(job.target),
            jobs::operation.eq(job.operation),
            jobs::key_fields.eq(&job.key_fields),
            jobs::mapping.eq(job.mapping),
            jobs::details.eq(job.details),
            jobs::schedule.eq(schedule),
            jobs::schedule_since.eq(rules::schedule_since(
                &None,
                None,
                schedule,
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
    schedule: &Option<String>,
) -> QueryResult<()> {
    let before: Option<(Option<String>, Option<DateTime<Utc>>)> = jobs::table
        .find(event.stream_id)
        .select((jobs::schedule, jobs::schedule_since))
        .first(conn)
        .optional()?;
    let Some((before, since)) = before else {
        return Ok(());
    };
    diesel::update(jobs::table.find(event.stream_id))
        .set((
            jobs::name.eq(job.name),
            jobs::source.eq(job.source),
            jobs::target.eq(job.target),
            jobs::operation.eq(job.operation),
            jobs::key_fields.eq(&job.key_fields),
            jobs::mapping.eq(job.mapping),
            jobs::details.eq(job.details),
            jobs::schedule.eq(schedule),
            jobs::schedule_since.eq(rules::schedule_since(
                &before,
                since,
                schedule,
                event.recorded_at,
            )),
        ))
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
