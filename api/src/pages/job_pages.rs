//! The jobs page (each job, where it writes, when it runs and how its last
//! run went) and a job's page (its definition in words, its runs, running,
//! deleting, and its schedule: set, paused, resumed, removed).

use super::import_pages::finishing;
use super::job_words::{operation_words, schedule_words, shape, transform_words, Shape, DAYS};
use super::render::{self, Viewer};
use super::words::{status_words, thousands, time, StatusWords};
use crate::auth::Role;
use crate::error::ApiError;
use crate::routes::connection_details::open_all;
use crate::routes::jobs::{open_job, Job};
use crate::AppState;
use actix_web::{web, HttpResponse};
use askama::Template;
use sluice_schema::ids::{AccountId, JobId};
use sluice_schema::job::{BlankValues, Keep, Source};
use sluice_schema::models::RunRow;
use sluice_schema::repo::{connections, jobs};
use std::collections::HashMap;
use uuid::Uuid;

/// A run as a job's pages show it.
pub struct RunLine {
    pub id: String,
    pub rollback: bool,
    pub status: StatusWords,
    pub rows_ok: i64,
    pub rows_failed: i64,
    /// The counts as the page shows them before its script does.
    pub ok_text: String,
    pub failed_text: String,
    pub requested_at: String,
}

impl From<&RunRow> for RunLine {
    fn from(r: &RunRow) -> Self {
        Self {
            id: r.run_id.to_string(),
            rollback: r.kind == sluice_schema::kinds::RunKind::Rollback,
            status: status_words(r.kind, r.status, r.rows_failed, finishing(r)),
            rows_ok: r.rows_ok,
            rows_failed: r.rows_failed,
            ok_text: thousands(r.rows_ok),
            failed_text: thousands(r.rows_failed),
            requested_at: time(&r.requested_at),
        }
    }
}

