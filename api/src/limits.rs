//! The plan limits a request may run into, checked before anything is
//! recorded. They apply on a deployment that bills through Stripe (see
//! [`sluice_schema::plans::Limits::of`]); the worker applies the monthly
//! row limit again while a run reads, since a run's size is known only then.

use crate::error::ApiError;
use crate::routes::billing::plan;
use crate::AppState;
use sluice_schema::ids::{AccountId, JobId};
use sluice_schema::kinds::Plan;
use sluice_schema::plans::{self, Limits};
use sluice_schema::repo::billing as repo;

/// What lifts a limit, as the error says it.
fn upgrade(plan: Plan) -> &'static str {
    if plan == Plan::Enterprise {
        ""
    } else {
        " Upgrade the plan (POST /v1/billing/checkout) to raise it."
    }
}

/// Refuses a schedule for job `job` (none: a new job) when the account's
/// plan allows no more.
pub async fn check_schedule(
    state: &AppState,
    account: AccountId,
    job: Option<JobId>,
) -> Result<(), ApiError> {
    let (row, _, limits) = plan(state, account).await?;
    let Some(allowed) = limits.schedules else {
        return Ok(());
    };
    let others = state
        .db(move |conn| Ok(repo::scheduled_jobs(conn, account, job)?.len()))
        .await?;
    if i64::try_from(others).unwrap_or(i64::MAX) < allowed {
        return Ok(());
    }
    let title = Limits::title(row.plan);
    Err(ApiError::PlanLimit(if allowed == 0 {
        format!(
            "the {title} plan has no scheduled jobs.{}",
            upgrade(row.plan)
        )
    } else {
        format!(
            "the {title} plan allows {allowed} scheduled jobs and the account has {others}.{}",
            upgrade(row.plan)
        )
    }))
}

/// Refuses a run when the account's imports have read the plan's rows for
/// this month already.
pub async fn check_rows(state: &AppState, account: AccountId) -> Result<(), ApiError> {
    let (row, _, limits) = plan(state, account).await?;
    let Some(allowed) = limits.rows_per_month else {
        return Ok(());
    };
    let now = state.platform.clock.now();
    let since = plans::month_start(now);
    let used = state
        .db(move |conn| Ok(repo::rows_read_since(conn, account, since, None)?))
        .await?;
    if used < allowed {
        return Ok(());
    }
    Err(ApiError::PlanLimit(format!(
        "the account's imports have read {used} rows this month, the {} plan's limit of \
         {allowed}; the count starts anew on {}.{}",
        Limits::title(row.plan),
        plans::next_month_start(now).format("%Y-%m-%d"),
        upgrade(row.plan)
    )))
}
