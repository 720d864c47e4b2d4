//! A job's slot: the run it requests, unless the job is gone, a run of it
//! is still queued or working, or the account's plan allows fewer
//! scheduled jobs.

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
    let (live, busy, over) = tokio::task::spawn_blocking(move || {
        use diesel::prelude::*;
        use sluice_schema::schema::{jobs, runs};
        let mut conn = pool.get().map_err(|e| e.to_string())?;
        let over = over_plan(&mut conn, plan_limits, account, job).map_err(|e| e.to_string())?;
        let live = jobs::table
            .find(job)
            .filter(jobs::account_id.eq(account.0))
            .filter(jobs::deleted_at.is_null())
            .filter(jobs::schedule.is_not_null())
            .count()
            .get_result::<i64>(&mut conn)
            .map_err(|e| e.to_string())?
            > 0;
        let busy = runs::table
            .filter(runs::job_id.eq(job))
            .filter(runs::finished_at.is_null())
            .count()
            .get_result::<i64>(&mut conn)
            .map_err(|e| e.to_string())?
            > 0;
        Ok::<_, String>((live, busy, over))
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
    let requested = NewEvent::new(
        DomainEvent::RunRequested(RunRequested::import(job)),
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
