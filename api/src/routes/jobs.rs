//! `/v1/jobs` and `/v1/runs`: import jobs, their runs, the run history and
//! rollbacks.
//!
//! A job is checked before it is recorded, and again when it is changed:
//! its upload is live (or its query prepares as a read) and has the mapped
//! columns, its formulas and filter parse against the source's header, its
//! de-duplication names fields the mapping sets, its transforms and lookups
//! are valid, its key fields are unique in the table, and its target table
//! exists with a column for every
//! mapped field and a value for every column that needs one (the source
//! and target are reached). A Salesforce org as the target is checked
//! likewise against its object's description (see `salesforce_target`).
//! Owners and admins define, change and delete jobs and force rollbacks;
//! everyone in the account may run them and roll runs back.

use crate::auth::{AccountAdmin, AuthUser, ManageJobs};
use crate::error::ApiError;
use crate::openapi::{Authenticated, ErrorBody, JsonBody};
use crate::people::{invalid, subject_key, text};
use crate::routes::{connections, salesforce_target, uploads};
use crate::streams;
use crate::views::imports as views;
use crate::AppState;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use sluice_connectors::mapping::Plan;
use sluice_connectors::postgres::{self as pg, TargetError};
use sluice_events::aggregate::job::{Job as JobStream, JobCommand};
use sluice_events::event::{JobDefined, RunRequested};
use sluice_events::schedule::Schedule;
use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, NewEvent};
use sluice_schema::ids::{JobId, RunId};
use sluice_schema::job::{
    blank_values, BlankValues, Dedupe, FieldMapping, JobDetails, Operation, Source, Target,
    UNKNOWN_OPERATION,
};
use sluice_schema::models::{JobRow, RunRow};
use sluice_schema::repo::jobs as repo;
use sluice_vault::SubjectKey;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub(crate) mod choice;
pub(crate) mod definition;
pub mod failures;
pub mod previews;
pub mod runs;
mod sealing;
pub mod trials;

use choice::MappingChoice;
use definition::{define, source_error, target_error};
use previews::read_rows;
use sealing::{merged, sealed_definition};
pub(crate) use sealing::{open_job, open_run, open_runs, Job};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewJob {
    /// 1 to 200 printable characters.
    name: String,
    source: Source,
    target: Target,
    #[serde(deserialize_with = "operation")]
    operation: Operation,
    /// The fields that name a row: for an update, upsert or delete into
    /// PostgreSQL, unique in the table; into Salesforce, an upsert's one
    /// external id field (updates and deletes go by `Id`).
    #[serde(default)]
    key_fields: Vec<String>,
    /// The fields, or `"auto"`; absent with a `mapping_template`.
    #[serde(default)]
    #[schema(value_type = Option<choice::NewJobMapping>, nullable = false)]
    mapping: Option<MappingChoice>,
    /// A saved mapping template of the account's, applied to the source:
    /// refused (422) when the source lacks a column the template maps.
    #[serde(default)]
    #[schema(nullable = false)]
    mapping_template: Option<Uuid>,
    /// A formula over the source's columns that holds for the rows to
    /// write (`[Country] = "DE" AND NOT ISBLANK([Email])`); the others are
    /// skipped, counted in `rows_skipped` and listed in the run's
    /// skipped.csv. At most 4,096 characters, checked against the source's
    /// header; its value is read as a condition (blank and 0 are false).
    #[serde(default)]
    filter: Option<String>,
    /// Skips rows that repeat another on some mapped fields (listed in the
    /// run's skipped.csv with the row kept); none by default.
    #[serde(default)]
    #[schema(nullable = false)]
    dedupe: Option<Dedupe>,
    /// What a blank mapped value does to a field an update or upsert
    /// changes: `clear` (default, as runs always did: NULL in PostgreSQL,
    /// null in Salesforce) or `leave` (the field keeps its value). Key
    /// fields are never cleared.
    #[serde(default, deserialize_with = "blank_values")]
    blank_values: BlankValues,
    /// When the job runs by itself: a cron expression of five fields,
    /// minute hour day-of-month month day-of-week, in UTC, with the days
    /// of the week named (`0 6 * * MON-FRI`); at most 200 characters.
    /// Only a job that reads a query can have one.
    #[serde(default)]
    schedule: Option<String>,
    /// A scheduled job only: each run the schedule starts first retries
    /// the rows the job's previous run failed (from its errors.csv, while
    /// its result files are kept), then reads the source as usual.
    #[serde(default)]
    retry_failed: bool,
    /// A scheduled job only: its schedule is kept but fires no run until
    /// it is resumed (`false`), which goes on from the next slot (the slots
    /// missed while paused do not run).
    #[serde(default)]
    schedule_paused: bool,
}

