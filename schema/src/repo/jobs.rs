//! Jobs and their runs.

use crate::ids::{AccountId, JobId, RunId};
use crate::models::{JobRow, RunRow};
use crate::schema::{jobs, runs};
use diesel::prelude::*;

pub fn list(conn: &mut PgConnection, account: AccountId) -> QueryResult<Vec<JobRow>> {
    jobs::table
        .filter(jobs::account_id.eq(account.0))
        .filter(jobs::deleted_at.is_null())
        .order(jobs::created_at.asc())
        .select(JobRow::as_select())
        .load(conn)
}

pub fn find(conn: &mut PgConnection, account: AccountId, id: JobId) -> QueryResult<Option<JobRow>> {
    jobs::table
        .filter(jobs::account_id.eq(account.0))
        .filter(jobs::job_id.eq(id.0))
        .filter(jobs::deleted_at.is_null())
        .select(JobRow::as_select())
        .first(conn)
        .optional()
}

/// A job by id alone, deleted or not (for the worker running it).
pub fn find_any(conn: &mut PgConnection, id: JobId) -> QueryResult<Option<JobRow>> {
    jobs::table
        .find(id.0)
        .select(JobRow::as_select())
        .first(conn)
        .optional()
}

pub fn runs_of(
    conn: &mut PgConnection,
    account: AccountId,
    job: JobId,
) -> QueryResult<Vec<RunRow>> {
    runs::table
        .filter(runs::account_id.eq(account.0))
        .filter(runs::job_id.eq(job.0))
        .order(runs::requested_at.desc())
        .select(RunRow::as_select())
        .load(conn)
}

pub fn run(conn: &mut PgConnection, account: AccountId, id: RunId) -> QueryResult<Option<RunRow>> {
    runs::table
        .filter(runs::account_id.eq(account.0))
        .filter(runs::run_id.eq(id.0))
        .select(RunRow::as_select())
        .first(conn)
        .optional()
}

/// A run by id alone (for the worker running it).
pub fn run_any(conn: &mut PgConnection, id: RunId) -> QueryResult<Option<RunRow>> {
    runs::table
        .find(id.0)
        .select(RunRow::as_select())
        .first(conn)
        .optional()
}
