//! Bulk API 2.0 ingest: create a job, upload its CSV once, close it
//! (`UploadComplete`) or abort it, poll its info until `JobComplete` or
//! `Failed`, then read its successful, failed and unprocessed records.

use super::bulk_info::{info_json, Job, Operation, State};
use super::bulk_job::process;
use super::bulk_results;
use super::org::{self, Org, Store};
use super::session::{method_not_allowed, ApiCall, RestError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

/// The documented ceiling on one upload: 150 MB once base64-encoded.
const UPLOAD_LIMIT: usize = 150 * 1024 * 1024;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    for base in ["/jobs/ingest", "/jobs/ingest/"] {
        cfg.service(
            web::resource(base)
                .route(web::post().to(create))
                .default_service(web::to(method_not_allowed("POST"))),
        );
    }
    cfg.service(
        web::resource("/jobs/ingest/{job}")
            .route(web::get().to(info))
            .route(web::patch().to(close))
            .route(web::delete().to(remove))
            .default_service(web::to(method_not_allowed("GET,PATCH,DELETE"))),
    );
    for slash in ["", "/"] {
        cfg.service(
            web::resource(format!("/jobs/ingest/{{job}}/batches{slash}"))
                .route(web::put().to(upload))
                .default_service(web::to(method_not_allowed("PUT"))),
        )
        .route(
            &format!("/jobs/ingest/{{job}}/successfulResults{slash}"),
            web::get().to(bulk_results::successful),
        )
        .route(
            &format!("/jobs/ingest/{{job}}/failedResults{slash}"),
            web::get().to(bulk_results::failed),
        )
        .route(
            &format!("/jobs/ingest/{{job}}/unprocessedrecords{slash}"),
            web::get().to(bulk_results::unprocessed),
        );
    }
}

fn invalid_job(message: String) -> RestError {
    RestError::bad_request("INVALIDJOB", message)
}

pub(super) fn invalid_state(message: String) -> RestError {
    RestError::bad_request("INVALIDJOBSTATE", message)
}

fn json_body(body: &[u8]) -> Result<Value, RestError> {
    serde_json::from_slice(body)
        .map_err(|e| RestError::bad_request("JSON_PARSER_ERROR", e.to_string()))
}

/// What a job is created with, read from `POST …/jobs/ingest`.
struct Spec {
    object: String,
    operation: Operation,
    external_id: Option<String>,
    line_ending: &'static str,
    delimiter: (&'static str, u8),
}

fn read_spec(store: &Store, body: &[u8]) -> Result<Spec, RestError> {
    let spec = json_body(body)?;
    let text = |key: &str| spec.get(key).and_then(Value::as_str);
    let invalid =
        |what: &str, value: &str| invalid_job(format!("InvalidJob : Invalid {what}: {value}"));
    let object = text("object").unwrap_or_default();
    let Some(def) = store.table(object).map(|t| &t.def) else {
        return Err(invalid_job(format!(
            "InvalidJob : Unable to find object: {object}"
        )));
    };
    let operation = text("operation").unwrap_or_default();
    let operation = Operation::parse(operation).ok_or_else(|| invalid("operation", operation))?;
    if let Some(kind) = text("contentType").filter(|k| *k != "CSV") {
        return Err(invalid("content type", kind));
    }
    let line_ending = match text("lineEnding").unwrap_or("LF") {
        "LF" => "LF",
        "CRLF" => "CRLF",
        other => return Err(invalid("line ending", other)),
    };
    let delimiter = match text("columnDelimiter").unwrap_or("COMMA") {
        "COMMA" => ("COMMA", b','),
        "BACKQUOTE" => ("BACKQUOTE", b'`'),
        "CARET" => ("CARET", b'^'),
        "PIPE" => ("PIPE", b'|'),
        "SEMICOLON" => ("SEMICOLON", b';'),
        "TAB" => ("TAB", b'\t'),
        other => return Err(invalid("column delimiter", other)),
    };
    let external_id = match (operation, text("externalIdFieldName")) {
        (Operation::Upsert, None) => {
            let message = "InvalidJob : External ID Field Name is required for upsert";
            return Err(invalid_job(message.into()));
        }
        (Operation::Upsert, Some(key)) => match def.field_named(key) {
            Some(field) if field.external_id || field.id_lookup => Some(field.name.clone()),
            _ => {
                return Err(invalid_job(format!(
                    "InvalidJob : Field name provided, {key} is not an External ID or indexed field for {}",
                    def.name
                )))
            }
        },
        _ => None,
    };
    Ok(Spec {
        object: def.name.clone(),
        operation,
        external_id,
        line_ending,
        delimiter,
    })
}

async fn create(
    api: ApiCall,
    org: web::Data<org::Shared>,
    body: web::Bytes,
) -> Result<HttpResponse, RestError> {
    let mut org = org.lock().expect("stand-in state");
    let spec = read_spec(&org.store, &body)?;
    let id = org.next_id("750");
    let now = org.store.now();
    let job = Job {
        id: id.clone(),
        object: spec.object,
        operation: spec.operation,
        external_id: spec.external_id,
        line_ending: spec.line_ending,
        delimiter: spec.delimiter,
        state: State::Open,
        content: None,
        created: now.clone(),
        modified: now,
        version: api.version.clone(),
        polls: 0,
        polls_needed: 1,
        outcome: None,
    };
    let body = info_json(&job);
    org.jobs.insert(id, job);
    Ok(HttpResponse::Ok().json(body))
}

fn job_mut<'a>(org: &'a mut Org, id: &str) -> Result<&'a mut Job, RestError> {
    org.jobs.get_mut(id).ok_or_else(RestError::not_found)
}

