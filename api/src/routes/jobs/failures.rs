//! `GET /v1/runs/{id}/failures`: the first rows a run could not write, each
//! with its reason in plain words (see [`crate::failure_words`]), read from
//! the run's errors.csv while its result files are kept.

use super::runs::open_result;
use super::*;
use crate::failure_words::plain;

/// The most failed rows one call returns.
pub const MAX_FAILURES: usize = 100;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FailuresQuery {
    /// How many rows, from the first: 1 to 100 (20 by default).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
}

/// The first failed rows of a run: the row's number, the field concerned
/// and the reason in plain words (never a value of the row).
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The run."), FailuresQuery),
    responses(
        Authenticated,
        (status = 200, description = "The first failed rows.", body = views::RowFailures),
        (status = 400, description = "`bad_request`: the query string is not `limit=<number>`.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such run in the account.", body = ErrorBody),
        (status = 409, description = "`conflict`: the run has not finished.", body = ErrorBody),
        (status = 410, description = "`gone`: the result files expired, or the account keeps \
            none.", body = ErrorBody),
        (status = 422, description = "`invalid`: a limit outside 1 to 100.", body = ErrorBody),
    )
)]
#[get("/v1/runs/{id}/failures")]
pub async fn list(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
    query: web::Query<FailuresQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=MAX_FAILURES).contains(&limit) {
        return Err(invalid("limit", "limit must be between 1 and 100"));
    }
    let run = RunId(path.into_inner());
    let account = user.account_id;
    let row = state
        .db(move |conn| Ok(repo::run(conn, account, run)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    let failures = first_failures(&state, &user, &row, limit).await?;
    Ok(HttpResponse::Ok().json(views::RowFailures {
        failures,
        rows_failed: row.rows_failed,
    }))
}

/// The first `limit` rows of `run`'s errors.csv in plain words, the field
/// each concerns and the source column mapped to it.
pub(crate) async fn first_failures(
    state: &AppState,
    user: &AuthUser,
    run: &RunRow,
    limit: usize,
) -> Result<Vec<views::RowFailure>, ApiError> {
    let reader = open_result(state, user, RunId(run.run_id), "errors").await?;
    let account = user.account_id;
    let job_id = JobId(run.job_id);
    let job = state
        .db(move |conn| Ok(repo::find_any(conn, job_id)?))
        .await?
        .filter(|j| j.account_id == account.0);
    let job = match job {
        Some(row) => Some(open_job(&subject_key(state, account).await?, row)?),
        None => None,
    };
    // Decrypting and parsing read the file: blocking I/O.
    let errors = web::block(move || first_errors(reader, limit))
        .await?
        .map_err(|e| ApiError::Internal(format!("errors.csv: {e}")))?;
    let object = job
        .as_ref()
        .map_or("the target", |j| j.details.target.object.as_str());
    Ok(errors
        .into_iter()
        .map(|(row, error)| {
            let said = plain(&error, object);
            let column = job.as_ref().and_then(|j| {
                let field = said.field.as_deref()?;
                let mapped = j.details.mapping.iter().find(|m| m.target == field)?;
                mapped.source.clone()
            });
            views::RowFailure {
                row,
                field: said.field,
                column,
                reason: said.reason,
            }
        })
        .collect())
}

/// errors.csv's first `limit` rows as (row number, ERROR cell); a line
/// that numbers no row (a note about a lost piece) is left out.
fn first_errors(reader: impl std::io::Read, limit: usize) -> csv::Result<Vec<(u64, String)>> {
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(reader);
    let mut out = Vec::with_capacity(limit);
    for record in csv.records() {
        let record = record?;
        let Some(row) = record.get(0).and_then(|n| n.parse().ok()) else {
            continue;
        };
        out.push((row, record.get(1).unwrap_or_default().to_owned()));
        if out.len() == limit {
            break;
        }
    }
    Ok(out)
}
