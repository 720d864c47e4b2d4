//! Connections and their sealed secrets.

use crate::ids::{AccountId, ConnectionId};
use crate::models::ConnectionRow;
use crate::schema::{connection_secrets, connections};
use diesel::prelude::*;

pub fn list(conn: &mut PgConnection, account: AccountId) -> QueryResult<Vec<ConnectionRow>> {
    connections::table
        .filter(connections::account_id.eq(account.0))
        .order(connections::created_at.asc())
        .select(ConnectionRow::as_select())
        .load(conn)
}

pub fn find(
    conn: &mut PgConnection,
    account: AccountId,
    id: ConnectionId,
) -> QueryResult<Option<ConnectionRow>> {
    connections::table
        .filter(connections::account_id.eq(account.0))
        .filter(connections::connection_id.eq(id.0))
        .select(ConnectionRow::as_select())
        .first(conn)
        .optional()
}

/// The connection's sealed secret.
pub fn secret(
    conn: &mut PgConnection,
    account: AccountId,
    id: ConnectionId,
) -> QueryResult<Option<Vec<u8>>> {
    connection_secrets::table
        .filter(connection_secrets::account_id.eq(account.0))
        .filter(connection_secrets::connection_id.eq(id.0))
        .select(connection_secrets::secret)
        .first(conn)
        .optional()
}

/// Replaces the sealed secret (a refreshed provider token).
pub fn update_secret(
    conn: &mut PgConnection,
    account: AccountId,
    id: ConnectionId,
    sealed: &[u8],
) -> QueryResult<()> {
    diesel::update(
        connection_secrets::table
            .filter(connection_secrets::account_id.eq(account.0))
            .filter(connection_secrets::connection_id.eq(id.0)),
    )
    .set(connection_secrets::secret.eq(sealed))
    .execute(conn)?;
    Ok(())
}
