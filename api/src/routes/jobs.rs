//! `/v1/jobs` and `/v1/runs`: import jobs, their runs, the run history and
//! rollbacks.
//!
//! A job is checked before it is recorded, and again when it is changed:
//! its upload is live (or its query prepares as a read) and has the mapped
//! columns, its transforms and lookups are valid, its key fields are unique
//! in the table, and its target table exists with a column for every
//! mapped field and a value for every column that needs one (the source
//! and target are reached). A Salesforce org as the target is checked
//! likewise against its object's description (see `salesforce_target`).
//! Owners and admins define, change and delete jobs and force rollbacks;
//! everyone in the account may run them and roll runs back.

use crate::auth::{AuthUser, Role};
use crate::error::ApiError;
use crate::people::{invalid, text};
use crate::routes::{connections, salesforce_target, uploads};
use crate::AppState;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use sluice_connectors::mapping::{FieldMapping, Plan};
use sluice_connectors::postgres::{self as pg, TargetError};
use sluice_events::event::{JobCreated, JobDeleted, RunRequested};
use sluice_events::schedule::Schedule;
use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, NewEvent};
use sluice_schema::ids::{JobId, RunId};
use sluice_schema::models::{JobRow, RunRow};
use sluice_schema::repo::jobs as repo;
use uuid::Uuid;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewJob {
    name: String,
    source: Source,
    target: Target,
    operation: String,
    #[serde(default)]
    key_fields: Vec<String>,
    mapping: Vec<FieldMapping>,
    #[serde(default)]
    schedule: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    upload_id: Option<Uuid>,
    /// A workbook's sheet (the first by default).
    sheet: Option<String>,
    connection_id: Option<Uuid>,
    query: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    connection_id: Uuid,
    object: String,
}

fn manager(user: &AuthUser) -> Result<(), ApiError> {
    if user.role >= Role::Admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only owners and admins define and delete jobs".into(),
        ))
    }
}

pub(crate) fn job_json(row: &JobRow) -> Value {
    json!({
        "id": row.job_id,
        "name": row.name,
        "source": row.source,
        "target": row.target,
        "operation": row.operation,
        "key_fields": row.key_fields,
        "mapping": row.mapping,
        "schedule": row.schedule,
        "created_at": row.created_at,
    })
}

pub(crate) fn run_json(row: &RunRow) -> Value {
    json!({
        "id": row.run_id,
        "job_id": row.job_id,
        "kind": row.kind,
        "status": row.status,
        "rows_total": row.rows_total,
        "rows_read": row.rows_read,
        "rows_ok": row.rows_ok,
        "rows_failed": row.rows_failed,
        "message": row.message,
        "requested_at": row.requested_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "results_expire_at": row.results_expire_at,
        "rollback_of": row.rollback_of,
        "rolled_back_by": row.rolled_back_by,
        "api_calls": row.api_calls,
    })
}

const SOURCE: &str = "source.connection_id";
const TARGET: &str = "target.connection_id";

/// An upload as a job's source: the source as the job keeps it, and the
/// columns of the file (or of its chosen sheet).
async fn upload_source(
    state: &AppState,
    user: &AuthUser,
    upload_id: Uuid,
    sheet: &Option<String>,
) -> Result<(Value, Vec<String>), ApiError> {
    let (upload, columns) = match uploads::described(state, user, upload_id).await {
        Err(ApiError::NotFound) => return Err(invalid("source.upload_id", "no such upload")),
        other => other?,
    };
    let sheet = match (sheet, upload.format.as_str()) {
        (Some(_), "csv") => return Err(invalid("source.sheet", "a CSV file has no sheets")),
        (Some(name), _) => Some(text("source.sheet", name, 200)?),
        (None, _) => None,
    };
    // A workbook's header is read from its file: the upload describes the
    // first sheet only.
    Ok(match sheet {
        Some(name) => {
            let columns = read_rows(state, user, &upload, Some(name.clone()), 0)
                .await?
                .0;
            (json!({ "upload_id": upload_id, "sheet": name }), columns)
        }
        None => (json!({ "upload_id": upload_id }), columns),
    })
}

fn source_error(e: TargetError) -> ApiError {
    match e {
        TargetError::Connect(reason) => invalid(
            SOURCE,
            format!("the source database cannot be reached: {reason}"),
        ),
        other => invalid("source.query", other.to_string()),
    }
}

