//! A job's definition checked against its source and target before it is
//! recorded (`POST /v1/jobs`, `PATCH /v1/jobs/{id}`): both are reached.

use super::sealing::Definition;
use super::*;

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
    Ok(Definition {
        details: JobDetails {
            name,
            source,
            target: json!({ "connection_id": body.target.connection_id, "object": object }),
            key_fields: body.key_fields,
            mapping,
        },
        operation: body.operation,
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
