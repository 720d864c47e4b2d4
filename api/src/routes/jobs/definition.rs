//! A job's definition checked against its source and target before it is
//! recorded (`POST /v1/jobs`, `PATCH /v1/jobs/{id}`): both are reached.
//! Its formulas and filter are parsed against the source's header here,
//! and a mistake refuses the whole job, naming the mapping entry (or the
//! filter) and the position in the formula.

use super::sealing::Definition;
use super::*;
use sluice_connectors::formula::EvalContext;
use sluice_connectors::mapping::{check_bounds, check_dedupe, check_formulas, Filter};
use sluice_schema::ids::UploadId;

/// What formulas see when the API evaluates them (a preview, a check):
/// the platform clock's now, in UTC, as a run requested now would.
pub(crate) fn formula_context(state: &AppState) -> EvalContext {
    EvalContext {
        now: state.platform.clock.now(),
        time_zone: chrono_tz::UTC,
    }
}

/// The job's filter checked against the source's `columns`, trimmed; none
/// when absent or blank.
fn checked_filter(
    filter: Option<&str>,
    columns: &[String],
    context: EvalContext,
) -> Result<Option<String>, ApiError> {
    match filter.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => {
            Filter::new(text, columns, context).map_err(|e| invalid("filter", e))?;
            Ok(Some(text.to_owned()))
        }
    }
}

/// An upload as a job's source: the source as the job keeps it, and the
/// columns of the file (or of its chosen sheet).
async fn upload_source(
    state: &AppState,
    user: &AuthUser,
    upload_id: UploadId,
    sheet: &Option<String>,
) -> Result<(Source, Vec<String>), ApiError> {
    let (upload, columns) = match uploads::described(state, user, upload_id.0).await {
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
    let columns = match &sheet {
        Some(name) => {
            read_rows(state, user, &upload, Some(name.clone()), 0)
                .await?
                .0
        }
        None => columns,
    };
    Ok((Source::Upload { upload_id, sheet }, columns))
}

pub(super) fn source_error(e: TargetError) -> ApiError {
    match e {
        TargetError::Connect(reason) => invalid(
            SOURCE,
            format!("the source database cannot be reached: {reason}"),
        ),
        other => invalid("source.query", other.to_string()),
    }
}

pub(super) fn target_error(e: TargetError) -> ApiError {
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
pub(super) async fn define(
    state: &AppState,
    user: &AuthUser,
    body: NewJob,
    job: Option<JobId>,
) -> Result<Definition, ApiError> {
    let name = text("name", &body.name, 200)?;
    let schedule = match body.schedule.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(expression) => {
            Schedule::parse(expression).map_err(|e| invalid("schedule", e))?;
            if matches!(body.source, Source::Upload { .. }) {
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
    if body.retry_failed && schedule.is_none() {
        return Err(invalid(
            "retry_failed",
            "retry_failed is for a scheduled job, whose next run retries what the last one \
             failed; retry a run's failed rows with POST /v1/runs/{id}/retry",
        ));
    }
    if body.schedule_paused && schedule.is_none() {
        return Err(invalid(
            "schedule_paused",
            "only a scheduled job can be paused: this job runs only when asked",
        ));
    }
    let operation = body.operation;
    let (source, columns) = read_source(state, user, &body.source).await?;
    let (mapping, auto_match) = super::choice::resolve(state, user, &body, &columns).await?;
    let context = formula_context(state);
    check_bounds(&mapping).map_err(|e| invalid("mapping", e))?;
    check_formulas(&mapping, &columns).map_err(|(field, e)| invalid(&field, e))?;
    let filter = checked_filter(body.filter.as_deref(), &columns, context)?;
    if let Some(dedupe) = &body.dedupe {
        check_dedupe(dedupe, &mapping).map_err(|(field, e)| invalid(&field, e))?;
    }
    let plan = Plan::new(&mapping, &columns, context).map_err(|e| invalid("mapping", e))?;
    let object = text("target.object", &body.target.object, 200)?;
    let target = match connections::find(state, user, body.target.connection_id.0).await {
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

    Ok(Definition {
        details: JobDetails {
            name,
            source,
            target: Target {
                connection_id: body.target.connection_id,
                object,
            },
            key_fields: body.key_fields,
            mapping,
            filter,
            dedupe: body.dedupe,
            blank_values: body.blank_values,
        },
        operation,
        schedule,
        retry_failed: body.retry_failed,
        schedule_paused: body.schedule_paused,
        auto_match,
    })
}

/// A job's source as the job keeps it (a query normalised), and its
/// columns: an upload's header (of its chosen sheet), or what the query
/// answers (its database is reached).
pub(crate) async fn read_source(
    state: &AppState,
    user: &AuthUser,
    source: &Source,
) -> Result<(Source, Vec<String>), ApiError> {
    Ok(match source {
        Source::Upload { upload_id, sheet } => {
            upload_source(state, user, *upload_id, sheet).await?
        }
        Source::Query {
            connection_id,
            query,
        } => {
            let query = pg::normalize_query(query).map_err(|e| invalid("source.query", e))?;
            let params =
                match connections::postgres_params(state, user, connection_id.0, SOURCE).await {
                    Err(ApiError::NotFound) => return Err(invalid(SOURCE, "no such connection")),
                    other => other?,
                };
            let mut client = pg::connect(&params).await.map_err(source_error)?;
            let columns = pg::describe_query(&mut client, &query)
                .await
                .map_err(source_error)?;
            let connection_id = *connection_id;
            (
                Source::Query {
                    connection_id,
                    query,
                },
                columns,
            )
        }
    })
}

/// Checks a job's target table (its database is reached): a column for
/// every mapped field, a value for every column that needs one, the key
/// fields unique, the lookups' tables and columns there.
async fn check_postgres_target(
    params: &pg::PgParams,
    object: &str,
    operation: Operation,
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
