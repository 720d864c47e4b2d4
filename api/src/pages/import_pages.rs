//! The import wizard (upload, target, mapping, clean, preview, run), the
//! run history, and one run with its live progress, result files and
//! rollback.

use super::render::{self, Viewer};
use super::words::{duration, status_words, thousands, time, StatusWords};
use crate::auth::Role;
use crate::error::ApiError;
use crate::routes::connection_details::open_all;
use crate::routes::jobs::failures::first_failures;
use crate::routes::jobs::open_job;
use crate::routes::jobs::previews::first_rows;
use crate::routes::uploads::described_named;
use crate::AppState;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;
use sluice_events::aggregate::trial::rest_id;
use sluice_schema::ids::{JobId, RunId, UploadId};
use sluice_schema::job::Source;
use sluice_schema::kinds::{ConnectionKind, RunKind};
use sluice_schema::repo::{connections, jobs};
use std::collections::HashMap;
use uuid::Uuid;

/// A connection as a form offers it.
pub struct Target {
    pub id: String,
    pub label: String,
    /// `postgres` or `salesforce`.
    pub kind: String,
}

/// A source column and a few of its first values.
pub struct Column {
    pub index: usize,
    pub name: String,
    pub samples: Vec<String>,
}

/// The file a new import reads.
pub struct UploadShown {
    /// Empty for a job that reads a query.
    pub id: String,
    pub filename: String,
    /// A workbook's sheet, or empty.
    pub sheet: String,
    /// What the import is called until its user names it: the file's name
    /// without its extension.
    pub name: String,
}

/// The wizard's steps, by the key its script shows them with.
const STEPS: [(&str, &str); 6] = [
    ("upload", "Upload"),
    ("target", "Target"),
    ("mapping", "Mapping"),
    ("clean", "Clean"),
    ("preview", "Preview"),
    ("run", "Run"),
];

/// How many of a column's first values the mapping step shows.
const SAMPLES: usize = 3;
/// The longest sample value shown, in characters.
const SAMPLE_CHARS: usize = 40;

#[derive(Template)]
#[template(path = "import_new.html")]
struct NewImportPage {
    csrf: String,
    steps: [(&'static str, &'static str); 6],
    upload: Option<UploadShown>,
    columns: Vec<Column>,
    targets: Vec<Target>,
    dropbox: Vec<Target>,
    /// The job reopened for editing: its name, id, and its definition as
    /// the API shows it (JSON), which the script fills the steps with.
    editing: Option<String>,
    job_id: Option<String>,
    job_json: Option<String>,
    error: Option<String>,
    /// Whether the viewer may define jobs (owners and admins).
    can_define: bool,
}

#[derive(Deserialize)]
pub struct NewImportQuery {
    upload: Option<Uuid>,
    job: Option<Uuid>,
}

const UPLOAD_GONE: &str = "that file is gone (uploads are kept an hour): upload it again";

