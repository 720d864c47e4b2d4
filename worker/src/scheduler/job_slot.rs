//! A job's slot: the run it requests, unless the job is gone, its schedule
//! was paused since the slot fired, a run of it is still queued or working,
//! or the account's plan allows fewer scheduled jobs.

use super::CONSUMER;
use crate::retry_on;
use sluice_events::consumer::HandlerError;
use sluice_events::event::RunRequested;
use sluice_events::Platform;
use sluice_events::{AppendError, AppendRequest, DomainEvent, ExpectedVersion, Metadata, NewEvent};
use uuid::Uuid;

/// A job's slot: the run is requested, under the slot's event id (so a
/// slot delivered twice requests one run), unless the job is gone or a run
/// of it is still queued or working.
pub(super) async fn request_run(
    platform: &Platform,
    cause: &sluice_events::RecordedEvent,
    job: Uuid,
    actor: &str,
    plan_limits: bool,
) -> Result<(), HandlerError> {
    let Some(account) = cause.account_id else {
        return Err(HandlerError::Reject("a job's slot names no account".into()));
    };
    let pool = platform.pool.clone();
    let now = platform.clock.now();
    let (live, busy, over, retried) = tokio::task::spawn_blocking(move || {
        use diesel::prelude::*;
        use sluice_schema::schema::{jobs, runs};
        let mut conn = pool.get().map_err(|e| e.to_string())?;
        let over = over_plan(&mut conn, plan_limits, account, job).map_err(|e| e.to_string())?;
        let found: Option<bool> = jobs::table
            .find(job)
            .filter(jobs::account_id.eq(account.0))
            .filter(jobs::deleted_at.is_null())
            .filter(jobs::schedule.is_not_null())
            .filter(jobs::schedule_paused.eq(false))
            .select(jobs::retry_failed)
            .first(&mut conn)
            .optional()
            .map_err(|e| e.to_string())?;
        let live = found.is_some();
        let retried = match found {
            Some(true) => failed_rows_kept(&mut conn, job, now).map_err(|e| e.to_string())?,
            _ => None,
        };
        let busy = runs::table
            .filter(runs::job_id.eq(job))
            .filter(runs::finished_at.is_null())
            .count()
            .get_result::<i64>(&mut conn)
            .map_err(|e| e.to_string())?
            > 0;
        Ok::<_, String>((live, busy, over, retried))
    })
    .await
    .map_err(|e| HandlerError::Retry(e.to_string()))?
    .map_err(HandlerError::Retry)?;
    if !live {
        return Ok(());
    }
    if busy {
        tracing::info!(job = %job, "a scheduled run is skipped: the job's last run has not finished");
        return Ok(());
    }
    if over {
        tracing::info!(job = %job, "a scheduled run is skipped: the account's plan allows fewer scheduled jobs");
        return Ok(());
    }
    // A job that retries its failed rows asks for the retry first; the
    // retry asks for the job's run as it ends (`then_run`).
    let run = match retried {
        Some(previous) => RunRequested {
            retry_of: Some(previous),
            then_run: true,
            ..RunRequested::import(job)
        },
        None => RunRequested::import(job),
    };
    let requested = NewEvent::new(
        DomainEvent::RunRequested(run),
        Metadata::caused_by(cause, actor),
    )
    .for_account(account);
    let request = AppendRequest::new(
        "run",
        cause.event_id.0,
        ExpectedVersion::NoStream,
        vec![requested],
    )
    .processing(CONSUMER, cause.event_id);
    match platform.appender.append(request).await {
        Ok(_) | Err(AppendError::Conflict { .. }) => Ok(()),
        Err(e) => Err(retry_on(e)),
    }
}

/// Whether `job` is past the scheduled jobs the account's plan allows (an
/// account that moved to a smaller plan keeps its schedules, and its
/// oldest scheduled jobs go on running).
fn over_plan(
    conn: &mut diesel::PgConnection,
    plan_limits: bool,
    account: sluice_schema::ids::AccountId,
    job: Uuid,
) -> diesel::QueryResult<bool> {
    use sluice_schema::plans::Limits;
    use sluice_schema::repo::{accounts, billing};
    if !plan_limits {
        return Ok(false);
    }
    let plan =
        accounts::find_account(conn, account)?.map_or(sluice_schema::kinds::Plan::Free, |a| a.plan);
    let Some(allowed) = Limits::of(plan, true).schedules else {
        return Ok(false);
    };
    let scheduled = billing::scheduled_jobs(conn, account, None)?;
    let allowed = usize::try_from(allowed).unwrap_or(0);
    Ok(!scheduled.iter().take(allowed).any(|j| *j == job))
}

/// A moment as the `runs` table keeps it.
type When = chrono::DateTime<chrono::Utc>;

/// The job's latest import run, when it failed rows whose result files
/// are still kept at `now` (so a retry can read them).
fn failed_rows_kept(
    conn: &mut diesel::PgConnection,
    job: Uuid,
    now: When,
) -> diesel::QueryResult<Option<Uuid>> {
    use diesel::prelude::*;
    use sluice_schema::kinds::RunKind;
    use sluice_schema::schema::runs;
    type Latest = (Uuid, i64, Option<When>, Option<When>);
    let latest: Option<Latest> = runs::table
        .filter(runs::job_id.eq(job))
        .filter(runs::kind.eq(RunKind::Import))
        .filter(runs::finished_at.is_not_null())
        .order(runs::requested_at.desc())
        .select((
            runs::run_id,
            runs::rows_failed,
            runs::results_expire_at,
            runs::results_removed_at,
        ))
        .first(conn)
        .optional()?;
    Ok(latest.and_then(|(run, failed, expire, removed)| {
        (failed > 0 && removed.is_none() && expire.is_some_and(|at| at > now)).then_some(run)
    }))
}
