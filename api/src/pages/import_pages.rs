//! A new import (upload, then map with a preview, then run), the run
//! history, and one run with its live progress, result files and rollback.

use super::render::{self, when, Viewer};
use crate::error::ApiError;
use crate::routes::connection_details::open_all;
use crate::routes::jobs::open_job;
use crate::routes::uploads::described;
use crate::AppState;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;
use sluice_schema::ids::RunId;
use sluice_schema::kinds::ConnectionKind;
use sluice_schema::repo::{connections, jobs};
use std::collections::HashMap;
use uuid::Uuid;

/// A connection as a form offers it.
pub struct Target {
    pub id: String,
    pub label: String,
}

/// A source column and the target field the form suggests for it.
pub struct Column {
    pub index: usize,
    pub name: String,
    pub suggested: String,
}

#[derive(Template)]
#[template(path = "import_new.html")]
struct NewImportPage {
    csrf: String,
    upload: Option<String>,
    columns: Vec<Column>,
    targets: Vec<Target>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct NewImportQuery {
    upload: Option<Uuid>,
}

/// The target field a column name suggests: `First Name` → `first_name`.
fn suggest(column: &str) -> String {
    let mut out = String::new();
    for c in column.trim().chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_owned()
}

pub async fn new_import(
    viewer: Viewer,
    state: web::Data<AppState>,
    query: web::Query<NewImportQuery>,
) -> Result<HttpResponse, ApiError> {
    let account = viewer.user.account_id;
    let rows = state
        .db(move |conn| Ok(connections::list(conn, account)?))
        .await?;
    let subject = crate::people::subject_key(&state, account).await?;
    let targets = open_all(&subject, rows)?
        .into_iter()
        .filter(|c| c.kind != ConnectionKind::Dropbox)
        .map(|c| Target {
            id: c.connection_id.to_string(),
            label: format!("{} ({})", c.name.unwrap_or_default(), c.kind),
        })
        .collect();
    let (upload, columns, error) = match query.upload {
        None => (None, Vec::new(), None),
        Some(id) => match described(&state, &viewer.user, id).await {
            Ok((_, columns)) => (
                Some(id.to_string()),
                columns
                    .into_iter()
                    .enumerate()
                    .map(|(index, name)| Column {
                        index,
                        suggested: suggest(&name),
                        name,
                    })
                    .collect(),
                None,
            ),
            Err(ApiError::NotFound | ApiError::Gone(_)) => (
                None,
                Vec::new(),
                Some(
                    "that upload is gone (uploads are kept an hour): upload the file again".into(),
                ),
            ),
            Err(other) => return Err(other),
        },
    };
    Ok(render::ok(&NewImportPage {
        csrf: viewer.csrf,
        upload,
        columns,
        targets,
        error,
    }))
}

/// A run as the history lists it.
pub struct RunLine {
    pub id: String,
    pub job: String,
    pub kind: String,
    pub status: String,
    pub rows_ok: i64,
    pub rows_failed: i64,
    pub requested_at: String,
}

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage {
    csrf: String,
    runs: Vec<RunLine>,
}

pub async fn runs(viewer: Viewer, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let account = viewer.user.account_id;
    let (rows, jobs) = state
        .db(move |conn| {
            let jobs = jobs::list(conn, account)?;
            Ok((jobs::latest_runs(conn, account, 100)?, jobs))
        })
        .await?;
    let subject = crate::people::subject_key(&state, account).await?;
    let names: HashMap<Uuid, String> = jobs
        .into_iter()
        .map(|row| open_job(&subject, row).map(|job| (job.row.job_id, job.details.name)))
        .collect::<Result<_, _>>()?;
    let runs = rows
        .into_iter()
        .map(|r| RunLine {
            id: r.run_id.to_string(),
            job: names
                .get(&r.job_id)
                .cloned()
                .unwrap_or_else(|| "(deleted job)".into()),
            kind: r.kind.to_string(),
            status: r.status.as_str().replace('_', " "),
            rows_ok: r.rows_ok,
            rows_failed: r.rows_failed,
            requested_at: when(&r.requested_at),
        })
        .collect();
    Ok(render::ok(&RunsPage {
        csrf: viewer.csrf,
        runs,
    }))
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    csrf: String,
    id: String,
    kind: String,
    status: String,
    rows_read: i64,
    rows_ok: i64,
    rows_failed: i64,
    message: String,
    requested_at: String,
    finished: bool,
    results: bool,
    rollback_of: Option<String>,
    rolled_back_by: Option<String>,
}

pub async fn run(
    viewer: Viewer,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let account = viewer.user.account_id;
    let id = RunId(path.into_inner());
    let run = state
        .db(move |conn| Ok(jobs::run(conn, account, id)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut opened = crate::routes::jobs::open_runs(&state, account, vec![run]).await?;
    let run = opened.pop().ok_or(ApiError::NotFound)?;
    let now = state.platform.clock.now();
    Ok(render::ok(&RunPage {
        csrf: viewer.csrf,
        id: run.run_id.to_string(),
        kind: run.kind.to_string(),
        status: run.status.to_string(),
        rows_read: run.rows_read,
        rows_ok: run.rows_ok,
        rows_failed: run.rows_failed,
        message: run.message.unwrap_or_default(),
        requested_at: when(&run.requested_at),
        finished: run.finished_at.is_some(),
        results: run.results_removed_at.is_none()
            && run.results_expire_at.is_some_and(|at| at > now),
        rollback_of: run.rollback_of.map(|r| r.to_string()),
        rolled_back_by: run.rolled_back_by.map(|r| r.to_string()),
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn column_names_suggest_snake_case_fields() {
        assert_eq!(super::suggest("First Name"), "first_name");
        assert_eq!(super::suggest(" Email "), "email");
        assert_eq!(super::suggest("Amount (EUR)"), "amount_eur");
    }
}