/// The wizard: upload (or pick a file in Dropbox), then target, mapping,
/// clean, preview and run, for a new import or, with `?job=`, to change
/// one (with `&upload=`, reading a new file).
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
    let (dropbox, targets): (Vec<_>, Vec<_>) = open_all(&subject, rows)?
        .into_iter()
        .map(|c| Target {
            id: c.connection_id.to_string(),
            label: format!("{} ({})", c.name.unwrap_or_default(), kind_words(c.kind)),
            kind: c.kind.to_string(),
        })
        .partition(|t| t.kind == ConnectionKind::Dropbox.to_string());
    let job = match query.job {
        None => None,
        Some(id) => Some(crate::routes::jobs::find(&state, &viewer.user, id).await?),
    };
    let mut error = None;
    // The file read: a new upload, else the job's own source.
    let source = match (query.upload, &job) {
        (Some(id), _) => Some(Source::Upload {
            upload_id: UploadId(id),
            sheet: None,
        }),
        (None, Some(job)) => Some(job.details.source.clone()),
        (None, None) => None,
    };
    let mut upload = None;
    let mut columns = Vec::new();
    if let Some(source) = source {
        match shown_source(&state, &viewer, &source).await {
            Ok((shown, read)) => {
                upload = Some(shown);
                columns = read;
            }
            Err(ApiError::NotFound | ApiError::Gone(_)) => error = Some(UPLOAD_GONE.to_owned()),
            Err(other) => return Err(other),
        }
    }
    let job_json = job
        .as_ref()
        .map(|job| {
            serde_json::to_string(&crate::routes::jobs::job_view(
                job,
                state.platform.clock.now(),
            ))
        })
        .transpose()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    if let (Some(shown), Some(job)) = (upload.as_mut(), &job) {
        shown.name.clone_from(&job.details.name);
    }
    let can_define = matches!(viewer.user.role, Role::Owner | Role::Admin);
    Ok(render::ok(&NewImportPage {
        can_define,
        csrf: viewer.csrf,
        steps: STEPS,
        upload,
        columns,
        targets,
        dropbox,
        editing: job.as_ref().map(|job| job.details.name.clone()),
        job_id: job.as_ref().map(|job| job.row.job_id.to_string()),
        job_json,
        error,
    }))
}

/// A connection's kind as people name it.
fn kind_words(kind: ConnectionKind) -> &'static str {
    match kind {
        ConnectionKind::Salesforce => "Salesforce",
        ConnectionKind::Dropbox => "Dropbox",
        ConnectionKind::Postgres => "PostgreSQL",
    }
}

/// The source's name and its columns with their first values.
async fn shown_source(
    state: &AppState,
    viewer: &Viewer,
    source: &Source,
) -> Result<(UploadShown, Vec<Column>), ApiError> {
    let (id, filename, sheet) = match source {
        Source::Upload { upload_id, sheet } => {
            let (_, filename, _) = described_named(state, &viewer.user, upload_id.0).await?;
            (
                upload_id.0.to_string(),
                filename,
                sheet.clone().unwrap_or_default(),
            )
        }
        Source::Query { .. } => (String::new(), "a query".to_owned(), String::new()),
    };
    let (header, rows) = first_rows(state, &viewer.user, source, SAMPLES).await?;
    let columns = header
        .into_iter()
        .enumerate()
        .map(|(index, name)| Column {
            index,
            name,
            samples: rows
                .iter()
                .filter_map(|row| row.fields.as_ref().ok()?.get(index))
                .filter(|value| !value.trim().is_empty())
                .map(|value| shortened(value))
                .collect(),
        })
        .collect();
    let name = std::path::Path::new(&filename)
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or("Import")
        .to_owned();
    Ok((
        UploadShown {
            id,
            filename,
            sheet,
            name,
        },
        columns,
    ))
}

/// A value cut to [`SAMPLE_CHARS`] characters, with an ellipsis when cut.
fn shortened(value: &str) -> String {
    match value.char_indices().nth(SAMPLE_CHARS) {
        None => value.to_owned(),
        Some((at, _)) => format!("{}…", &value[..at]),
    }
}

/// A run as the history lists it.
pub struct RunLine {
    pub id: String,
    /// The job's name; a rollback is named after the job it undoes.
    pub job: String,
    pub rollback: bool,
    pub status: StatusWords,
    /// An import that a rollback undid.
    pub rolled_back: bool,
    pub rows_ok: String,
    pub rows_failed: String,
    pub requested_at: String,
}

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage {
    csrf: String,
    runs: Vec<RunLine>,
    /// Whether the account has an instance to import into (else the page
    /// says to connect one first).
    connected: bool,
}

/// The account's job names by id (a deleted job's too).
async fn job_names(
    state: &AppState,
    account: sluice_schema::ids::AccountId,
    rows: Vec<sluice_schema::models::JobRow>,
) -> Result<HashMap<Uuid, String>, ApiError> {
    let subject = crate::people::subject_key(state, account).await?;
    rows.into_iter()
        .map(|row| open_job(&subject, row).map(|job| (job.row.job_id, job.details.name)))
        .collect()
}

