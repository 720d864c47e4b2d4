//! `/v1/connections`: a team's own systems. Only what is not secret is ever
//! returned; the password is sealed by the keyring, bound to its connection.
//! Owners and admins add and disconnect; everyone in the account may list
//! and test.

pub mod postgres;

use crate::auth::{AccountAdmin, AuthUser, ManageConnections};
use crate::error::ApiError;
use crate::openapi::{Authenticated, ErrorBody};
use crate::people::{invalid, subject_key};
use crate::routes::connection_checks as checks;
use crate::routes::connection_details::{open_all, open_connection};
use crate::routes::provider_connect::{self, Provider};
use crate::streams;
use crate::views::imports as views;
use crate::AppState;
use actix_web::{delete, get, post, web, HttpResponse};
use sluice_events::aggregate::connection::Connection;
use sluice_events::event::ConnectionFailure;
use sluice_events::SecretWrite;
use sluice_schema::ids::{AccountId, ConnectionId};
use sluice_schema::kinds::ConnectionKind;
use sluice_schema::models::ConnectionRow;
use sluice_schema::repo::connections as repo;
use sluice_vault::{Aad, Sealed};
use uuid::Uuid;

pub(crate) fn secret_aad(account: AccountId, id: ConnectionId) -> Aad {
    sluice_vault::owner::connection_secret(account, id)
}

fn metadata(row: &ConnectionRow) -> views::Connection {
    views::Connection {
        id: row.connection_id,
        // An opened row always has its name.
        name: row.name.clone().unwrap_or_default(),
        kind: row.kind.to_string(),
        params: checks::shown_params(row),
        created_at: Some(row.created_at),
        last_test: checks::last_test(row),
    }
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
    let outcome = match Provider::of_kind(row.kind) {
        Some(Provider::Salesforce) => crate::routes::salesforce_target::check(&state, &user, &row)
            .await?
            .map_err(|message| (ConnectionFailure::ProviderRefused, message)),
        Some(provider) => {
            let tokens = provider_connect::tokens::open_tokens(&state, account, id, sealed)?;
            provider_connect::tokens::check(provider, &state, account, id, tokens)
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
    if row.kind != ConnectionKind::Postgres {
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
    let revoked_at_provider = match Provider::of_kind(row.kind) {
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
    provider_connect::tokens::revoke(provider, state, account, id, sealed).await
}
