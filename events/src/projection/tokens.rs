//! The `tokens` table: sessions and API tokens (never their secrets), when
//! they expire and when they were revoked.

use crate::envelope::RecordedEvent;
use crate::event::{TokenIssued, TokenIssuedV2};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use sluice_schema::models::TokenRow;
use sluice_schema::schema::tokens;

/// A token issued before names were sealed: its name in clear.
pub(super) fn issued(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    issued: &TokenIssued,
) -> QueryResult<()> {
    insert(conn, event, |account| TokenRow {
        name: issued.name.clone(),
        ..row(
            event,
            account,
            issued.user_id,
            &issued.kind,
            issued.expires_at,
        )
    })
}

/// A token issued since names are sealed.
pub(super) fn issued_v2(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    issued: &TokenIssuedV2,
) -> QueryResult<()> {
    insert(conn, event, |account| TokenRow {
        sealed_name: issued.name.clone(),
        ..row(
            event,
            account,
            issued.user_id,
            &issued.kind,
            issued.expires_at,
        )
    })
}

pub(super) fn revoked(conn: &mut PgConnection, event: &RecordedEvent) -> QueryResult<()> {
    diesel::update(tokens::table.find(event.stream_id))
        .filter(tokens::revoked_at.is_null())
        .set(tokens::revoked_at.eq(event.recorded_at))
        .execute(conn)?;
    Ok(())
}

/// A removed user's sessions and tokens end with them.
pub(super) fn user_removed(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    user: uuid::Uuid,
) -> QueryResult<()> {
    diesel::update(tokens::table)
        .filter(tokens::user_id.eq(user))
        .filter(tokens::revoked_at.is_null())
        .set(tokens::revoked_at.eq(event.recorded_at))
        .execute(conn)?;
    Ok(())
}

pub(super) fn erased(conn: &mut PgConnection, account: uuid::Uuid) -> QueryResult<()> {
    diesel::delete(tokens::table.filter(tokens::account_id.eq(account))).execute(conn)?;
    Ok(())
}

/// The row of a token issued by `event`, without a name.
fn row(
    event: &RecordedEvent,
    account: uuid::Uuid,
    user_id: uuid::Uuid,
    kind: &str,
    expires_at: DateTime<Utc>,
) -> TokenRow {
    TokenRow {
        token_id: event.stream_id,
        account_id: account,
        user_id,
        kind: kind.to_owned(),
        name: None,
        created_at: event.recorded_at,
        expires_at,
        revoked_at: None,
        sealed_name: None,
    }
}

/// Records the token of `event`, made by `row` for its account (none
/// without an account).
fn insert(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    row: impl FnOnce(uuid::Uuid) -> TokenRow,
) -> QueryResult<()> {
    let Some(account) = event.account_id else {
        return Ok(());
    };
    diesel::insert_into(tokens::table)
        .values(row(account.0))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(())
}