/// An operation by its name.
fn operation<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Operation, D::Error> {
    let name = String::deserialize(d)?;
    name.parse()
        .map_err(|_| serde::de::Error::custom(UNKNOWN_OPERATION))
}

/// A `blank_values` by its name, or none.
fn some_blank_values<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<BlankValues>, D::Error> {
    #[derive(Deserialize)]
    struct Named(#[serde(deserialize_with = "blank_values")] BlankValues);
    Ok(Option::<Named>::deserialize(d)?.map(|Named(blanks)| blanks))
}

/// An operation by its name, or none.
fn some_operation<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Operation>, D::Error> {
    #[derive(Deserialize)]
    struct Named(#[serde(deserialize_with = "operation")] Operation);
    Ok(Option::<Named>::deserialize(d)?.map(|Named(operation)| operation))
}

/// A job as the API shows it at `now`: `job` opened (see [`open_job`]).
pub(crate) fn job_view(job: &Job, now: chrono::DateTime<chrono::Utc>) -> views::Job {
    let (row, details) = (&job.row, &job.details);
    let next_run_at = match &row.schedule {
        Some(expression) if !row.schedule_paused => Schedule::parse(expression)
            .ok()
            .and_then(|schedule| schedule.next(now)),
        _ => None,
    };
    views::Job {
        id: row.job_id,
        name: details.name.clone(),
        source: details.source.clone(),
        target: details.target.clone(),
        operation: row.operation,
        key_fields: details.key_fields.clone(),
        mapping: details.mapping.clone(),
        filter: details.filter.clone(),
        dedupe: details.dedupe.clone(),
        blank_values: details.blank_values,
        schedule: row.schedule.clone(),
        retry_failed: row.retry_failed,
        schedule_paused: row.schedule_paused,
        next_run_at,
        created_at: row.created_at,
        auto_match: None,
    }
}

/// A run as the API shows it: `row` opened (see [`open_run`]).
pub(crate) fn run_view(row: &RunRow) -> views::Run {
    views::Run {
        id: row.run_id,
        job_id: row.job_id,
        kind: row.kind.to_string(),
        status: row.status.to_string(),
        rows_total: row.rows_total,
        rows_read: row.rows_read,
        rows_ok: row.rows_ok,
        rows_failed: row.rows_failed,
        rows_skipped: row.rows_skipped,
        message: row.message.clone(),
        requested_at: row.requested_at,
        started_at: row.started_at,
        finished_at: row.finished_at,
        results_expire_at: row.results_expire_at,
        rollback_of: row.rollback_of,
        rolled_back_by: row.rolled_back_by,
        api_calls: row.api_calls,
        sample: row
            .sample_rows
            .zip(row.sample_order)
            .map(|(rows, order)| views::RunSample {
                rows,
                order: order.to_string(),
            }),
        remaining_of: row.remaining_of,
        retry_of: row.retry_of,
    }
}

const SOURCE: &str = "source.connection_id";
const TARGET: &str = "target.connection_id";

/// Owners and admins: defines a job, checked against its source and
/// target (both are reached) before it is recorded.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(
        Authenticated,
        JsonBody,
        (status = 201, description = "The job.", body = views::Job),
        (status = 402, description = "`plan_limit`: the plan allows no more scheduled jobs.", body = ErrorBody),
        (status = 403, description = "`forbidden`: a member.", body = ErrorBody),
        (status = 422, description = "`invalid`, naming the field: an upload that is not there \
            or lacks a mapped column, a query that does not prepare as a read, a connection that \
            is not there or cannot be reached, a table or object without a mapped field, key \
            fields that do not name a row, a bad transform or schedule, a formula \
            (`mapping[i].formula`) or filter (`filter`) that does not parse or names a column \
            the source lacks, with its position; a de-duplication on a field the mapping \
            does not set (`dedupe.fields[i]`), on none or more than 8 (`dedupe.fields`), an \
            unknown `dedupe.keep` or `blank_values`; or a field is missing, unknown or of the \
            wrong type.", body = ErrorBody),
        (status = 502, description = "`upstream_failed`: Salesforce refused or failed to \
            describe the object.", body = ErrorBody),
    )
)]
#[post("/v1/jobs")]
pub async fn create(
    AccountAdmin { user, .. }: AccountAdmin<ManageJobs>,
    state: web::Data<AppState>,
    body: web::Json<NewJob>,
) -> Result<HttpResponse, ApiError> {
    let mut definition = define(&state, &user, body.into_inner(), None).await?;
    let auto_match = definition.auto_match.take();
    let id = JobId::new();
    let subject = subject_key(&state, user.account_id).await?;
    let created = DomainEvent::JobCreatedV2(sealed_definition(&subject, &user, id, definition)?);
    record(&state, &user, id, ExpectedVersion::NoStream, created).await?;
    let row = find(&state, &user, id.0).await?;
    Ok(HttpResponse::Created().json(views::Job {
        auto_match: auto_match.map(Into::into),
        ..job_view(&row, state.platform.clock.now())
    }))
}

