//! `/v1/jobs/{id}/runs` and `/v1/runs`: queueing a job's runs, the run
//! history, a run's result files, and rollbacks.

use super::*;
use crate::auth::ForceRollback;
use crate::streams;
use sluice_events::aggregate::run as run_aggregate;

/// Queues a run: `run.requested` goes to the import workers. The body may
/// ask for a trial, `{"sample": N}` (N rows at random, or the first N with
/// `"sample_order": "first"`), or for the rest of one, `{"remaining_of":
/// run}`; without a body the run writes the whole source.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The job.")),
    request_body(content = Option<super::trials::RunRequest>, content_type = "application/json",
        description = "Optional: a trial (`sample`, `sample_order`) or the rest of one \
            (`remaining_of`)."),
    responses(
        Authenticated,
        (status = 202, description = "The run is queued.", body = views::RunQueued),
        (status = 400, description = "`bad_request`: the body is not JSON.", body = ErrorBody),
        (status = 402, description = "`plan_limit`: the account's imports have read the plan's \
            rows for this month.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such job in the account, or (with \
            `remaining_of`) no such run.", body = ErrorBody),
        (status = 409, description = "`conflict`, with `remaining_of`: the run is not a \
            finished trial of this job, was rolled back, read a query, its rest was asked \
            already, or the job reads another upload since.", body = ErrorBody),
        (status = 410, description = "`gone`, with `remaining_of`: the trial's result files \
            expired (or the account keeps none), and with them the rows it wrote.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 256 KiB.", body = ErrorBody),
        (status = 422, description = "`invalid`, naming the field: a sample outside 1 to \
            100,000, an order without a sample, or both a sample and `remaining_of`.", body = ErrorBody),
    )
)]
#[post("/v1/jobs/{id}/runs")]
pub async fn start(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request = super::trials::run_request(&body)?;
    let job = find(&state, &user, path.into_inner()).await?;
    crate::limits::check_rows(&state, user.account_id).await?;
    if let Some(trial) = request.remaining_of() {
        return super::trials::queue_rest(&state, &user, &job, trial).await;
    }
    queue(
        &state,
        &user,
        RunRequested {
            sample: super::trials::sample_of(&request, &job),
            ..RunRequested::import(job.row.job_id)
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
    Ok(HttpResponse::Accepted().json(views::RunQueued {
        run_id: id.0,
        status: "queued".into(),
    }))
}

const NOTHING_KEPT: &str = "this account keeps no result files (its settings say to store \
                            nothing): they were destroyed when the run ended";

/// Whether the caller's account keeps result files (and journals).
async fn stores_results(state: &AppState, user: &AuthUser) -> Result<bool, ApiError> {
    let account = user.account_id;
    state
        .db(move |conn| {
            Ok(sluice_schema::repo::accounts::find_account(conn, account)?
                .is_none_or(|a| a.store_results))
        })
        .await
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// Undo rows changed since the run all the same (owners and admins).
    #[serde(default)]
    force: bool,
}

async fn run_row(state: &AppState, user: &AuthUser, id: RunId) -> Result<RunRow, ApiError> {
    let account = user.account_id;
    state
        .db(move |conn| Ok(repo::run(conn, account, id)?))
        .await?
        .ok_or(ApiError::NotFound)
}

/// `POST /v1/runs/{id}/rollback`: queues a rollback of a finished run, a
/// run of its own (202 with its id). The body may ask to force it:
/// `{"force": true}` undoes rows changed since the run all the same.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The run.")),
    request_body(content = Option<RollbackRequest>, content_type = "application/json",
        description = "Optional: `{\"force\": true}` (owners and admins)."),
    responses(
        Authenticated,
        (status = 202, description = "The rollback run is queued.", body = views::RunQueued),
        (status = 400, description = "`bad_request`: the body is not JSON.", body = ErrorBody),
        (status = 403, description = "`forbidden`: a member asking to force it.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such run in the account.", body = ErrorBody),
        (status = 409, description = "`conflict`: a rollback, a run still working, one that \
            changed no rows, one rolled back (or being rolled back) already, or an account that \
            keeps no result files.", body = ErrorBody),
        (status = 410, description = "`gone`: the run's record of what it changed expired with \
            its result files.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 256 KiB.", body = ErrorBody),
        (status = 422, description = "`invalid`: the body is not a rollback request.", body = ErrorBody),
    )
)]
#[post("/v1/runs/{id}/rollback")]
pub async fn rollback(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: RollbackRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RollbackRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(ApiError::from)?
    };
    if request.force {
        user.clone().admin_for::<ForceRollback>()?;
    }
    let id = path.into_inner();
    let force = request.force;
    let (state, user): (&AppState, &AuthUser) = (&state, &user);
    // Decided once, by the run aggregate, on the run and the rollbacks
    // asked of it. The rollback's id derives from them: of two requests at
    // once, one opens its stream and the other, deciding again, finds that
    // rollback under way.
    let rollback = streams::decide(state, || async move {
        let account = user.account_id;
        let (history, store_results, results_expire_at) = state
            .db(move |conn| {
                let history = run_aggregate::load_history(conn, account, id)?;
                let store_results = sluice_schema::repo::accounts::find_account(conn, account)?
                    .is_none_or(|a| a.store_results);
                let expires =
                    repo::run(conn, account, RunId(id))?.and_then(|r| r.results_expire_at);
                Ok((history, store_results, expires))
            })
            .await?;
        let context = run_aggregate::RollbackContext {
            now: state.platform.clock.now(),
            store_results,
            results_expire_at,
            force,
        };
        let decided = history.request_rollback(account, &context)?;
        Ok(streams::request(
            state,
            user,
            "run",
            decided.id,
            ExpectedVersion::NoStream,
            vec![DomainEvent::RunRequested(decided.requested)],
        ))
    })
    .await?;
    Ok(HttpResponse::Accepted().json(views::RunQueued {
        run_id: rollback,
        status: "queued".into(),
    }))
}

