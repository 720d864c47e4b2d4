//! Billing and the usage plan limits count.

use crate::ids::{AccountId, JobId, RunId};
use crate::models::BillingRow;
use crate::schema::{billing, jobs};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

pub fn find(conn: &mut PgConnection, account: AccountId) -> QueryResult<Option<BillingRow>> {
    billing::table
        .find(account.0)
        .select(BillingRow::as_select())
        .first(conn)
        .optional()
}

/// The account a Stripe customer belongs to, with its billing. Webhooks
/// name the customer, not the account.
pub fn find_by_customer(
    conn: &mut PgConnection,
    customer_id: &str,
) -> QueryResult<Option<BillingRow>> {
    billing::table
        .filter(billing::customer_id.eq(customer_id))
        .select(BillingRow::as_select())
        .first(conn)
        .optional()
}

/// Rows the account's imports read from their sources since `since`
/// (rollbacks do not count), leaving out run `except`.
pub fn rows_read_since(
    conn: &mut PgConnection,
    account: AccountId,
    since: DateTime<Utc>,
    except: Option<RunId>,
) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Total {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        rows: i64,
    }
    let total: Total = diesel::sql_query(
        "SELECT COALESCE(SUM(rows_read), 0)::bigint AS rows FROM runs \
         WHERE account_id = $1 AND kind = 'import' AND requested_at >= $2 \
         AND run_id IS DISTINCT FROM $3",
    )
    .bind::<diesel::sql_types::Uuid, _>(account.0)
    .bind::<diesel::sql_types::Timestamptz, _>(since)
    .bind::<diesel::sql_types::Nullable<diesel::sql_types::Uuid>, _>(except.map(|r| r.0))
    .get_result(conn)?;
    Ok(total.rows)
}

/// The account's jobs that have a schedule, leaving out job `except`, oldest
/// first.
pub fn scheduled_jobs(
    conn: &mut PgConnection,
    account: AccountId,
    except: Option<JobId>,
) -> QueryResult<Vec<uuid::Uuid>> {
    let mut query = jobs::table
        .filter(jobs::account_id.eq(account.0))
        .filter(jobs::deleted_at.is_null())
        .filter(jobs::schedule.is_not_null())
        .order((jobs::created_at.asc(), jobs::job_id.asc()))
        .select(jobs::job_id)
        .into_boxed();
    if let Some(job) = except {
        query = query.filter(jobs::job_id.ne(job.0));
    }
    query.load(conn)
}
