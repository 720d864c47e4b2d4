//! Runs over part of a job's source: a trial (`{"sample": N}`, N rows at
//! random or the first N), the rest of a trial (`{"remaining_of": run}`),
//! and a retry of a run's failed rows (`POST /v1/runs/{id}/retry`).
//!
//! The API decides which run is asked and records it in `run.requested`
//! (a random trial's seed included); the worker chooses the rows from
//! that record alone, so every attempt of a run writes the same rows.

use super::*;
use crate::streams;
use sluice_events::aggregate::run as run_aggregate;
use sluice_events::aggregate::trial::{rest_id, FilesContext, RestContext};
use sluice_events::event::{Sample, MAX_SAMPLE_ROWS};
use sluice_schema::kinds::SampleOrder;

/// A random sample's seed is below 2^53, so that any JSON reader of the
/// event holds it exactly.
const SEED_BITS: u32 = 53;

/// What `POST /v1/jobs/{id}/runs` may ask (an empty body runs the whole
/// source).
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// A trial run: write this many rows (1 to 100,000) of the source,
    /// chosen at random unless `sample_order` is `first`. A sample larger
    /// than the source writes every row.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100_000, nullable = false)]
    sample: Option<u32>,
    /// With `sample`: `random` (the default; reproducible, the run keeps
    /// its seed) or `first` (the source's first rows).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "random", nullable = false)]
    sample_order: Option<SampleOrder>,
    /// The rest of a trial run of this job: every row of the source that
    /// the trial did not write (rows it did not choose, and those it chose
    /// but failed or skipped).
    #[serde(default)]
    #[schema(nullable = false)]
    remaining_of: Option<Uuid>,
}

impl RunRequest {
    /// The trial whose rest is asked.
    pub(super) fn remaining_of(&self) -> Option<Uuid> {
        self.remaining_of
    }
}

/// Reads the body of `POST /v1/jobs/{id}/runs`: empty, or a [`RunRequest`].
pub(super) fn run_request(body: &[u8]) -> Result<RunRequest, ApiError> {
    let request: RunRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RunRequest::default()
    } else {
        serde_json::from_slice(body).map_err(ApiError::from)?
    };
    if let Some(rows) = request.sample {
        if !(1..=MAX_SAMPLE_ROWS).contains(&rows) {
            return Err(invalid(
                "sample",
                format!("a trial writes 1 to {MAX_SAMPLE_ROWS} rows"),
            ));
        }
    } else if request.sample_order.is_some() {
        return Err(invalid(
            "sample_order",
            "only a trial (`sample`) has an order",
        ));
    }
    if request.sample.is_some() && request.remaining_of.is_some() {
        return Err(invalid(
            "remaining_of",
            "a run is a trial (`sample`) or the rest of one (`remaining_of`), not both",
        ));
    }
    Ok(request)
}

/// The trial `request` asks of `job`, its seed drawn now; none for a run
/// of the whole source.
pub(super) fn sample_of(request: &RunRequest, job: &Job) -> Option<Sample> {
    let rows = request.sample?;
    let order = request.sample_order.unwrap_or(SampleOrder::Random);
    let seed = match order {
        SampleOrder::Random => {
            use argon2::password_hash::rand_core::{OsRng, RngCore};
            // Never 0, which stands for no seed.
            (OsRng.next_u64() >> (64 - SEED_BITS)).max(1)
        }
        SampleOrder::First => 0,
    };
    let upload_id = match &job.details.source {
        Source::Upload { upload_id, .. } => Some(upload_id.0),
        Source::Query { .. } => None,
    };
    Some(Sample {
        rows,
        order,
        seed,
        upload_id,
    })
}

/// Where the caller's account keeps its run `id`'s result files: whether
/// it keeps any, and when the run's expire.
async fn files_context(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
) -> Result<FilesContext, ApiError> {
    let account = user.account_id;
    let (store_results, results_expire_at) = state
        .db(move |conn| {
            let store = sluice_schema::repo::accounts::find_account(conn, account)?
                .is_none_or(|a| a.store_results);
            let expires = repo::run(conn, account, RunId(id))?.and_then(|r| r.results_expire_at);
            Ok((store, expires))
        })
        .await?;
    Ok(FilesContext {
        now: state.platform.clock.now(),
        store_results,
        results_expire_at,
    })
}