fn target_error(e: TargetError) -> ApiError {
    match e {
        TargetError::Connect(reason) => invalid(
            TARGET,
            format!("the target database cannot be reached: {reason}"),
        ),
        TargetError::Invalid(reason) => invalid("target", reason),
        TargetError::Database(reason) | TargetError::Aborted(reason) => invalid(
            "target",
            format!("the target database refused to describe the table: {reason}"),
        ),
    }
}

/// Checks a job's definition against its source and target (both are
/// reached) and gives it as recorded.
async fn define(
    state: &AppState,
    user: &AuthUser,
    body: NewJob,
    job: Option<JobId>,
) -> Result<JobCreated, ApiError> {
    let name = text("name", &body.name, 200)?;
    let schedule = match body.schedule.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(expression) => {
            Schedule::parse(expression).map_err(|e| invalid("schedule", e))?;
            if body.source.upload_id.is_some() {
                return Err(invalid(
                    "schedule",
                    "a scheduled job reads its source anew at each run: give it a query over a \
                     connection (an upload is deleted an hour after it was made)",
                ));
            }
            crate::limits::check_schedule(state, user.account_id, job).await?;
            Some(expression.split_whitespace().collect::<Vec<_>>().join(" "))
        }
    };
    let operation = pg::Operation::parse(&body.operation).ok_or_else(|| {
        invalid(
            "operation",
            "the operation is one of insert, update, upsert, delete",
        )
    })?;
    let (source, columns) = match (
        &body.source.upload_id,
        &body.source.connection_id,
        &body.source.query,
    ) {
        (Some(id), None, None) => upload_source(state, user, *id, &body.source.sheet).await?,
        (None, Some(connection), Some(query)) => {
            if body.source.sheet.is_some() {
                return Err(invalid("source.sheet", "a query has no sheets"));
            }
            let query = pg::normalize_query(query).map_err(|e| invalid("source.query", e))?;
            let params = match connections::postgres_params(state, user, *connection, SOURCE).await
            {
                Err(ApiError::NotFound) => return Err(invalid(SOURCE, "no such connection")),
                other => other?,
            };
            let mut client = pg::connect(&params).await.map_err(source_error)?;
            let columns = pg::describe_query(&mut client, &query)
                .await
                .map_err(source_error)?;
            (
                json!({ "connection_id": connection, "query": query }),
                columns,
            )
        }
        _ => {
            return Err(invalid(
                "source",
                "give source.upload_id, or source.connection_id with source.query",
            ))
        }
    };
    let plan = Plan::new(&body.mapping, &columns).map_err(|e| invalid("mapping", e))?;
    let object = text("target.object", &body.target.object, 200)?;
    let target = match connections::find(state, user, body.target.connection_id).await {
        Err(ApiError::NotFound) => return Err(invalid(TARGET, "no such connection")),
        other => other?,
    };
    match target.kind.as_str() {
        "postgres" => {
            let params =
                connections::postgres_params(state, user, target.connection_id, TARGET).await?;
            check_postgres_target(&params, &object, operation, &plan, &body.key_fields).await?;
        }
        "salesforce" => {
            salesforce_target::writer(
                state,
                user,
                &target,
                &object,
                operation,
                &plan,
                &body.key_fields,
            )
            .await?;
        }
        _ => {
            return Err(invalid(
                TARGET,
                "a job writes to a PostgreSQL or Salesforce connection",
            ))
        }
    }

    let mapping =
        serde_json::to_value(&body.mapping).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(JobCreated {
        name,
        source,
        target: json!({ "connection_id": body.target.connection_id, "object": object }),
        operation: body.operation,
        key_fields: body.key_fields,
        mapping,
        schedule,
    })
}

/// Checks a job's target table (its database is reached): a column for
/// every mapped field, a value for every column that needs one, the key
/// fields unique, the lookups' tables and columns there.
async fn check_postgres_target(
    params: &pg::PgParams,
    object: &str,
    operation: pg::Operation,
    plan: &Plan,
    key_fields: &[String],
) -> Result<(), ApiError> {
    let client = pg::connect(params).await.map_err(target_error)?;
    let table = pg::describe(&client, object).await.map_err(target_error)?;
    let targets = plan.targets();
    let writer = pg::Writer::new(table, operation, &targets, key_fields).map_err(target_error)?;
    pg::Lookups::prepare(&client, plan.lookups(), writer.table(), &targets)
        .await
        .map_err(|e| match e {
            TargetError::Invalid(reason) => invalid("mapping", reason),
            other => target_error(other),
        })?;
    Ok(())
}

