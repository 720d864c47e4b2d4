//! What the customer typed of a connection (its name and parameters: a
//! database's host, port, name, user and CA certificate; an org's instance
//! URL; a Dropbox account id) is sealed under the account's subject key, in
//! its event and its row. Its kind and a database's TLS mode (Sluice's own
//! enums) stay in clear. A connection recorded before sealing is read from
//! its clear columns.

use crate::error::ApiError;
use serde_json::{json, Value};
use sluice_events::event::ConnectionAdded;
use sluice_schema::ids::{AccountId, ConnectionId};
use sluice_schema::kinds::ConnectionKind;
use sluice_schema::models::{ConnectionDetails, ConnectionRow};
use sluice_vault::{owner, SubjectKey};

/// The payload that records a new connection `id` of `kind`.
pub(crate) fn sealed(
    subject: &SubjectKey,
    account: AccountId,
    id: ConnectionId,
    kind: ConnectionKind,
    details: &ConnectionDetails,
) -> Result<ConnectionAdded, ApiError> {
    let plain = zeroize::Zeroizing::new(
        serde_json::to_string(details).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(ConnectionAdded {
        kind,
        params: clear_params(&details.params),
        details: subject.encrypt(&plain, &owner::connection_details(account, id)),
    })
}

/// What of a connection's parameters is Sluice's own: the TLS mode.
fn clear_params(params: &Value) -> Value {
    match params.get("sslmode") {
        Some(mode) => json!({ "sslmode": mode }),
        None => json!({}),
    }
}

/// `row` with its name and parameters opened (as a row recorded before
/// sealing has them).
pub(crate) fn open_connection(
    subject: &SubjectKey,
    row: ConnectionRow,
) -> Result<ConnectionRow, ApiError> {
    let aad = owner::connection_details(row.account_id, row.connection_id);
    let details = row
        .details(|sealed| subject.decrypt(sealed, &aad).map(|plain| plain.to_string()))
        .map_err(|e| ApiError::Internal(format!("connection {}: {e}", row.connection_id)))?;
    Ok(ConnectionRow {
        name: Some(details.name),
        params: details.params,
        details: None,
        ..row
    })
}

/// Every row of `rows`, opened.
pub(crate) fn open_all(
    subject: &SubjectKey,
    rows: Vec<ConnectionRow>,
) -> Result<Vec<ConnectionRow>, ApiError> {
    rows.into_iter()
        .map(|row| open_connection(subject, row))
        .collect()
}
