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

/// Replaces the sealed secret under a lock on its row: `decide` sees the
/// secret stored now (re-read once the lock is held, so a writer that held
/// it before is seen) and answers its replacement, or `None` to keep it.
/// The secret stored when the lock is released is answered. A second
/// caller waits for the first, and sees what it stored.
pub fn renew_secret<E: From<diesel::result::Error>>(
    conn: &mut PgConnection,
    account: AccountId,
    id: ConnectionId,
    decide: impl FnOnce(Vec<u8>) -> Result<Option<Vec<u8>>, E>,
) -> Result<Vec<u8>, E> {
    conn.transaction(|conn| {
        let stored: Vec<u8> = connection_secrets::table
            .filter(connection_secrets::account_id.eq(account.0))
            .filter(connection_secrets::connection_id.eq(id.0))
            .select(connection_secrets::secret)
            .for_update()
            .first(conn)?;
        match decide(stored.clone())? {
            Some(next) => {
                update_secret(conn, account, id, &next)?;
                Ok(next)
            }
            None => Ok(stored),
        }
    })
}