async fn upload(
    _: ApiCall,
    org: web::Data<org::Shared>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, RestError> {
    let kind = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !kind.starts_with("text/csv") {
        let message =
            format!("Content-Type '{kind}' is not supported: upload job data as text/csv");
        return Err(RestError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            message,
        ));
    }
    if body.len().div_ceil(3) * 4 > UPLOAD_LIMIT {
        let message = "ClientInputError : Data exceeds the maximum of 150 MB of base64-encoded content for one upload";
        return Err(RestError::bad_request("CLIENTINPUTERROR", message));
    }
    let mut org = org.lock().expect("stand-in state");
    let job = job_mut(&mut org, &path.1)?;
    if job.state != State::Open {
        return Err(invalid_state(format!(
            "Job {} is {}: it takes no more data",
            job.id,
            job.state.name()
        )));
    }
    if job.content.is_some() {
        return Err(invalid_state(format!(
            "Found multiple contents for job: <{}>, please 'Close' / 'Abort' / 'Delete' the current Job then create a new Job and make sure the content is uploaded once only",
            job.id
        )));
    }
    job.content = Some(body.to_vec());
    Ok(HttpResponse::Created().finish())
}

async fn close(
    _: ApiCall,
    org: web::Data<org::Shared>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, RestError> {
    let wanted = json_body(&body)?
        .get("state")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut guard = org.lock().expect("stand-in state");
    let org = &mut *guard;
    let (fail_after, polls, seed, echo) = (
        org.fail_bulk_after,
        org.polls_to_complete.max(1),
        org.sequence,
        org.bulk_echo,
    );
    let now = org.store.now();
    let job = org.jobs.get_mut(&path.1).ok_or_else(RestError::not_found)?;
    match (job.state, wanted.as_str()) {
        (State::Open, "UploadComplete") => {
            job.outcome = Some(process(&mut org.store, job, fail_after, seed, echo));
            job.content = None;
            job.state = State::UploadComplete;
            job.polls_needed = polls;
        }
        (State::Open | State::UploadComplete | State::InProgress, "Aborted") => {
            job.state = State::Aborted
        }
        (state, wanted) => {
            return Err(invalid_state(format!(
                "Job {} is {}: it cannot move to {wanted}",
                job.id,
                state.name()
            )));
        }
    }
    job.modified = now;
    Ok(HttpResponse::Ok().json(info_json(job)))
}

/// A poll: each one brings a closed job nearer its final state.
async fn info(
    _: ApiCall,
    org: web::Data<org::Shared>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, RestError> {
    let mut org = org.lock().expect("stand-in state");
    let now = org.store.now();
    let job = job_mut(&mut org, &path.1)?;
    if matches!(job.state, State::UploadComplete | State::InProgress) {
        job.polls += 1;
        job.state = if job.polls < job.polls_needed {
            State::InProgress
        } else if job.outcome.as_ref().is_some_and(|o| o.error.is_some()) {
            State::Failed
        } else {
            State::JobComplete
        };
        // `systemModstamp` is when the job last changed: once it ends,
        // when it finished, later than any record it wrote.
        job.modified = now;
    }
    Ok(HttpResponse::Ok().json(info_json(job)))
}

async fn remove(
    _: ApiCall,
    org: web::Data<org::Shared>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, RestError> {
    let mut org = org.lock().expect("stand-in state");
    let job = job_mut(&mut org, &path.1)?;
    if matches!(job.state, State::Open | State::InProgress) {
        return Err(invalid_state(format!(
            "Job {} is {}: it cannot be deleted yet",
            job.id,
            job.state.name()
        )));
    }
    org.jobs.remove(&path.1);
    Ok(HttpResponse::NoContent().finish())
}
