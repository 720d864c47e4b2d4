//! Jobs and their runs.

use crate::ids::{AccountId, JobId, RunId};
use crate::key_version::KeyVersion;
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

/// The account's jobs, deleted ones too (the run history names them).
pub fn list_all(conn: &mut PgConnection, account: AccountId) -> QueryResult<Vec<JobRow>> {
    jobs::table
        .filter(jobs::account_id.eq(account.0))
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

/// The account's latest runs, of every job, newest first.
pub fn latest_runs(
    conn: &mut PgConnection,
    account: AccountId,
    limit: i64,
) -> QueryResult<Vec<RunRow>> {
    runs::table
        .filter(runs::account_id.eq(account.0))
        .order(runs::requested_at.desc())
        .limit(limit)
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

/// A run's result key: `(kek version, wrapped key)`.
pub fn result_key(
    conn: &mut PgConnection,
    account: AccountId,
    run: RunId,
) -> QueryResult<Option<(KeyVersion, Vec<u8>)>> {
    use crate::schema::result_keys;
    result_keys::table
        .filter(result_keys::account_id.eq(account.0))
        .filter(result_keys::run_id.eq(run.0))
        .select((result_keys::kek_version, result_keys::wrapped_key))
        .first(conn)
        .optional()
}

/// Keeps a run's result key unless it has one already (a resumed run keeps
/// its first key): the key the run uses.
pub fn keep_result_key(
    conn: &mut PgConnection,
    account: AccountId,
    run: RunId,
    kek_version: KeyVersion,
    wrapped: &[u8],
) -> QueryResult<(KeyVersion, Vec<u8>)> {
    use crate::schema::result_keys;
    diesel::insert_into(result_keys::table)
        .values((
            result_keys::run_id.eq(run.0),
            result_keys::account_id.eq(account.0),
            result_keys::kek_version.eq(kek_version),
            result_keys::wrapped_key.eq(wrapped),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    result_keys::table
        .find(run.0)
        .select((result_keys::kek_version, result_keys::wrapped_key))
        .first(conn)
}

/// Runs whose result files are past their expiry and not yet deleted, with
/// their accounts, oldest first.
pub fn expired_results(
    conn: &mut PgConnection,
    now: chrono::DateTime<chrono::Utc>,
    limit: i64,
) -> QueryResult<Vec<(uuid::Uuid, uuid::Uuid)>> {
    runs::table
        .filter(runs::results_removed_at.is_null())
        .filter(runs::results_expire_at.le(now))
        .order(runs::results_expire_at.asc())
        .select((runs::run_id, runs::account_id))
        .limit(limit)
        .load(conn)
}