/// Records an event of the job's, by `user`.
async fn record(
    state: &AppState,
    user: &AuthUser,
    job: JobId,
    expected: ExpectedVersion,
    event: DomainEvent,
) -> Result<(), ApiError> {
    let event = NewEvent::new(event, state.metadata(format!("user:{}", user.user_id)))
        .for_account(user.account_id);
    state
        .platform
        .appender
        .append(AppendRequest::new("job", job.0, expected, vec![event]))
        .await?;
    Ok(())
}

/// A change to a job: the fields given replace the job's.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobPatch {
    #[schema(nullable = false)]
    name: Option<String>,
    #[schema(nullable = false)]
    source: Option<Source>,
    /// Not once the job has runs.
    #[schema(nullable = false)]
    target: Option<Target>,
    #[serde(default, deserialize_with = "some_operation")]
    #[schema(nullable = false)]
    operation: Option<Operation>,
    #[schema(nullable = false)]
    key_fields: Option<Vec<String>>,
    /// The new fields, or `"auto"` (matched again from the source's header,
    /// the answer's `auto_match` saying how).
    #[serde(default)]
    #[schema(value_type = Option<choice::NewJobMapping>, nullable = false)]
    mapping: Option<MappingChoice>,
    /// A saved mapping template of the account's, applied to the source in
    /// place of the job's mapping (not with `mapping`).
    #[serde(default)]
    #[schema(nullable = false)]
    mapping_template: Option<Uuid>,
    /// The new filter, as when the job is created; absent: kept; `null`:
    /// removed.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    filter: Option<Option<String>>,
    /// The new de-duplication; absent: kept; `null`: removed.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Dedupe>)]
    dedupe: Option<Option<Dedupe>>,
    #[serde(default, deserialize_with = "some_blank_values")]
    #[schema(nullable = false)]
    blank_values: Option<BlankValues>,
    /// The new schedule, five fields as when the job is created; absent:
    /// kept; `null`: removed (which also clears `schedule_paused` and
    /// `retry_failed` unless they are given).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    schedule: Option<Option<String>>,
    #[schema(nullable = false)]
    retry_failed: Option<bool>,
    /// `true` pauses the job's schedule (422 for a job without one),
    /// `false` resumes it from its next slot.
    #[schema(nullable = false)]
    schedule_paused: Option<bool>,
}