/// Whether a run's rows are all read while it has not ended: it is
/// writing its result files.
pub(super) fn finishing(run: &sluice_schema::models::RunRow) -> bool {
    run.finished_at.is_none()
        && run.started_at.is_some()
        && run
            .rows_total
            .is_some_and(|total| total > 0 && run.rows_read >= total)
}

pub async fn runs(viewer: Viewer, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let account = viewer.user.account_id;
    let (rows, jobs, connections) = state
        .db(move |conn| {
            let jobs = jobs::list_all(conn, account)?;
            let connections = connections::list(conn, account)?;
            Ok((jobs::latest_runs(conn, account, 100)?, jobs, connections))
        })
        .await?;
    // Only the jobs of the runs listed are opened (their names are sealed).
    let listed: std::collections::HashSet<Uuid> = rows.iter().map(|r| r.job_id).collect();
    let jobs = jobs
        .into_iter()
        .filter(|j| listed.contains(&j.job_id))
        .collect();
    let names = job_names(&state, account, jobs).await?;
    let runs = rows
        .into_iter()
        .map(|r| RunLine {
            id: r.run_id.to_string(),
            job: names
                .get(&r.job_id)
                .cloned()
                .unwrap_or_else(|| "(deleted job)".into()),
            rollback: r.kind == RunKind::Rollback,
            status: status_words(r.kind, r.status, r.rows_failed, finishing(&r)),
            rolled_back: r.rolled_back_by.is_some(),
            rows_ok: thousands(r.rows_ok),
            rows_failed: thousands(r.rows_failed),
            requested_at: time(&r.requested_at),
        })
        .collect();
    Ok(render::ok(&RunsPage {
        csrf: viewer.csrf,
        runs,
        connected: !connections.is_empty(),
    }))
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    csrf: String,
    id: String,
    job: String,
    kind: String,
    /// The status as the API names it, for the page's script.
    status: String,
    words: StatusWords,
    rows_read: i64,
    rows_total: Option<i64>,
    rows_ok: i64,
    rows_failed: i64,
    rows_skipped: i64,
    message: String,
    requested_at: String,
    started_at: Option<String>,
    /// When it started, for the script's estimate of the time left.
    started_iso: Option<String>,
    finished_at: Option<String>,
    duration: Option<String>,
    finished: bool,
    results: bool,
    /// Whether a rollback of this run can be asked for now: a finished
    /// import that wrote rows, kept what it changed, and was not rolled
    /// back already.
    can_roll_back: bool,
    rollback_of: Option<String>,
    rolled_back_by: Option<String>,
    /// The first failed rows, in plain words (none once the files expired).
    failures: Vec<FailedLine>,
    /// Whether "Retry the failed rows" can succeed now.
    can_retry: bool,
    /// The job, when "Run the remaining rows" of this trial can succeed now.
    rest_of: Option<String>,
}

/// A failed row as the run page lists it.
pub struct FailedLine {
    pub row: i64,
    /// The source column, else the target field, the reason concerns.
    pub column: String,
    pub reason: String,
}

/// A count however the template holds it.
struct Count(i64);

impl From<i64> for Count {
    fn from(n: i64) -> Self {
        Self(n)
    }
}

impl From<&i64> for Count {
    fn from(n: &i64) -> Self {
        Self(*n)
    }
}

impl From<&&i64> for Count {
    fn from(n: &&i64) -> Self {
        Self(**n)
    }
}

impl RunPage {
    /// A count as the page shows it, before its script shows it in the
    /// viewer's way of writing numbers.
    fn n(&self, count: impl Into<Count>) -> String {
        thousands(count.into().0)
    }
}

