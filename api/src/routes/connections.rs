//! `/v1/connections`: a team's own systems. Only what is not secret is ever
//! returned; the password is sealed by the keyring, bound to its connection.
//! Owners and admins add and disconnect; everyone in the account may list
//! and test.

use crate::auth::{AuthUser, Role};
use crate::error::ApiError;
use crate::openapi::{import_bodies as docs, Authenticated, ErrorBody, JsonBody};
use crate::people::{invalid, text};
use crate::routes::provider_connect::{self, Provider};
use crate::AppState;
use actix_web::{delete, get, post, web, HttpResponse};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};
use sluice_events::event::{ConnectionCreated, ConnectionDisconnected};
use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, NewEvent, SecretWrite};
use sluice_schema::ids::{AccountId, ConnectionId};
use sluice_schema::models::ConnectionRow;
use sluice_schema::repo::connections as repo;
use sluice_vault::{Aad, Sealed};
use utoipa::ToSchema;
use uuid::Uuid;

const SSL_MODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

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
    /// `require` unless given: `disable`, `allow`, `prefer`, `require`,
    /// `verify-ca` or `verify-full`, as libpq reads them.
    sslmode: Option<String>,
}

pub(crate) fn secret_aad(account: AccountId, id: ConnectionId) -> Aad {
    sluice_vault::owner::connection_secret(account, id)
}

fn manager(user: &AuthUser) -> Result<(), ApiError> {
    if user.role >= Role::Admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only owners and admins manage connections".into(),
        ))
    }
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

fn metadata(row: &ConnectionRow) -> Value {
    json!({
        "id": row.connection_id,
        "name": row.name,
        "kind": row.kind,
        "params": row.params,
        "created_at": row.created_at,
    })
}

/// Owners and admins: connects a PostgreSQL database. Its password is
/// sealed by the keyring and never shown again.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(
        Authenticated,
        JsonBody,
        (status = 201, description = "The connection, without its password.", body = docs::Connection),
        (status = 403, description = "`forbidden`: a member.", body = ErrorBody),
        (status = 422, description = "`invalid`, naming the field: a kind other than postgres, a \
            host that is not one (or this machine), an empty name, an unknown sslmode, a password \
            over 1024 bytes; or a field is missing, unknown or of the wrong type.", body = ErrorBody),
    )
)]
#[post("/v1/connections")]
pub async fn create(
    user: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<NewConnection>,
) -> Result<HttpResponse, ApiError> {
    manager(&user)?;
    let body = body.into_inner();
    let name = text("name", &body.name, 100)?;
    if body.kind != "postgres" {
        return Err(invalid("kind", "kind must be postgres"));
    }
    let p = body.params;
    check_host(&p.host, state.allow_local_connections)?;
    let dbname = text("params.dbname", &p.dbname, 63)?;
    let db_user = text("params.user", &p.user, 63)?;
    let sslmode = p.sslmode.unwrap_or_else(|| "require".into());
    if !SSL_MODES.contains(&sslmode.as_str()) {
        return Err(invalid(
            "params.sslmode",
            format!("sslmode must be one of {}", SSL_MODES.join(", ")),
        ));
    }
    let password = p.password.expose_secret();
    if password.len() > 1024 || password.contains('\0') {
        return Err(invalid(
            "params.password",
            "password must be at most 1024 bytes, without NUL characters",
        ));
    }
    let params = json!({
        "host": p.host.trim(),
        "port": p.port.unwrap_or(5432),
        "dbname": dbname,
        "user": db_user,
        "sslmode": sslmode,
    });

    let id = ConnectionId::new();
    let sealed = state.keyring.get().seal(
        p.password.expose_secret().as_bytes(),
        &secret_aad(user.account_id, id),
    );
    let event = NewEvent::new(
        DomainEvent::ConnectionCreated(ConnectionCreated {
            name: name.clone(),
            kind: "postgres".into(),
            params: params.clone(),
        }),
        state.metadata(format!("user:{}", user.user_id)),
    )
    .for_account(user.account_id);
    let request = AppendRequest::new("connection", id.0, ExpectedVersion::NoStream, vec![event])
        .with_secret(SecretWrite::ConnectionSecret {
            connection_id: id.0,
            account_id: user.account_id.0,
            sealed: sealed.0,
        });
    let recorded = state.platform.appender.append(request).await?;
    let created_at = recorded.events().first().map(|e| e.recorded_at);
    Ok(HttpResponse::Created().json(json!({
        "id": id,
        "name": name,
        "kind": "postgres",
        "params": params,
        "created_at": created_at,
    })))
}

