//! The `accounts` table: an account's region, company (sealed), plan and
//! retention settings, and when it was erased.

use crate::envelope::RecordedEvent;
use crate::event::{AccountCreated, AccountSettingsChanged};
use crate::rules;
use diesel::prelude::*;
use sluice_schema::kinds::Plan;
use sluice_schema::models::AccountRow;
use sluice_schema::schema::accounts;

pub(super) fn created(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    created: &AccountCreated,
) -> QueryResult<()> {
    let Some(account) = event.account_id else {
        return Ok(());
    };
    diesel::insert_into(accounts::table)
        .values(AccountRow {
            account_id: account.0,
            region: created.region.clone(),
            company: created.company.clone(),
            country: created.country.clone(),
            plan: created.plan,
            created_at: event.recorded_at,
            result_retention_days: None,
            store_results: true,
            erased_at: None,
        })
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(())
}

/// Puts the account on `plan`, its retention settings reset where the
/// plan does not keep them (see [`rules::plan_keeps_retention_settings`]).
pub(super) fn plan(conn: &mut PgConnection, account: uuid::Uuid, plan: Plan) -> QueryResult<()> {
    diesel::update(accounts::table.find(account))
        .set(accounts::plan.eq(plan))
        .execute(conn)?;
    if !rules::plan_keeps_retention_settings(plan) {
        diesel::update(accounts::table.find(account))
            .set((
                accounts::result_retention_days.eq(None::<i32>),
                accounts::store_results.eq(true),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub(super) fn settings(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    settings: &AccountSettingsChanged,
) -> QueryResult<()> {
    let days = settings
        .result_retention_days
        .map(|d| i32::try_from(d).unwrap_or(i32::MAX));
    diesel::update(accounts::table.find(event.stream_id))
        .set((
            accounts::result_retention_days.eq(days),
            accounts::store_results.eq(settings.store_results),
        ))
        .execute(conn)?;
    Ok(())
}

/// The account's company is gone (its other rows are removed by their
/// own tables' modules).
pub(super) fn erased(conn: &mut PgConnection, event: &RecordedEvent) -> QueryResult<()> {
    diesel::update(accounts::table.find(event.stream_id))
        .set((
            accounts::company.eq(""),
            accounts::erased_at.eq(event.recorded_at),
        ))
        .execute(conn)?;
    Ok(())
}
