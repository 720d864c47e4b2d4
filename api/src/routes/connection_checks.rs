//! What a PostgreSQL connection's parameters must be, how they are shown
//! (the TLS mode labelled with what it protects against), and the test a
//! connection gets when it is added or on request, recorded as
//! `connection.tested` on its stream.

use crate::error::ApiError;
use crate::people::invalid;
use crate::AppState;
use serde_json::{json, Value};
use sluice_connectors::postgres::{self as pg, FailureKind, SslMode, MAX_CA_CERT};
use sluice_events::event::{ConnectionFailure, ConnectionTested};
use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, NewEvent};
use sluice_schema::ids::AccountId;
use sluice_schema::kinds::ConnectionKind;
use sluice_schema::models::ConnectionRow;
use uuid::Uuid;

/// The TLS mode a new connection asked for (`verify-full` unless given),
/// and its CA certificate (PEM), parsed now so that a bad one is refused.
pub(crate) fn tls_choice(
    sslmode: Option<&str>,
    ca_cert: Option<&str>,
) -> Result<(SslMode, Option<String>), ApiError> {
    let mode = match sslmode {
        None => SslMode::DEFAULT,
        Some(given) => SslMode::parse(given)
            .filter(|m| SslMode::CHOOSABLE.contains(m))
            .ok_or_else(|| {
                let names: Vec<&str> = SslMode::CHOOSABLE.iter().map(|m| m.as_str()).collect();
                invalid(
                    "params.sslmode",
                    format!("sslmode must be one of {}", names.join(", ")),
                )
            })?,
    };
    let Some(pem) = ca_cert else {
        return Ok((mode, None));
    };
    if pem.len() > MAX_CA_CERT {
        return Err(invalid(
            "params.ca_cert",
            pg::tls::CaError::TooLarge.to_string(),
        ));
    }
    if !mode.verifies_server() {
        return Err(invalid(
            "params.ca_cert",
            "ca_cert is used only with sslmode verify-full or verify-ca",
        ));
    }
    pg::tls::parse_ca(pem).map_err(|e| invalid("params.ca_cert", e.to_string()))?;
    Ok((mode, Some(pem.trim().to_owned())))
}

/// A connection's parameters as the API shows them: the CA certificate
/// only as whether there is one, and the TLS mode with what it protects.
pub(crate) fn shown_params(row: &ConnectionRow) -> Value {
    let mut params = row.params.clone();
    if row.kind != ConnectionKind::Postgres {
        return params;
    }
    let Some(fields) = params.as_object_mut() else {
        return params;
    };
    let has_ca = fields.remove("ca_cert").is_some();
    let host = fields.get("host").and_then(Value::as_str).unwrap_or("");
    let mode = fields
        .get("sslmode")
        .and_then(Value::as_str)
        .and_then(SslMode::parse)
        .unwrap_or(SslMode::DEFAULT);
    let (verifies, tls) = if host.starts_with('/') {
        (false, "a local Unix socket: TLS does not apply")
    } else {
        (mode.verifies_server(), mode.describe())
    };
    fields.insert("has_ca_cert".into(), json!(has_ca));
    fields.insert("verifies_server".into(), json!(verifies));
    fields.insert("tls".into(), json!(tls));
    params
}

/// A connection's last test, none when it has never been tested.
pub(crate) fn last_test(row: &ConnectionRow) -> Option<crate::views::imports::LastTest> {
    match (row.last_tested_at, row.last_test_ok) {
        (Some(at), Some(ok)) => Some(crate::views::imports::LastTest {
            at,
            ok,
            reason: row.last_test_reason.clone(),
            message: row
                .last_test_reason
                .as_deref()
                .map(|code| reason_message(code).to_owned()),
        }),
        _ => None,
    }
}

/// What a reason code means, for a person (the listing's words; a test's
/// own answer can say more).
pub(crate) fn reason_message(code: &str) -> &'static str {
    match code {
        "unreachable" => "the database could not be reached",
        "authentication_failed" => "the server refused the user name or password",
        "no_such_database" => "the server says the database does not exist",
        "tls_failed" => "the TLS handshake failed: the server's certificate could not be verified",
        "provider_refused" => "the provider refused the stored tokens",
        _ => "the test failed",
    }
}

pub(crate) fn failure(kind: FailureKind) -> ConnectionFailure {
    match kind {
        FailureKind::Unreachable => ConnectionFailure::Unreachable,
        FailureKind::AuthenticationFailed => ConnectionFailure::AuthenticationFailed,
        FailureKind::NoSuchDatabase => ConnectionFailure::NoSuchDatabase,
        FailureKind::TlsFailed => ConnectionFailure::TlsFailed,
    }
}

/// Reaches the database; the failure's code and message when it cannot.
pub(crate) async fn probe(params: &pg::PgParams) -> Result<(), (ConnectionFailure, String)> {
    pg::test_connection(params)
        .await
        .map_err(|f| (failure(f.kind), f.message))
}

/// The event that records a test's outcome.
pub(crate) fn tested_event(
    state: &AppState,
    actor: String,
    account: AccountId,
    outcome: Option<ConnectionFailure>,
) -> NewEvent {
    NewEvent::new(
        DomainEvent::ConnectionTested(ConnectionTested {
            ok: outcome.is_none(),
            reason: outcome,
        }),
        state.metadata(actor),
    )
    .for_account(account)
}

/// Records a test of an existing connection.
pub(crate) async fn record_test(
    state: &AppState,
    actor: String,
    account: AccountId,
    connection: Uuid,
    outcome: Option<ConnectionFailure>,
) -> Result<(), ApiError> {
    let event = tested_event(state, actor, account, outcome);
    let request = AppendRequest::new("connection", connection, ExpectedVersion::Any, vec![event]);
    state.platform.appender.append(request).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_full_is_the_default_and_weak_modes_are_refused_for_new_connections() {
        assert_eq!(
            tls_choice(None, None).ok().map(|c| c.0),
            Some(SslMode::VerifyFull)
        );
        for weak in ["allow", "prefer", "verify_full"] {
            assert!(tls_choice(Some(weak), None).is_err(), "{weak}");
        }
        assert!(tls_choice(Some("require"), None).is_ok());
        let pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(tls_choice(None, Some(pem)).is_err());
        assert!(tls_choice(None, Some(&"x".repeat(MAX_CA_CERT + 1))).is_err());
    }
}