/// The account's connections: metadata only.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(Authenticated, (status = 200, description = "The connections.", body = docs::Connections))
)]
#[get("/v1/connections")]
pub async fn list(user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pool = state.platform.pool.clone();
    let rows = web::block(move || -> Result<_, ApiError> {
        Ok(repo::list(&mut *pool.get()?, user.account_id)?)
    })
    .await??;
    let items: Vec<Value> = rows.iter().map(metadata).collect();
    Ok(HttpResponse::Ok().json(json!({ "connections": items })))
}

pub(crate) async fn find(
    state: &AppState,
    user: &AuthUser,
    id: Uuid,
) -> Result<ConnectionRow, ApiError> {
    let pool = state.platform.pool.clone();
    let account = user.account_id;
    web::block(move || -> Result<_, ApiError> {
        Ok(repo::find(&mut *pool.get()?, account, ConnectionId(id))?)
    })
    .await??
    .ok_or(ApiError::NotFound)
}

/// A connection: metadata only.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The connection.")),
    responses(
        Authenticated,
        (status = 200, description = "The connection.", body = docs::Connection),
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
        (status = 200, description = "Whether the system answered (Salesforce and Dropbox: an \
            expired access token is renewed once and kept).", body = docs::ConnectionTest),
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
        Some(provider) => {
            let tokens = provider_connect::open_tokens(&state, account, id, sealed)?;
            provider_connect::check(provider, &state, account, id, tokens).await?
        }
        None => {
            let password =
                SecretString::from(open_password(&state, account, id, sealed)?.to_string());
            let params = row.params.clone();
            web::block(move || probe_postgres(&params, &password)).await?
        }
    };
    Ok(HttpResponse::Ok().json(match outcome {
        Ok(()) => json!({ "ok": true }),
        Err(reason) => json!({ "ok": false, "reason": reason }),
    }))
}

/// A connection's sealed secret.
pub(crate) async fn sealed_secret(
    state: &AppState,
    account: AccountId,
    id: ConnectionId,
) -> Result<Vec<u8>, ApiError> {
    let pool = state.platform.pool.clone();
    web::block(move || -> Result<_, ApiError> { Ok(repo::secret(&mut *pool.get()?, account, id)?) })
        .await??
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

/// Connects to PostgreSQL with `params` and runs `SELECT 1`.
fn probe_postgres(params: &Value, password: &SecretString) -> Result<(), String> {
    use diesel::{Connection, RunQueryDsl};
    let field = |k: &str| params.get(k).and_then(Value::as_str).unwrap_or_default();
    let port = params.get("port").and_then(Value::as_u64).unwrap_or(5432);
    let conninfo = format!(
        "host={} port={port} dbname={} user={} password={} sslmode={} connect_timeout=5 application_name=sluice",
        quote(field("host")),
        quote(field("dbname")),
        quote(field("user")),
        quote(password.expose_secret()),
        quote(field("sslmode")),
    );
    let mut conn =
        diesel::PgConnection::establish(&conninfo).map_err(|e| reason(&e.to_string()))?;
    diesel::sql_query("SELECT 1")
        .execute(&mut conn)
        .map(|_| ())
        .map_err(|e| reason(&e.to_string()))
}

/// A libpq connection-string value, quoted.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The last line libpq gave, which says what went wrong.
fn reason(message: &str) -> String {
    let line = message
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("could not connect");
    line.trim_start_matches("FATAL:")
        .trim()
        .chars()
        .take(300)
        .collect()
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
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = find(&state, &user, path.into_inner()).await?;
    manager(&user)?;
    let revoked_at_provider = match Provider::of_kind(&row.kind) {
        Some(provider) => Some(revoke(provider, &state, &user, &row).await),
        None => None,
    };
    let event = NewEvent::new(
        DomainEvent::ConnectionDisconnected(ConnectionDisconnected {
            revoked_at_provider,
        }),
        state.metadata(format!("user:{}", user.user_id)),
    )
    .for_account(user.account_id);
    let request = AppendRequest::new(
        "connection",
        row.connection_id,
        ExpectedVersion::Any,
        vec![event],
    )
    .with_secret(SecretWrite::DestroyConnectionSecret {
        connection_id: row.connection_id,
    });
    state.platform.appender.append(request).await?;
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
    fn conninfo_values_are_quoted() {
        assert_eq!(quote("a b'c\\d"), "'a b\\'c\\\\d'");
    }

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
