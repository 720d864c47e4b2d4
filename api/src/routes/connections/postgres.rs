//! `POST /v1/connections`: connecting a PostgreSQL database. Its parameters
//! are checked (a host on this machine only when the operator allows it),
//! the database is reached unless the caller says not to, and the password
//! is sealed.

use super::{metadata, secret_aad};
use crate::auth::{AccountAdmin, ManageConnections};
use crate::error::ApiError;
use crate::openapi::{Authenticated, ErrorBody, JsonBody};
use crate::people::{invalid, subject_key, text};
use crate::routes::connection_checks as checks;
use crate::routes::connection_details::sealed;
use crate::views::imports as views;
use crate::AppState;
use actix_web::{post, web, HttpResponse};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, NewEvent, SecretWrite};
use sluice_schema::ids::ConnectionId;
use sluice_schema::kinds::ConnectionKind;
use sluice_schema::models::{ConnectionDetails, ConnectionRow};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConnection {
    /// 1 to 100 printable characters.
    name: String,
    /// `postgres` (Salesforce orgs and Dropbox accounts are connected
    /// through their providers' consent).
    #[schema(example = "postgres")]
    kind: String,
    params: PostgresParams,
    /// `true` unless given: the database is reached before the connection
    /// is saved, and a failure refuses it (422 `connection_failed` with a
    /// `reason`). `false` saves it untested.
    #[serde(default = "yes")]
    test: bool,
}

fn yes() -> bool {
    true
}

/// A PostgreSQL database to connect to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewPostgresParams)]
pub struct PostgresParams {
    /// A host name or address (not this machine's, unless the operator
    /// allows it).
    host: String,
    /// 5432 unless given.
    port: Option<u16>,
    dbname: String,
    user: String,
    /// Sealed at once; never shown again.
    #[schema(value_type = String, format = Password)]
    password: SecretString,
    /// `verify-full` unless given (the certificate must chain to a trusted
    /// CA and name the host); `verify-ca` (the chain, not the name);
    /// `require` (encrypted, the server NOT verified: shown as such);
    /// `disable` (no TLS, for a trusted local network).
    #[schema(example = "verify-full")]
    sslmode: Option<String>,
    /// The CA certificate (PEM, at most 64 KiB) to trust for this database
    /// instead of the system's roots; with `verify-full` or `verify-ca`.
    ca_cert: Option<String>,
}

/// Hosts on this machine (or its Unix sockets) would let a user reach
/// Sluice's own services; they are refused unless the operator allows them.
fn check_host(host: &str, allow_local: bool) -> Result<(), ApiError> {
    let host = host.trim();
    if host.is_empty()
        || host.len() > 253
        || host.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid(
            "params.host",
            "host must be a host name or address",
        ));
    }
    let local = host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified());
    if local && !allow_local {
        return Err(invalid(
            "params.host",
            "connections to this machine are not allowed",
        ));
    }
    Ok(())
}

/// Owners and admins: connects a PostgreSQL database. Its password is
/// sealed by the keyring and never shown again.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(
        Authenticated,
        JsonBody,
        (status = 201, description = "The connection, without its password.", body = views::Connection),
        (status = 403, description = "`forbidden`: a member.", body = ErrorBody),
        (status = 422, description = "`invalid`, naming the field: a kind other than postgres, a \
            host that is not one (or this machine), port 0, an empty name, an sslmode other than \
            verify-full, verify-ca, require or disable, a ca_cert over 64 KiB or not a PEM CA \
            certificate, a password over 1024 bytes; or a field is missing, unknown or of the \
            wrong type. `connection_failed` with a `reason` (`unreachable`, \
            `authentication_failed`, `no_such_database`, `tls_failed`): the database could not \
            be reached with what was given, and nothing was saved.", body = ErrorBody),
    )
)]
#[post("/v1/connections")]
pub async fn create(
    AccountAdmin { user, .. }: AccountAdmin<ManageConnections>,
    state: web::Data<AppState>,
    body: web::Json<NewConnection>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = text("name", &body.name, 100)?;
    if body.kind != "postgres" {
        return Err(invalid("kind", "kind must be postgres"));
    }
    let p = body.params;
    check_host(&p.host, state.allow_local_connections)?;
    let dbname = text("params.dbname", &p.dbname, 63)?;
    let db_user = text("params.user", &p.user, 63)?;
    let (sslmode, ca_cert) = checks::tls_choice(p.sslmode.as_deref(), p.ca_cert.as_deref())?;
    let port = p.port.unwrap_or(5432);
    if port == 0 {
        return Err(invalid("params.port", "port must be from 1 to 65535"));
    }
    let password = p.password.expose_secret();
    if password.len() > 1024 || password.contains('\0') {
        return Err(invalid(
            "params.password",
            "password must be at most 1024 bytes, without NUL characters",
        ));
    }
    let mut params = json!({
        "host": p.host.trim(),
        "port": port,
        "dbname": dbname,
        "user": db_user,
        "sslmode": sslmode.as_str(),
    });
    if let Some(pem) = ca_cert {
        params["ca_cert"] = json!(pem);
    }
    let id = ConnectionId::new();
    let details = ConnectionDetails {
        name,
        params: params.clone(),
    };
    let subject = subject_key(&state, user.account_id).await?;
    let added = sealed(
        &subject,
        user.account_id,
        id,
        ConnectionKind::Postgres,
        &details,
    )?;
    let actor = format!("user:{}", user.user_id);
    let mut events = vec![NewEvent::new(
        DomainEvent::ConnectionCreatedV2(added),
        state.metadata(actor.clone()),
    )
    .for_account(user.account_id)];
    if body.test {
        let password = zeroize::Zeroizing::new(password.to_owned());
        let target = sluice_connectors::postgres::PgParams::from_json(&params, password);
        if let Err((reason, message)) = checks::probe(&target).await {
            return Err(ApiError::ConnectionFailed {
                reason: reason.code(),
                message: format!("{message}; the connection was not saved (send \"test\": false to save it untested)"),
            });
        }
        events.push(checks::tested_event(&state, actor, user.account_id, None));
    }

    let sealed = state.keyring.get().seal(
        p.password.expose_secret().as_bytes(),
        &secret_aad(user.account_id, id),
    );
    let request = AppendRequest::new("connection", id.0, ExpectedVersion::NoStream, events)
        .with_secret(SecretWrite::ConnectionSecret {
            connection_id: id.0,
            account_id: user.account_id.0,
            sealed: sealed.0,
        });
    let recorded = state.platform.appender.append(request).await?;
    let created_at = recorded.events().first().map(|e| e.recorded_at);
    let row = ConnectionRow {
        connection_id: id.0,
        account_id: user.account_id.0,
        name: Some(details.name),
        kind: ConnectionKind::Postgres,
        params,
        created_at: created_at.unwrap_or_default(),
        last_tested_at: body.test.then_some(created_at).flatten(),
        last_test_ok: body.test.then_some(true),
        last_test_reason: None,
        details: None,
    };
    Ok(HttpResponse::Created().json(metadata(&row)))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hosts_are_refused_unless_allowed() {
        for host in [
            "localhost",
            "127.0.0.1",
            "::1",
            "[::1]",
            "/var/run/postgresql",
            "0.0.0.0",
        ] {
            assert!(check_host(host, false).is_err(), "{host}");
            assert!(check_host(host, true).is_ok(), "{host}");
        }
        assert!(check_host("db.internal.example", false).is_ok());
        assert!(check_host("10.0.0.5", false).is_ok());
        assert!(check_host("", true).is_err());
    }
}