pub async fn run(
    viewer: Viewer,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let account = viewer.user.account_id;
    let id = RunId(path.into_inner());
    let (run, job) = state
        .db(move |conn| {
            let Some(run) = jobs::run(conn, account, id)? else {
                return Ok((None, None));
            };
            let job =
                jobs::find_any(conn, JobId(run.job_id))?.filter(|j| j.account_id == account.0);
            Ok((Some(run), job))
        })
        .await?;
    let run = run.ok_or(ApiError::NotFound)?;
    let job = match job {
        Some(row) => Some(open_job(
            &crate::people::subject_key(&state, account).await?,
            row,
        )?),
        None => None,
    };
    // The rest of a trial reads the job's upload again (a query's rows may
    // have changed since).
    let upload_source = job
        .as_ref()
        .filter(|j| matches!(j.details.source, Source::Upload { .. }))
        .map(|j| j.row.job_id);
    let rest_asked = match run.sample_rows {
        Some(_) => {
            let rest = RunId(rest_id(run.run_id));
            state
                .db(move |conn| Ok(jobs::run(conn, account, rest)?.is_some()))
                .await?
        }
        None => true,
    };
    let mut opened = crate::routes::jobs::open_runs(&state, account, vec![run]).await?;
    let run = opened.pop().ok_or(ApiError::NotFound)?;
    let now = state.platform.clock.now();
    let finished = run.finished_at.is_some();
    let results =
        run.results_removed_at.is_none() && run.results_expire_at.is_some_and(|at| at > now);
    let import = run.kind == RunKind::Import;
    let failures = if import && finished && results && run.rows_failed > 0 {
        first_failures(&state, &viewer.user, &run, 20)
            .await?
            .into_iter()
            .map(|f| FailedLine {
                row: i64::try_from(f.row).unwrap_or(i64::MAX),
                column: f.column.or(f.field).unwrap_or_default(),
                reason: f.reason,
            })
            .collect()
    } else {
        Vec::new()
    };
    let can_retry = import && finished && results && run.rows_failed > 0;
    let rest_of = upload_source
        .filter(|_| import && finished && results && !rest_asked && run.rolled_back_by.is_none());
    Ok(render::ok(&RunPage {
        csrf: viewer.csrf,
        id: run.run_id.to_string(),
        job: job.map_or_else(|| "(deleted job)".into(), |j| j.details.name),
        kind: run.kind.to_string(),
        status: run.status.to_string(),
        words: status_words(run.kind, run.status, run.rows_failed, finishing(&run)),
        rows_read: run.rows_read,
        rows_total: run.rows_total,
        rows_ok: run.rows_ok,
        rows_failed: run.rows_failed,
        rows_skipped: run.rows_skipped,
        message: run.message.clone().unwrap_or_default(),
        requested_at: time(&run.requested_at),
        started_at: run.started_at.as_ref().map(time),
        started_iso: run.started_at.map(|at| at.to_rfc3339()),
        finished_at: run.finished_at.as_ref().map(time),
        duration: run
            .started_at
            .zip(run.finished_at)
            .map(|(from, to)| duration(from, to)),
        finished,
        results,
        can_roll_back: run.kind == RunKind::Import
            && finished
            && run.rows_ok > 0
            && run.rolled_back_by.is_none()
            && results,
        rollback_of: run.rollback_of.map(|r| r.to_string()),
        rolled_back_by: run.rolled_back_by.map(|r| r.to_string()),
        failures,
        can_retry,
        rest_of: rest_of.map(|job| job.to_string()),
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_long_sample_value_is_cut_at_a_character_with_an_ellipsis() {
        assert_eq!(super::shortened("Ada"), "Ada");
        let long = "é".repeat(super::SAMPLE_CHARS + 5);
        let shown = super::shortened(&long);
        assert_eq!(shown.chars().count(), super::SAMPLE_CHARS + 1);
        assert!(shown.ends_with('…'));
    }
}