/// A field that is there, `null` or not (absent is `None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /v1/jobs/{id}`: the job as changed, checked as a new one is.
/// Refused while a run of the job is queued or working, and for the target
/// once the job has runs (their history and rollbacks refer to it).
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The job.")),
    responses(
        Authenticated,
        JsonBody,
        (status = 200, description = "The job, changed.", body = views::Job),
        (status = 402, description = "`plan_limit`: the plan allows no more scheduled jobs.", body = ErrorBody),
        (status = 403, description = "`forbidden`: a member.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such job in the account.", body = ErrorBody),
        (status = 409, description = "`conflict`: a run of the job is queued or working.", body = ErrorBody),
        (status = 422, description = "`invalid`, naming the field: as for a new job, or a new \
            target for a job with runs; or a field is missing, unknown or of the wrong type.", body = ErrorBody),
        (status = 502, description = "`upstream_failed`: Salesforce refused or failed to \
            describe the object.", body = ErrorBody),
    )
)]
#[patch("/v1/jobs/{id}")]
pub async fn update(
    AccountAdmin { user, .. }: AccountAdmin<ManageJobs>,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    body: web::Json<JobPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let patch = body.into_inner();
    let (state, user, patch): (&AppState, &AuthUser, &JobPatch) = (&state, &user, &patch);
    // What auto-match found, as the last decision (the one recorded) saw it.
    let auto_match = std::cell::RefCell::new(None);
    let found = &auto_match;
    // Decided on the job's stream, merged into the job as the version read
    // left it: of two changes at once, the second is merged on top of the
    // first (and checked again), so neither is lost.
    streams::decide(state, || async move {
        let loaded = streams::load::<JobStream>(state, id).await?;
        loaded.state.live(user.account_id)?;
        let job_row = find(state, user, id).await?;
        let account = user.account_id;
        let job = JobId(id);
        let runs = state
            .db(move |conn| Ok(repo::runs_of(conn, account, job)?))
            .await?;
        if runs.iter().any(|r| r.finished_at.is_none()) {
            return Err(ApiError::Conflict(
                "a run of this job is queued or working; change the job once it has finished"
                    .into(),
            ));
        }
        let merged = merged(patch.clone(), job_row, !runs.is_empty())?;
        let mut definition = define(state, user, merged, Some(job)).await?;
        found.replace(definition.auto_match.take());
        let subject = subject_key(state, account).await?;
        let defined = sealed_definition(&subject, user, job, definition)?;
        let events = loaded.state.decide(account, JobCommand::Change(defined))?;
        Ok(streams::request_on(state, user, &loaded, events))
    })
    .await?;
    let row = find(state, user, id).await?;
    Ok(HttpResponse::Ok().json(views::Job {
        auto_match: auto_match.into_inner().map(Into::into),
        ..job_view(&row, state.platform.clock.now())
    }))
}

/// A job of the caller's account, what the customer typed of it opened.
pub(crate) async fn find(state: &AppState, user: &AuthUser, id: Uuid) -> Result<Job, ApiError> {
    let account = user.account_id;
    let row = state
        .db(move |conn| Ok(repo::find(conn, account, JobId(id))?))
        .await?
        .ok_or(ApiError::NotFound)?;
    let subject = subject_key(state, account).await?;
    open_job(&subject, row)
}

/// The account's jobs.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(Authenticated, (status = 200, description = "The jobs.", body = views::Jobs))
)]
#[get("/v1/jobs")]
pub async fn list(user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let account = user.account_id;
    let rows = state.db(move |conn| Ok(repo::list(conn, account)?)).await?;
    let subject = subject_key(&state, user.account_id).await?;
    let now = state.platform.clock.now();
    let items = rows
        .into_iter()
        .map(|row| open_job(&subject, row).map(|job| job_view(&job, now)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(HttpResponse::Ok().json(views::Jobs { jobs: items }))
}

/// A job.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The job.")),
    responses(
        Authenticated,
        (status = 200, description = "The job.", body = views::Job),
        (status = 404, description = "`not_found`: no such job in the account.", body = ErrorBody),
    )
)]
#[get("/v1/jobs/{id}")]
pub async fn show(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = find(&state, &user, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(job_view(&row, state.platform.clock.now())))
}

/// Owners and admins: deletes a job; its runs' history stays.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The job.")),
    responses(
        Authenticated,
        (status = 204, description = "The job is deleted."),
        (status = 403, description = "`forbidden`: a member.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such job in the account.", body = ErrorBody),
    )
)]
#[delete("/v1/jobs/{id}")]
pub async fn delete(
    AccountAdmin { user, .. }: AccountAdmin<ManageJobs>,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let (state, user): (&AppState, &AuthUser) = (&state, &user);
    // Decided on the job's stream: of two deletions at once, the second
    // finds the job gone (404).
    streams::decide(state, || async move {
        let loaded = streams::load::<JobStream>(state, id).await?;
        let events = loaded.state.decide(user.account_id, JobCommand::Delete)?;
        Ok(streams::request_on(state, user, &loaded, events))
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
