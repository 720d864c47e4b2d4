//! `/v1/connections`: a team's own systems. Only what is not secret is ever
//! returned; the password is sealed by the keyring, bound to its connection.
//! Owners and admins add and disconnect; everyone in the account may list
//! and test.

use crate::auth::{AccountAdmin, AuthUser, ManageConnections};
use crate::error::ApiError;
use crate::openapi::{Authenticated, ErrorBody, JsonBody};
use crate::people::{invalid, subject_key, text};
use crate::routes::connection_checks as checks;
use crate::routes::connection_details::{open_all, open_connection, sealed};
use crate::routes::provider_connect::{self, Provider};
use crate::streams;
use crate::views::imports as views;
use crate::AppState;
use actix_web::{delete, get, post, web, HttpResponse};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use sluice_events::aggregate::connection::Connection;
use sluice_events::event::ConnectionFailure;
use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, NewEvent, SecretWrite};
use sluice_schema::ids::{AccountId, ConnectionId};
use sluice_schema::models::{ConnectionDetails, ConnectionRow};
use sluice_schema::repo::connections as repo;
use sluice_vault::{Aad, Sealed};
use utoipa::ToSchema;
use uuid::Uuid;

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

pub(crate) fn secret_aad(account: AccountId, id: ConnectionId) -> Aad {
    sluice_vault::owner::connection_secret(account, id)
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

fn metadata(row: &ConnectionRow) -> views::Connection {
    views::Connection {
        id: row.connection_id,
        // An opened row always has its name.
        name: row.name.clone().unwrap_or_default(),
        kind: row.kind.clone(),
        params: checks::shown_params(row),
        created_at: Some(row.created_at),
        last_test: checks::last_test(row),
    }
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
    let added = sealed(&subject, user.account_id, id, "postgres", &details)?;
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
        kind: "postgres".into(),
        params,
        created_at: created_at.unwrap_or_default(),
        last_tested_at: body.test.then_some(created_at).flatten(),
        last_test_ok: body.test.then_some(true),
        last_test_reason: None,
        details: None,
    };
    Ok(HttpResponse::Created().json(metadata(&row)))
}

/// The account's connections: metadata only.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(Authenticated, (status = 200, description = "The connections.", body = views::Connections))
)]
#[get("/v1/connections")]
pub async fn list(user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let account = user.account_id;
    let rows = state.db(move |conn| Ok(repo::list(conn, account)?)).await?;
    let subject = subject_key(&state, user.account_id).await?;
    let connections = open_all(&subject, rows)?.iter().map(metadata).collect();
    Ok(HttpResponse::Ok().json(views::Connections { connections }))
}

/// A connection of the caller's account, its name and parameters opened.
pub(crate) async fn find(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
) -> Result<ConnectionRow, ApiError> {
    let account = user.account_id;
    let row = state
        .db(move |conn| Ok(repo::find(conn, account, ConnectionId(id))?))
        .await?
        .ok_or(ApiError::NotFound)?;
    open_connection(&subject_key(state, account).await?, row)
}

/// A connection: metadata only.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The connection.")),
    responses(
        Authenticated,
        (status = 200, description = "The connection.", body = views::Connection),
        (status = 404, description = "`not_found`: no such connection in the account.", body = ErrorBody),
    )
)]
#[get("/v1/connections/{id}")]
pub async fn show(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = find(&state, &user, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(metadata(&row)))
}

/// Reaches the system with the stored credentials; a failure is reported as
/// a reason, not as an error of this request.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The connection.")),
    responses(
        Authenticated,
        (status = 200, description = "Whether the system answered (Salesforce: a data call at \
            the org's instance, the REST API's limits; Dropbox: who the token belongs to; an \
            expired access token is renewed and kept).", body = views::ConnectionTest),
        (status = 404, description = "`not_found`: no such connection in the account.", body = ErrorBody),
    )
)]
#[post("/v1/connections/{id}/test")]
pub async fn test(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = find(&state, &user, path.into_inner()).await?;
    let id = ConnectionId(row.connection_id);
    let account = user.account_id;
    let sealed = sealed_secret(&state, account, id).await?;
    let outcome = match Provider::of_kind(&row.kind) {
        Some(Provider::Salesforce) => crate::routes::salesforce_target::check(&state, &user, &row)
            .await?
            .map_err(|message| (ConnectionFailure::ProviderRefused, message)),
        Some(provider) => {
            let tokens = provider_connect::open_tokens(&state, account, id, sealed)?;
            provider_connect::check(provider, &state, account, id, tokens)
                .await?
                .map_err(|message| (ConnectionFailure::ProviderRefused, message))
        }
        None => {
            let password = open_password(&state, account, id, sealed)?;
            let target = sluice_connectors::postgres::PgParams::from_json(&row.params, password);
            checks::probe(&target).await
        }
    };
    let actor = format!("user:{}", user.user_id);
    let failure = outcome.as_ref().err().map(|(reason, _)| *reason);
    checks::record_test(&state, actor, account, row.connection_id, failure).await?;
    Ok(HttpResponse::Ok().json(match outcome {
        Ok(()) => views::ConnectionTest {
            ok: true,
            reason: None,
            message: None,
        },
        Err((reason, message)) => views::ConnectionTest {
            ok: false,
            reason: Some(reason.code().to_owned()),
            message: Some(message),
        },
    }))
}

