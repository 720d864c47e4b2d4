//! The `connections` table: a team's connections (their kind, their name
//! and parameters sealed, never their secret) and their last test.

use crate::envelope::RecordedEvent;
use crate::event::{ConnectionAdded, ConnectionCreated, ConnectionTested};
use diesel::prelude::*;
use sluice_schema::kinds::ConnectionKind;
use sluice_schema::models::ConnectionRow;
use sluice_schema::schema::connections;

/// A connection added before customer text was sealed: name in clear.
pub(super) fn created(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    created: &ConnectionCreated,
) -> QueryResult<()> {
    insert(conn, event, |account| ConnectionRow {
        name: Some(created.name.clone()),
        ..row(event, account, created.kind, &created.params, None)
    })
}

/// A connection added since customer text is sealed.
pub(super) fn added(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    added: &ConnectionAdded,
) -> QueryResult<()> {
    let details = Some(added.details.clone());
    insert(conn, event, |account| {
        row(event, account, added.kind, &added.params, details)
    })
}

pub(super) fn disconnected(conn: &mut PgConnection, event: &RecordedEvent) -> QueryResult<()> {
    diesel::delete(connections::table.find(event.stream_id)).execute(conn)?;
    Ok(())
}

pub(super) fn tested(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    tested: &ConnectionTested,
) -> QueryResult<()> {
    diesel::update(connections::table.find(event.stream_id))
        .set((
            connections::last_tested_at.eq(Some(event.recorded_at)),
            connections::last_test_ok.eq(Some(tested.ok)),
            connections::last_test_reason.eq(tested.reason.map(|r| r.code())),
        ))
        .execute(conn)?;
    Ok(())
}

pub(super) fn erased(conn: &mut PgConnection, account: uuid::Uuid) -> QueryResult<()> {
    diesel::delete(connections::table.filter(connections::account_id.eq(account))).execute(conn)?;
    Ok(())
}

fn row(
    event: &RecordedEvent,
    account: uuid::Uuid,
    kind: ConnectionKind,
    params: &serde_json::Value,
    details: Option<String>,
) -> ConnectionRow {
    ConnectionRow {
        connection_id: event.stream_id,
        account_id: account,
        name: None,
        kind,
        params: params.clone(),
        created_at: event.recorded_at,
        last_tested_at: None,
        last_test_ok: None,
        last_test_reason: None,
        details,
    }
}

fn insert(
    conn: &mut PgConnection,
    event: &RecordedEvent,
    row: impl FnOnce(uuid::Uuid) -> ConnectionRow,
) -> QueryResult<()> {
    let Some(account) = event.account_id else {
        return Ok(());
    };
    diesel::insert_into(connections::table)
        .values(row(account.0))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(())
}