/// Queues the rest of trial `trial` of `job`, decided on the trial's
/// stream: 202 with the rest's id (one per trial).
pub(super) async fn queue_rest(
    state: &AppState,
    user: &AuthUser,
    job: &Job,
    trial: Uuid,
) -> Result<HttpResponse, ApiError> {
    let job_id = job.row.job_id;
    let upload_id = match &job.details.source {
        Source::Upload { upload_id, .. } => Some(upload_id.0),
        Source::Query { .. } => None,
    };
    let rest = streams::decide(state, || async move {
        let account = user.account_id;
        let (history, asked) = state
            .db(move |conn| {
                let history = run_aggregate::load_history(conn, account, trial)?;
                let rest =
                    sluice_events::aggregate::load::<run_aggregate::Run>(conn, rest_id(trial))?;
                Ok((history, rest.state.account.is_some().then_some(rest.id)))
            })
            .await?;
        let context = RestContext {
            job_id,
            upload_id,
            asked,
            files: files_context(state, user, trial).await?,
        };
        let requested = history.request_rest(account, &context)?;
        Ok(streams::request(
            state,
            user,
            "run",
            rest_id(trial),
            ExpectedVersion::NoStream,
            vec![DomainEvent::RunRequested(requested)],
        ))
    })
    .await?;
    Ok(HttpResponse::Accepted().json(views::RunQueued {
        run_id: rest,
        status: "queued".into(),
    }))
}

/// `POST /v1/runs/{id}/retry`: a run over exactly the rows of the run's
/// errors.csv, read from its kept result files (not from the source, so
/// it works once the upload has expired), with the job's mapping as it is
/// now. Rows that succeed now are written; the others fail again with
/// their new reason; the result files number the rows as the first run
/// did.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The run whose failed rows to retry.")),
    responses(
        Authenticated,
        (status = 202, description = "The retry is queued, a run of its own.", body = views::RunQueued),
        (status = 402, description = "`plan_limit`: the account's imports have read the plan's \
            rows for this month.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such run in the account.", body = ErrorBody),
        (status = 409, description = "`conflict`: a rollback, a run still working, or one that \
            had no failed rows.", body = ErrorBody),
        (status = 410, description = "`gone`: the run's result files expired, or the account \
            keeps none.", body = ErrorBody),
    )
)]
#[post("/v1/runs/{id}/retry")]
pub async fn retry(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let (state, user): (&AppState, &AuthUser) = (&state, &user);
    let account = user.account_id;
    let history = state
        .db(move |conn| Ok(run_aggregate::load_history(conn, account, id)?))
        .await?;
    let requested = history.request_retry(account, &files_context(state, user, id).await?)?;
    crate::limits::check_rows(state, account).await?;
    let retry = RunId::new();
    state
        .platform
        .appender
        .append(streams::request(
            state,
            user,
            "run",
            retry.0,
            ExpectedVersion::NoStream,
            vec![DomainEvent::RunRequested(requested)],
        ))
        .await?;
    Ok(HttpResponse::Accepted().json(views::RunQueued {
        run_id: retry.0,
        status: "queued".into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_field(body: &str) -> String {
        match run_request(body.as_bytes()) {
            Err(ApiError::Invalid { field, .. }) => field,
            Err(other) => panic!("not a 422: {other:?}"),
            Ok(_) => panic!("accepted: {body}"),
        }
    }

    #[test]
    fn a_trial_is_bounded_and_is_not_the_rest_of_one() {
        assert!(run_request(b"").unwrap().sample.is_none());
        assert_eq!(run_request(br#"{"sample": 1}"#).unwrap().sample, Some(1));
        let most = format!(r#"{{"sample": {MAX_SAMPLE_ROWS}, "sample_order": "first"}}"#);
        assert_eq!(
            run_request(most.as_bytes()).unwrap().sample,
            Some(MAX_SAMPLE_ROWS)
        );
        assert_eq!(refused_field(r#"{"sample": 0}"#), "sample");
        let over = format!(r#"{{"sample": {}}}"#, MAX_SAMPLE_ROWS + 1);
        assert_eq!(refused_field(&over), "sample");
        assert_eq!(
            refused_field(r#"{"sample_order": "first"}"#),
            "sample_order"
        );
        let both = format!(r#"{{"sample": 5, "remaining_of": "{}"}}"#, Uuid::nil());
        assert_eq!(refused_field(&both), "remaining_of");
    }
}