/// A connection's sealed secret.
pub(crate) async fn sealed_secret(
    state: &AppState,
    account: AccountId,
    id: ConnectionId,
) -> Result<Vec<u8>, ApiError> {
    state
        .db(move |conn| Ok(repo::secret(conn, account, id)?))
        .await?
        .ok_or(ApiError::NotFound)
}

/// A PostgreSQL connection's password, opened.
fn open_password(
    state: &AppState,
    account: AccountId,
    id: ConnectionId,
    sealed: Vec<u8>,
) -> Result<zeroize::Zeroizing<String>, ApiError> {
    let sealed = Sealed(sealed);
    let password = state
        .keyring
        .with(|k| k.open(&sealed, &secret_aad(account, id)))
        .map_err(|e| ApiError::Internal(format!("connection secret: {e}")))?;
    Ok(zeroize::Zeroizing::new(
        String::from_utf8_lossy(&password).into_owned(),
    ))
}

/// A PostgreSQL connection of the caller's account, ready to connect with.
/// A PostgreSQL connection's settings and password, for a job's `field`
/// (`source.connection_id` or `target.connection_id`).
pub(crate) async fn postgres_params(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
    field: &str,
) -> Result<sluice_connectors::postgres::PgParams, ApiError> {
    let row = find(state, user, id).await?;
    if row.kind != "postgres" {
        return Err(invalid(
            field,
            "imports read from and go to PostgreSQL connections for now",
        ));
    }
    let id = ConnectionId(row.connection_id);
    let account = user.account_id;
    let sealed = sealed_secret(state, account, id).await?;
    let password = open_password(state, account, id, sealed)?;
    Ok(sluice_connectors::postgres::PgParams::from_json(
        &row.params,
        password,
    ))
}

/// Owners and admins: Disconnect. A Salesforce org's session or a Dropbox
/// account's tokens are revoked at the provider, the secret destroyed and
/// the disconnection recorded (with whether the provider confirmed it).
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The connection.")),
    responses(
        Authenticated,
        (status = 204, description = "The connection is gone."),
        (status = 403, description = "`forbidden`: a member.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such connection in the account.", body = ErrorBody),
    )
)]
#[delete("/v1/connections/{id}")]
pub async fn disconnect(
    AccountAdmin { user, .. }: AccountAdmin<ManageConnections>,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = find(&state, &user, path.into_inner()).await?;
    let revoked_at_provider = match Provider::of_kind(&row.kind) {
        Some(provider) => Some(revoke(provider, &state, &user, &row).await),
        None => None,
    };
    // Decided on the connection's stream: of two disconnections at once,
    // the second finds the connection gone (404).
    let id = row.connection_id;
    let (state, user): (&AppState, &AuthUser) = (&state, &user);
    streams::decide(state, || async move {
        let loaded = streams::load::<Connection>(state, id).await?;
        let events = loaded
            .state
            .disconnect(user.account_id, revoked_at_provider)?;
        Ok(streams::request_on(state, user, &loaded, events)
            .with_secret(SecretWrite::DestroyConnectionSecret { connection_id: id }))
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Revokes a provider connection's tokens; whether the provider confirmed
/// it. The stored tokens are destroyed either way.
pub(crate) async fn revoke(
    provider: Provider,
    state: &AppState,
    user: &AuthUser,
    row: &ConnectionRow,
) -> bool {
    let id = ConnectionId(row.connection_id);
    let account = user.account_id;
    let Ok(sealed) = sealed_secret(state, account, id).await else {
        return false;
    };
    provider_connect::revoke(provider, state, account, id, sealed).await
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