pub async fn create(
    user: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<NewJob>,
) -> Result<HttpResponse, ApiError> {
    manager(&user)?;
    let definition = define(&state, &user, body.into_inner(), None).await?;
    let id = JobId::new();
    let created = DomainEvent::JobCreated(definition);
    record(&state, &user, id, ExpectedVersion::NoStream, created).await?;
    let row = find(&state, &user, id.0).await?;
    Ok(HttpResponse::Created().json(job_json(&row)))
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
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobPatch {
    name: Option<String>,
    source: Option<Source>,
    target: Option<Target>,
    operation: Option<String>,
    key_fields: Option<Vec<String>>,
    mapping: Option<Vec<FieldMapping>>,
    /// Absent: kept; `null`: removed.
    #[serde(default, deserialize_with = "present")]
    schedule: Option<Option<String>>,
}

/// A field that is there, `null` or not (absent is `None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `PATCH /v1/jobs/{id}`: the job as changed, checked as a new one is.
/// Refused while a run of the job is queued or working, and for the target
/// once the job has runs (their history and rollbacks refer to it).
pub async fn update(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    body: web::Json<JobPatch>,
) -> Result<HttpResponse, ApiError> {
    let row = find(&state, &user, path.into_inner()).await?;
    manager(&user)?;
    let patch = body.into_inner();
    let pool = state.platform.pool.clone();
    let account = user.account_id;
    let job = JobId(row.job_id);
    let runs = web::block(move || -> Result<_, ApiError> {
        Ok(repo::runs_of(&mut *pool.get()?, account, job)?)
    })
    .await??;
    if runs.iter().any(|r| r.finished_at.is_none()) {
        return Err(ApiError::Conflict(
            "a run of this job is queued or working; change the job once it has finished".into(),
        ));
    }
    let stored = |what: &str, e: serde_json::Error| {
        ApiError::Internal(format!("the job's {what} cannot be read: {e}"))
    };
    let current_target: Target =
        serde_json::from_value(row.target.clone()).map_err(|e| stored("target", e))?;
    if let Some(target) = &patch.target {
        let moved = target.connection_id != current_target.connection_id
            || target.object != current_target.object;
        if moved && !runs.is_empty() {
            return Err(invalid(
                "target",
                "the target of a job with runs cannot change (their history and rollbacks \
                 refer to it): define a new job",
            ));
        }
    }
    let merged = NewJob {
        name: patch.name.unwrap_or(row.name),
        source: match patch.source {
            Some(source) => source,
            None => serde_json::from_value(row.source).map_err(|e| stored("source", e))?,
        },
        target: patch.target.unwrap_or(current_target),
        operation: patch.operation.unwrap_or(row.operation),
        key_fields: match patch.key_fields {
            Some(fields) => fields,
            None => serde_json::from_value(row.key_fields).map_err(|e| stored("key fields", e))?,
        },
        mapping: match patch.mapping {
            Some(mapping) => mapping,
            None => serde_json::from_value(row.mapping).map_err(|e| stored("mapping", e))?,
        },
        schedule: match patch.schedule {
            Some(schedule) => schedule,
            None => row.schedule,
        },
    };
    let job = JobId(row.job_id);
    let definition = define(&state, &user, merged, Some(job)).await?;
    record(
        &state,
        &user,
        job,
        ExpectedVersion::Any,
        DomainEvent::JobUpdated(definition),
    )
    .await?;
    let row = find(&state, &user, job.0).await?;
    Ok(HttpResponse::Ok().json(job_json(&row)))
}

async fn find(state: &AppState, user: &AuthUser, id: Uuid) -> Result<JobRow, ApiError> {
    let pool = state.platform.pool.clone();
    let account = user.account_id;
    web::block(move || -> Result<_, ApiError> {
        Ok(repo::find(&mut *pool.get()?, account, JobId(id))?)
    })
    .await??
    .ok_or(ApiError::NotFound)
}

pub async fn list(user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pool = state.platform.pool.clone();
    let rows = web::block(move || -> Result<_, ApiError> {
        Ok(repo::list(&mut *pool.get()?, user.account_id)?)
    })
    .await??;
    let items: Vec<Value> = rows.iter().map(job_json).collect();
    Ok(HttpResponse::Ok().json(json!({ "jobs": items })))
}

pub async fn show(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = find(&state, &user, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(job_json(&row)))
}

pub async fn delete(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = find(&state, &user, path.into_inner()).await?;
    manager(&user)?;
    let deleted = DomainEvent::JobDeleted(JobDeleted {});
    record(
        &state,
        &user,
        JobId(row.job_id),
        ExpectedVersion::Any,
        deleted,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Queues a run: `run.requested` goes to the import workers.
pub async fn start_run(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let job = find(&state, &user, path.into_inner()).await?;
    crate::limits::check_rows(&state, user.account_id).await?;
    queue(
        &state,
        &user,
        RunRequested {
            job_id: job.job_id,
            kind: "import".into(),
            rollback_of: None,
            force: false,
        },
    )
    .await
}

/// Appends a new run's `run.requested`: 202 with the run's id.
async fn queue(
    state: &AppState,
    user: &AuthUser,
    requested: RunRequested,
) -> Result<HttpResponse, ApiError> {
    let id = RunId::new();
    let event = NewEvent::new(
        DomainEvent::RunRequested(requested),
        state.metadata(format!("user:{}", user.user_id)),
    )
    .for_account(user.account_id);
    state
        .platform
        .appender
        .append(AppendRequest::new(
            "run",
            id.0,
            ExpectedVersion::NoStream,
            vec![event],
        ))
        .await?;
    Ok(HttpResponse::Accepted().json(json!({ "run_id": id, "status": "queued" })))
}

const NOTHING_KEPT: &str = "this account keeps no result files (its settings say to store \
                            nothing): they were destroyed when the run ended";

const NOTHING_KEPT_ROLLBACK: &str = "this account keeps no record of what its runs changed (its \
                                     settings say to store nothing), so runs cannot be rolled \
                                     back; keep result files for some days to roll back";

/// Whether the caller's account keeps result files (and journals).
async fn stores_results(state: &AppState, user: &AuthUser) -> Result<bool, ApiError> {
    let pool = state.platform.pool.clone();
    let account = user.account_id;
    web::block(move || -> Result<_, ApiError> {
        Ok(
            sluice_schema::repo::accounts::find_account(&mut *pool.get()?, account)?
                .is_none_or(|a| a.store_results),
        )
    })
    .await?
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// Undo rows changed since the run all the same (owners and admins).
    #[serde(default)]
    force: bool,
}

async fn run_row(state: &AppState, user: &AuthUser, id: RunId) -> Result<RunRow, ApiError> {
    let pool = state.platform.pool.clone();
    let account = user.account_id;
    web::block(move || -> Result<_, ApiError> { Ok(repo::run(&mut *pool.get()?, account, id)?) })
        .await??
        .ok_or(ApiError::NotFound)
}

/// `POST /v1/runs/{id}/rollback`: queues a rollback of a finished run, a
/// run of its own (202 with its id). The body may ask to force it:
/// `{"force": true}` undoes rows changed since the run all the same.
pub async fn rollback(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: RollbackRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RollbackRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| invalid("body", format!("the body is not a rollback request: {e}")))?
    };
    if request.force {
        manager(&user)
            .map_err(|_| ApiError::Forbidden("only owners and admins force a rollback".into()))?;
    }
    let run = run_row(&state, &user, RunId(path.into_inner())).await?;
    if run.rollback_of.is_some() {
        return Err(ApiError::Conflict(
            "a rollback cannot be rolled back".into(),
        ));
    }
    if run.finished_at.is_none() {
        return Err(ApiError::Conflict(
            "the run has not finished; roll it back once it has".into(),
        ));
    }
    if run.rows_ok == 0 {
        return Err(ApiError::Conflict(
            "the run changed no rows: there is nothing to roll back".into(),
        ));
    }
    if !stores_results(&state, &user).await? {
        return Err(ApiError::Conflict(NOTHING_KEPT_ROLLBACK.into()));
    }
    let live = run
        .results_expire_at
        .is_some_and(|at| at > state.platform.clock.now());
    if run.results_removed_at.is_some() || !live {
        return Err(ApiError::Gone(
            "the run's record of what it changed expired with its result files, so it can no \
             longer be rolled back"
                .into(),
        ));
    }
    if let Some(previous) = run.rolled_back_by {
        let previous = run_row(&state, &user, RunId(previous)).await?;
        if previous.finished_at.is_none() {
            return Err(ApiError::Conflict(format!(
                "rollback {} of this run is under way",
                previous.run_id
            )));
        }
        if previous.status == "rolled_back" {
            return Err(ApiError::Conflict(format!(
                "the run was rolled back by {}",
                previous.run_id
            )));
        }
    }
    queue(
        &state,
        &user,
        RunRequested {
            job_id: run.job_id,
            kind: "rollback".into(),
            rollback_of: Some(run.run_id),
            force: request.force,
        },
    )
    .await
}

pub async fn runs(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let job = find(&state, &user, path.into_inner()).await?;
    let pool = state.platform.pool.clone();
    let account = user.account_id;
    let rows = web::block(move || -> Result<_, ApiError> {
        Ok(repo::runs_of(
            &mut *pool.get()?,
            account,
            JobId(job.job_id),
        )?)
    })
    .await??;
    let items: Vec<Value> = rows.iter().map(run_json).collect();
    Ok(HttpResponse::Ok().json(json!({ "runs": items })))
}

pub async fn show_run(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = run_row(&state, &user, RunId(path.into_inner())).await?;
    Ok(HttpResponse::Ok().json(run_json(&row)))
}

pub async fn success_file(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    result_file(&state, &user, RunId(path.into_inner()), "success").await
}

pub async fn errors_file(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    result_file(&state, &user, RunId(path.into_inner()), "errors").await
}

/// Streams a run's result file, decrypting as it goes: 409 while the run
/// works, 410 once the file has expired (even before the sweep).
async fn result_file(
    state: &AppState,
    user: &AuthUser,
    run: RunId,
    name: &'static str,
) -> Result<HttpResponse, ApiError> {
    let pool = state.platform.pool.clone();
    let account = user.account_id;
    let (row, key) = web::block(move || -> Result<_, ApiError> {
        let mut conn = pool.get()?;
        let row = repo::run(&mut conn, account, run)?;
        let key = repo::result_key(&mut conn, account, run)?;
        Ok((row, key))
    })
    .await??;
    let row = row.ok_or(ApiError::NotFound)?;
    if row.finished_at.is_none() {
        return Err(ApiError::Conflict(
            "the run has not finished; its result files come at the end".into(),
        ));
    }
    let expires = match row.results_expire_at {
        Some(at) => at,
        None if !stores_results(state, user).await? => {
            return Err(ApiError::Gone(NOTHING_KEPT.into()))
        }
        None => return Err(ApiError::NotFound),
    };
    if row.results_removed_at.is_some() || expires <= state.platform.clock.now() {
        return Err(ApiError::Gone(format!(
            "the result files of this run expired at {} and are deleted",
            expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )));
    }
    let (version, wrapped) =
        key.ok_or_else(|| ApiError::Gone("the result files are deleted".into()))?;
    let key_owner = sluice_vault::owner::result_key(account, run);
    let key = state
        .keyring
        .file_key(&key_owner, version, &wrapped)
        .map_err(|e| ApiError::Internal(format!("result key: {e}")))?;
    let file_owner = sluice_vault::owner::result_file(account, run, name, None);
    let mut reader = state
        .store
        .reader(
            "results",
            &sluice_vault::owner::result_file_id(run, name, None),
            &key,
            &file_owner,
        )
        .map_err(|e| ApiError::Internal(format!("result file: {e}")))?;
    // A blocking thread reads and decrypts; the response streams what it sends.
    let (chunks, inbox) = tokio::sync::mpsc::channel::<Result<web::Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        loop {
            let mut buffer = vec![0u8; 64 * 1024];
            match reader.read(&mut buffer) {
                Ok(0) => return,
                Ok(n) => {
                    buffer.truncate(n);
                    if chunks.blocking_send(Ok(web::Bytes::from(buffer))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = chunks.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    let body = futures_util::stream::unfold(inbox, |mut inbox| async move {
        inbox.recv().await.map(|chunk| (chunk, inbox))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}.csv\""),
        ))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewQuery {
    /// Rows to preview (default 20, at most 200).
    rows: Option<usize>,
}

/// `POST /v1/jobs/{id}/preview`: the first rows of the source mapped as a
/// run would write them, each with what is wrong with it, into a
/// PostgreSQL table or a Salesforce object. Nothing is written.
pub async fn preview(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    query: web::Query<PreviewQuery>,
) -> Result<HttpResponse, ApiError> {
    let wanted = query.rows.unwrap_or(20).clamp(1, 200);
    let job = find(&state, &user, path.into_inner()).await?;
    let mapping: Vec<FieldMapping> = serde_json::from_value(job.mapping.clone())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let connection_id = job.target["connection_id"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| ApiError::Internal("the job has no target".into()))?;
    let target = connections::find(&state, &user, connection_id).await?;
    let shown = if target.kind == "salesforce" {
        let (header, source_rows) = first_rows(&state, &user, &job.source, wanted).await?;
        let plan = Plan::new(&mapping, &header).map_err(|e| invalid("mapping", e))?;
        salesforce_target::preview(&state, &user, &job, &target, &plan, source_rows).await?
    } else {
        postgres_preview(&state, &user, &job, connection_id, &mapping, wanted).await?
    };
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(shown))
}

/// A preview of a job into a PostgreSQL table: the rows mapped, their
/// lookups resolved, each value checked against its column.
async fn postgres_preview(
    state: &AppState,
    user: &AuthUser,
    job: &JobRow,
    connection_id: Uuid,
    mapping: &[FieldMapping],
    wanted: usize,
) -> Result<Value, ApiError> {
    let object = job.target["object"].as_str().unwrap_or_default().to_owned();
    let params = connections::postgres_params(state, user, connection_id, TARGET).await?;
    let client = pg::connect(&params).await.map_err(target_error)?;
    let table = pg::describe(&client, &object).await.map_err(target_error)?;
    let (header, source_rows) = first_rows(state, user, &job.source, wanted).await?;
    let plan = Plan::new(mapping, &header).map_err(|e| invalid("mapping", e))?;
    let targets: Vec<String> = plan.targets().iter().map(|t| (*t).to_owned()).collect();
    let target_names: Vec<&str> = targets.iter().map(String::as_str).collect();
    let lookups = pg::Lookups::prepare(&client, plan.lookups(), &table, &target_names)
        .await
        .map_err(target_error)?;
    let looked_up = lookups.positions();
    let columns: Vec<Option<pg::Column>> =
        targets.iter().map(|t| table.column(t).cloned()).collect();

    // Each row mapped, or why it cannot be; then the lookups resolved.
    let mut mapped: Vec<(u64, Vec<Option<String>>, Vec<String>)> = source_rows
        .into_iter()
        .map(|row| match row.fields.and_then(|f| plan.apply(&f)) {
            Err(e) => (row.number, Vec::new(), vec![e]),
            Ok(values) => (row.number, values, Vec::new()),
        })
        .collect();
    if !lookups.is_empty() {
        let mut inserts: Vec<pg::Insert> = mapped
            .iter()
            .filter(|(_, values, errors)| errors.is_empty() && !values.is_empty())
            .map(|(number, values, _)| pg::Insert {
                number: *number,
                values: values.clone(),
            })
            .collect();
        let unresolved = lookups
            .resolve(&client, &mut inserts)
            .await
            .map_err(target_error)?;
        for (number, values, errors) in &mut mapped {
            if let Some(found) = inserts.iter_mut().find(|i| i.number == *number) {
                *values = std::mem::take(&mut found.values);
            }
            errors.extend(
                unresolved
                    .iter()
                    .filter(|(n, _)| n == number)
                    .map(|(_, reason)| reason.clone()),
            );
        }
    }
    drop(client);
    let rows: Vec<Value> = mapped
        .into_iter()
        .map(|(number, values, mut errors)| {
            if errors.is_empty() {
                errors = values
                    .iter()
                    .zip(&columns)
                    .enumerate()
                    .filter(|(i, _)| !looked_up.contains(i))
                    .filter_map(|(_, (value, column))| {
                        column
                            .as_ref()
                            .and_then(|c| pg::check_value(c, value.as_deref()).err())
                    })
                    .collect();
            }
            let shown: serde_json::Map<String, Value> = targets
                .iter()
                .zip(values.iter())
                .map(|(t, v)| (t.clone(), json!(v)))
                .collect();
            json!({ "row": number, "values": shown, "errors": errors })
        })
        .collect();
    Ok(json!({ "fields": targets, "rows": rows }))
}

/// A job's source's header and its first `wanted` rows.
async fn first_rows(
    state: &AppState,
    user: &AuthUser,
    source: &Value,
    wanted: usize,
) -> Result<(Vec<String>, Vec<sluice_connectors::source::Row>), ApiError> {
    let uuid = |k: &str| source[k].as_str().and_then(|s| Uuid::parse_str(s).ok());
    match (
        uuid("upload_id"),
        uuid("connection_id"),
        source["query"].as_str(),
    ) {
        (Some(upload_id), _, _) => {
            let (upload, _) = match uploads::described(state, user, upload_id).await {
                Err(ApiError::NotFound) => {
                    return Err(ApiError::Gone(
                        "the job's upload was deleted; upload the file again and define the \
                         job anew"
                            .into(),
                    ))
                }
                other => other?,
            };
            let sheet = source["sheet"].as_str().map(str::to_owned);
            read_rows(state, user, &upload, sheet, wanted).await
        }
        (None, Some(connection), Some(query)) => {
            let params = connections::postgres_params(state, user, connection, SOURCE).await?;
            let reader = pg::stream_query(&params, query, Some(wanted))
                .await
                .map_err(source_error)?;
            web::block(move || -> Result<_, ApiError> {
                let mut sink = FirstRows {
                    wanted,
                    header: Vec::new(),
                    rows: Vec::new(),
                };
                sluice_connectors::source::CsvSource::open(reader, &pg::query_dialect())
                    .and_then(|source| source.feed(&mut sink))
                    .map_err(|e| invalid("source.query", e.to_string()))?;
                Ok((sink.header, sink.rows))
            })
            .await?
        }
        _ => Err(ApiError::Internal("the job has no source".into())),
    }
}

/// Collects a source's header and its first rows.
struct FirstRows {
    wanted: usize,
    header: Vec<String>,
    rows: Vec<sluice_connectors::source::Row>,
}

impl sluice_connectors::source::RowSink for FirstRows {
    fn header(&mut self, header: Vec<String>) -> bool {
        self.header = header;
        self.wanted > 0
    }

    fn row(&mut self, row: sluice_connectors::source::Record<'_>) -> bool {
        self.rows.push(row.to_row());
        self.rows.len() < self.wanted
    }
}

/// An upload's header and its first `wanted` rows (a CSV, or a workbook's
/// sheet), read and decrypted on the blocking pool.
async fn read_rows(
    state: &AppState,
    user: &AuthUser,
    upload: &sluice_schema::models::UploadRow,
    sheet: Option<String>,
    wanted: usize,
) -> Result<(Vec<String>, Vec<sluice_connectors::source::Row>), ApiError> {
    use sluice_connectors::detect::Format;
    use sluice_connectors::source::{read_sheet, CsvSource};
    let pool = state.platform.pool.clone();
    let account = user.account_id;
    let id = sluice_schema::ids::UploadId(upload.upload_id);
    let key = web::block(move || -> Result<_, ApiError> {
        Ok(sluice_schema::repo::uploads::key(
            &mut *pool.get()?,
            account,
            id,
        )?)
    })
    .await??
    .ok_or_else(|| ApiError::Gone("the upload's file is deleted".into()))?;
    let reader = uploads::open_file(state, upload, key)?;
    let format = Format::from_name(&format!("x.{}", upload.format))
        .ok_or_else(|| ApiError::Internal("an upload of an unknown format".into()))?;
    web::block(move || -> Result<_, ApiError> {
        let mut sink = FirstRows {
            wanted,
            header: Vec::new(),
            rows: Vec::new(),
        };
        let read = match format {
            Format::Csv => CsvSource::detect(reader).and_then(|source| source.feed(&mut sink)),
            _ => read_sheet(reader, format, sheet.as_deref(), &mut sink),
        };
        read.map_err(|e| invalid("source", e.to_string()))?;
        Ok((sink.header, sink.rows))
    })
    .await?
}
