//! `POST/GET /v1/api-tokens`, `DELETE /v1/api-tokens/{id}`: tokens for
//! programs. The token itself is shown once, at creation. Its name is
//! sealed under the account's subject key (`token.issued.v2`) and opened
//! for the list; a token issued before sealing has it in clear.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::openapi::{Authenticated, ErrorBody, JsonBody};
use crate::routes::sessions::{issue, revoke, Grant};
use crate::views::account as view;
use crate::AppState;
use actix_web::{delete, get, post, web, HttpResponse};
use chrono::Duration;
use serde::Deserialize;
use sluice_schema::ids::TokenId;
use sluice_schema::repo::tokens as repo;
use sluice_vault::owner;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// 1 to 100 printable characters.
    name: String,
    /// 1 to 365; 90 when absent.
    #[schema(minimum = 1, maximum = 365)]
    expires_in_days: Option<i64>,
}

/// A token for programs, acting as the caller. The token itself is shown
/// this once.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(
        Authenticated,
        JsonBody,
        (status = 201, description = "The token.", body = view::ApiTokenCreated),
        (status = 422, description = "`invalid`: a name that is empty, too long or not \
            printable, or days out of 1 to 365; or a field is missing, unknown or of the wrong \
            type.", body = ErrorBody),
    )
)]
#[post("/v1/api-tokens")]
pub async fn create(
    user: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<NewToken>,
) -> Result<HttpResponse, ApiError> {
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::Invalid {
            field: "name".into(),
            message: "name must be 1 to 100 printable characters".into(),
        });
    }
    let days = body.expires_in_days.unwrap_or(90);
    if !(1..=365).contains(&days) {
        return Err(ApiError::Invalid {
            field: "expires_in_days".into(),
            message: "expires_in_days must be between 1 and 365".into(),
        });
    }
    let owner = (user.account_id, user.user_id);
    let grant = Grant {
        kind: "api",
        name: Some(name.clone()),
        ttl: Duration::days(days),
        via: None,
        secrets: Vec::new(),
    };
    let (id, token, expires_at) = issue(&state, owner, grant).await?;
    Ok(HttpResponse::Created().json(view::ApiTokenCreated {
        id: id.0,
        name,
        token,
        expires_at,
    }))
}

/// The caller's API tokens, without their secrets.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(Authenticated, (status = 200, description = "The tokens.", body = view::ApiTokens))
)]
#[get("/v1/api-tokens")]
pub async fn list(user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let tokens = tokens_of(&state, &user).await?;
    Ok(HttpResponse::Ok().json(view::ApiTokens { api_tokens: tokens }))
}

/// The caller's API tokens, their names opened.
pub(crate) async fn tokens_of(
    state: &AppState,
    user: &AuthUser,
) -> Result<Vec<view::ApiToken>, ApiError> {
    let (account, user_id) = (user.account_id, user.user_id);
    let rows = state
        .db(move |conn| Ok(repo::list_api_tokens(conn, account, user_id)?))
        .await?;
    // The subject key is unwrapped only if a name was sealed under it.
    let subject = if rows.iter().any(|t| t.sealed_name.is_some()) {
        Some(crate::people::subject_key(state, account).await?)
    } else {
        None
    };
    rows.into_iter()
        .map(|t| {
            let name = t.opened_name(|sealed| {
                let subject = subject
                    .as_ref()
                    .ok_or_else(|| ApiError::Internal("no subject key".into()))?;
                subject
                    .decrypt(sealed, &owner::token_name(t.account_id, t.token_id))
                    .map(|plain| plain.to_string())
                    .map_err(|e| ApiError::Internal(format!("token {}: {e}", t.token_id)))
            })?;
            Ok(view::ApiToken {
                id: t.token_id,
                name,
                created_at: t.created_at,
                expires_at: t.expires_at,
                revoked_at: t.revoked_at,
            })
        })
        .collect()
}

/// Revokes an API token: members their own, owners and admins any of the
/// account's.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(("id" = Uuid, Path, description = "The token's id.")),
    responses(
        Authenticated,
        (status = 204, description = "The token is revoked."),
        (status = 404, description = "`not_found`: no live API token with this id that the \
            caller may revoke.", body = ErrorBody),
    )
)]
#[delete("/v1/api-tokens/{id}")]
pub async fn delete(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = TokenId(path.into_inner());
    let account = user.account_id;
    let found = state
        .db(move |conn| Ok(repo::find_token(conn, account, id)?))
        .await?;
    let allowed = found.filter(|t| {
        t.kind == "api"
            && t.revoked_at.is_none()
            && (t.user_id == user.user_id.0 || user.is_admin())
    });
    if allowed.is_none() {
        return Err(ApiError::NotFound);
    }
    revoke(&state, &user, id, "revoked").await?;
    Ok(HttpResponse::NoContent().finish())
}