/// The job's runs, newest first.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The job.")),
    responses(
        Authenticated,
        (status = 200, description = "The runs.", body = views::Runs),
        (status = 404, description = "`not_found`: no such job in the account.", body = ErrorBody),
    )
)]
#[get("/v1/jobs/{id}/runs")]
pub async fn list(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let job = find(&state, &user, path.into_inner()).await?;
    let account = user.account_id;
    let job = JobId(job.row.job_id);
    let rows = state
        .db(move |conn| Ok(repo::runs_of(conn, account, job)?))
        .await?;
    let rows = open_runs(&state, account, rows).await?;
    let runs = rows.iter().map(run_view).collect();
    Ok(HttpResponse::Ok().json(views::Runs { runs }))
}

/// A run: its status and counts.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The run.")),
    responses(
        Authenticated,
        (status = 200, description = "The run.", body = views::Run),
        (status = 404, description = "`not_found`: no such run in the account.", body = ErrorBody),
    )
)]
#[get("/v1/runs/{id}")]
pub async fn show(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = run_row(&state, &user, RunId(path.into_inner())).await?;
    let mut opened = open_runs(&state, user.account_id, vec![row]).await?;
    let row = opened.pop().ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(run_view(&row)))
}

/// The run's `success.csv`, streamed: `ROW, ID, STATUS` for each row
/// written (`created`, `updated`, `deleted`; a rollback's `deleted`,
/// `restored`, `reinserted`).
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The run.")),
    responses(
        Authenticated,
        (status = 200, description = "The rows written, as CSV.", body = String, content_type = "text/csv; charset=utf-8",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"success.csv\"`"))),
        (status = 404, description = "`not_found`: no such run in the account.", body = ErrorBody),
        (status = 409, description = "`conflict`: the run has not finished.", body = ErrorBody),
        (status = 410, description = "`gone`: the result files expired, or the account keeps \
            none.", body = ErrorBody),
    )
)]
#[get("/v1/runs/{id}/success.csv")]
pub async fn success_file(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    result_file(&state, &user, RunId(path.into_inner()), "success").await
}

/// The run's `skipped.csv`, streamed: `ROW, REASON` and the row as read,
/// for each row the job's filter set aside (a run of a job without a
/// filter, and a rollback, have the header only).
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The run.")),
    responses(
        Authenticated,
        (status = 200, description = "The rows skipped and why, as CSV.", body = String, content_type = "text/csv; charset=utf-8",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"skipped.csv\"`"))),
        (status = 404, description = "`not_found`: no such run in the account, or the run \
            ended before Sluice wrote skipped.csv.", body = ErrorBody),
        (status = 409, description = "`conflict`: the run has not finished.", body = ErrorBody),
        (status = 410, description = "`gone`: the result files expired, or the account keeps \
            none.", body = ErrorBody),
    )
)]
#[get("/v1/runs/{id}/skipped.csv")]
pub async fn skipped_file(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    result_file(&state, &user, RunId(path.into_inner()), "skipped").await
}

/// The run's `errors.csv`, streamed: each row that was not written, with
/// why.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The run.")),
    responses(
        Authenticated,
        (status = 200, description = "The rows not written and why, as CSV.", body = String, content_type = "text/csv; charset=utf-8",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"errors.csv\"`"))),
        (status = 404, description = "`not_found`: no such run in the account.", body = ErrorBody),
        (status = 409, description = "`conflict`: the run has not finished.", body = ErrorBody),
        (status = 410, description = "`gone`: the result files expired, or the account keeps \
            none.", body = ErrorBody),
    )
)]
#[get("/v1/runs/{id}/errors.csv")]
pub async fn errors_file(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    result_file(&state, &user, RunId(path.into_inner()), "errors").await
}

/// A run's result file, opened to be read and decrypted as it is: 409
/// while the run works, 410 once the file has expired (even before the
/// sweep).
pub(super) async fn open_result(
    state: &AppState,
    user: &AuthUser,
    run: RunId,
    name: &'static str,
) -> Result<sluice_vault::DecryptReader<std::fs::File>, ApiError> {
    let account = user.account_id;
    let (row, key) = state
        .db(move |conn| {
            let row = repo::run(conn, account, run)?;
            let key = repo::result_key(conn, account, run)?;
            Ok((row, key))
        })
        .await?;
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
        .file_key(&key_owner, version.get(), &wrapped)
        .map_err(|e| ApiError::Internal(format!("result key: {e}")))?;
    let file_owner = sluice_vault::owner::result_file(account, run, name, None);
    let store = state.store.clone();
    let file_id = sluice_vault::owner::result_file_id(run, name, None);
    // Opening may download the file from the object store: blocking I/O.
    let reader = web::block(move || store.reader("results", &file_id, &key, &file_owner))
        .await?
        .map_err(|e| match e {
            // A run that ended before skipped.csv existed has none.
            sluice_vault::FileError::Io(io)
                if name == "skipped" && io.kind() == std::io::ErrorKind::NotFound =>
            {
                ApiError::NotFound
            }
            e => ApiError::Internal(format!("result file: {e}")),
        })?;
    Ok(reader)
}

/// Streams a run's result file, decrypting as it goes (see [`open_result`]).
async fn result_file(
    state: &AppState,
    user: &AuthUser,
    run: RunId,
    name: &'static str,
) -> Result<HttpResponse, ApiError> {
    let mut reader = open_result(state, user, run, name).await?;
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
