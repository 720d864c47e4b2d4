//! `POST/GET /v1/api-tokens`, `DELETE /v1/api-tokens/{id}`: tokens for
//! programs. The token itself is shown once, at creation.

use crate::auth::{AuthUser, Role};
use crate::error::ApiError;
use crate::routes::sessions::{issue, revoke, Grant};
use crate::AppState;
use actix_web::{web, HttpResponse};
use chrono::Duration;
use serde::Deserialize;
use serde_json::json;
use sluice_schema::ids::TokenId;
use sluice_schema::repo::tokens as repo;
use uuid::Uuid;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    name: String,
    /// 1 to 365; 90 when absent.
    expires_in_days: Option<i64>,
}

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
    Ok(HttpResponse::Created().json(json!({
        "id": id,
        "name": name,
        "token": token,
        "expires_at": expires_at,
    })))
}

pub async fn list(user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pool = state.platform.pool.clone();
    let rows = web::block(move || -> Result<_, ApiError> {
        Ok(repo::list_api_tokens(
            &mut *pool.get()?,
            user.account_id,
            user.user_id,
        )?)
    })
    .await??;
    let tokens: Vec<_> = rows
        .into_iter()
        .map(|t| {
            json!({
                "id": t.token_id,
                "name": t.name,
                "created_at": t.created_at,
                "expires_at": t.expires_at,
                "revoked_at": t.revoked_at,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "api_tokens": tokens })))
}

/// Members revoke their own tokens; owners and admins any of the account's.
pub async fn delete(
    user: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = TokenId(path.into_inner());
    let pool = state.platform.pool.clone();
    let account = user.account_id;
    let found = web::block(move || -> Result<_, ApiError> {
        Ok(repo::find_token(&mut *pool.get()?, account, id)?)
    })
    .await??;
    let allowed = found.filter(|t| {
        t.kind == "api"
            && t.revoked_at.is_none()
            && (t.user_id == user.user_id.0 || user.role >= Role::Admin)
    });
    if allowed.is_none() {
        return Err(ApiError::NotFound);
    }
    revoke(&state, &user, id, "revoked").await?;
    Ok(HttpResponse::NoContent().finish())
}