/// A job as the jobs page lists it.
pub struct JobLine {
    pub id: String,
    pub name: String,
    pub target: String,
    pub operation: &'static str,
    pub schedule: Option<String>,
    pub paused: bool,
    pub last_run: Option<RunLine>,
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage {
    csrf: String,
    jobs: Vec<JobLine>,
    connected: bool,
}

/// The account's connection names by id.
async fn connection_names(
    state: &AppState,
    account: AccountId,
) -> Result<HashMap<Uuid, String>, ApiError> {
    let rows = state
        .db(move |conn| Ok(connections::list(conn, account)?))
        .await?;
    let subject = crate::people::subject_key(state, account).await?;
    Ok(open_all(&subject, rows)?
        .into_iter()
        .map(|c| (c.connection_id, c.name.unwrap_or_default()))
        .collect())
}

/// Where a job writes: "warehouse: contacts".
fn target_words(job: &Job, names: &HashMap<Uuid, String>) -> String {
    let target = &job.details.target;
    let connection = names
        .get(&target.connection_id.0)
        .map_or("(disconnected)", String::as_str);
    format!("{connection}: {}", target.object)
}

pub async fn jobs_page(
    viewer: Viewer,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let account = viewer.user.account_id;
    let (rows, runs) = state
        .db(move |conn| {
            let rows = jobs::list(conn, account)?;
            let mut latest = HashMap::new();
            for row in &rows {
                let runs = jobs::runs_of(conn, account, JobId(row.job_id))?;
                if let Some(run) = runs.into_iter().next() {
                    latest.insert(row.job_id, run);
                }
            }
            Ok((rows, latest))
        })
        .await?;
    let names = connection_names(&state, account).await?;
    let subject = crate::people::subject_key(&state, account).await?;
    let jobs = rows
        .into_iter()
        .map(|row| {
            let job = open_job(&subject, row)?;
            Ok(JobLine {
                id: job.row.job_id.to_string(),
                target: target_words(&job, &names),
                operation: operation_words(job.row.operation),
                schedule: job.row.schedule.as_deref().map(schedule_words),
                paused: job.row.schedule_paused,
                last_run: runs.get(&job.row.job_id).map(RunLine::from),
                name: job.details.name,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(render::ok(&JobsPage {
        csrf: viewer.csrf,
        jobs,
        connected: !names.is_empty(),
    }))
}

/// One field of the mapping: where its value comes from.
pub struct MapLine {
    pub target: String,
    pub from: String,
    pub transforms: String,
}

/// The schedule form's preset, filled from the job's schedule.
pub struct Preset {
    pub kind: &'static str,
    pub minute: u32,
    pub time: String,
    pub day: &'static str,
    pub cron: String,
}

impl Preset {
    fn of(schedule: Option<&str>) -> Self {
        let mut preset = Self {
            kind: "daily",
            minute: 0,
            time: "06:00".into(),
            day: "MON",
            cron: schedule.unwrap_or_default().to_owned(),
        };
        match schedule.map(shape) {
            None => {}
            Some(Shape::Hourly { minute }) => (preset.kind, preset.minute) = ("hourly", minute),
            Some(Shape::Daily { hour, minute }) => {
                preset.time = format!("{hour:02}:{minute:02}");
            }
            Some(Shape::Weekly { day, hour, minute }) => {
                preset.kind = "weekly";
                preset.day = day;
                preset.time = format!("{hour:02}:{minute:02}");
            }
            Some(Shape::Cron) => preset.kind = "cron",
        }
        preset
    }
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage {
    csrf: String,
    id: String,
    name: String,
    /// "The file people.csv" or "A query on warehouse".
    source: String,
    query: Option<String>,
    target: String,
    operation: &'static str,
    key_fields: String,
    mapping: Vec<MapLine>,
    filter: Option<String>,
    dedupe: Option<String>,
    blanks: &'static str,
    runs: Vec<RunLine>,
    /// Whether the job reads a query (only such a job can be scheduled).
    schedulable: bool,
    /// Whether the viewer may change the job (owners and admins).
    can_manage: bool,
    schedule: Option<String>,
    next_run: Option<String>,
    paused: bool,
    retry_failed: bool,
    preset: Preset,
    days: [(&'static str, &'static str); 7],
}

/// What a job reads, in words, and its query.
async fn source_words(
    state: &AppState,
    viewer: &Viewer,
    job: &Job,
    names: &HashMap<Uuid, String>,
) -> Result<(String, Option<String>), ApiError> {
    Ok(match &job.details.source {
        Source::Upload { upload_id, sheet } => {
            let file = crate::routes::uploads::filename(state, &viewer.user, upload_id.0).await?;
            let file = file.map_or("An uploaded file, now deleted".into(), |name| {
                format!("The file {name}")
            });
            let sheet = sheet
                .as_ref()
                .map_or(String::new(), |s| format!(", sheet {s}"));
            (format!("{file}{sheet}"), None)
        }
        Source::Query {
            connection_id,
            query,
        } => {
            let connection = names
                .get(&connection_id.0)
                .map_or("(disconnected)", String::as_str);
            (format!("A query on {connection}"), Some(query.clone()))
        }
    })
}

fn mapping_lines(job: &Job) -> Vec<MapLine> {
    job.details
        .mapping
        .iter()
        .map(|m| MapLine {
            target: m.target.clone(),
            from: match (&m.formula, &m.source) {
                (Some(formula), _) => format!("the formula {formula}"),
                (None, Some(column)) => format!("the column {column}"),
                (None, None) => "its transforms alone".into(),
            },
            transforms: transform_words(&m.transform),
        })
        .collect()
}

pub async fn job_page(
    viewer: Viewer,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let account = viewer.user.account_id;
    let viewer_role = viewer.user.role;
    let id = JobId(path.into_inner());
    let (row, runs) = state
        .db(move |conn| {
            let Some(row) = jobs::find(conn, account, id)? else {
                return Ok((None, Vec::new()));
            };
            Ok((Some(row), jobs::runs_of(conn, account, id)?))
        })
        .await?;
    let row = row.ok_or(ApiError::NotFound)?;
    let subject = crate::people::subject_key(&state, account).await?;
    let job = open_job(&subject, row)?;
    let names = connection_names(&state, account).await?;
    let (source, query) = source_words(&state, &viewer, &job, &names).await?;
    let view = crate::routes::jobs::job_view(&job, state.platform.clock.now());
    let details = &job.details;
    Ok(render::ok(&JobPage {
        csrf: viewer.csrf,
        id: id.0.to_string(),
        name: details.name.clone(),
        schedulable: query.is_some(),
        can_manage: matches!(viewer_role, Role::Owner | Role::Admin),
        source,
        query,
        target: target_words(&job, &names),
        operation: operation_words(job.row.operation),
        key_fields: details.key_fields.join(", "),
        mapping: mapping_lines(&job),
        filter: details.filter.clone(),
        dedupe: details.dedupe.as_ref().map(|d| {
            format!(
                "Rows with the same {} ({}) are written once: the {} kept",
                d.fields.join(", "),
                if d.case_insensitive {
                    "ignoring case"
                } else {
                    "exactly"
                },
                if d.keep == Keep::Last {
                    "last"
                } else {
                    "first"
                },
            )
        }),
        blanks: match details.blank_values {
            BlankValues::Clear => "A blank value clears the field",
            BlankValues::Leave => "A blank value leaves the field as it is",
        },
        runs: runs.iter().map(RunLine::from).collect(),
        schedule: job.row.schedule.as_deref().map(schedule_words),
        next_run: view.next_run_at.as_ref().map(time),
        paused: job.row.schedule_paused,
        retry_failed: job.row.retry_failed,
        preset: Preset::of(job.row.schedule.as_deref()),
        days: DAYS,
    }))
}
