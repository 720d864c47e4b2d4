//! The signed-in user, as an extractor: a handler that takes [`AuthUser`] can
//! only be reached with a live token of this region.

use super::{bearer, cookie, token};
use crate::error::ApiError;
use crate::AppState;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use sluice_schema::ids::{AccountId, TokenId, UserId};

pub use sluice_schema::kinds::Role;

#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: UserId,
    pub account_id: AccountId,
    pub role: Role,
    /// The session or API token this request came with.
    pub token_id: TokenId,
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let presented = presented(req);
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::Internal("application state missing".into()))?;
            authenticate(&state, presented?.ok_or(ApiError::Unauthorized)?).await
        })
    }
}

/// The token a request presents: its bearer token, or else its session
/// cookie, which a state-changing request must back with the session's
/// CSRF token.
fn presented(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    if let Some(token) = bearer(req) {
        return Ok(Some(token.to_owned()));
    }
    let Some(cookie) = req.cookie(cookie::SESSION_COOKIE) else {
        return Ok(None);
    };
    let safe = matches!(req.method().as_str(), "GET" | "HEAD" | "OPTIONS");
    if !safe {
        let csrf = req
            .headers()
            .get(cookie::CSRF_HEADER)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        if !cookie::csrf_matches(cookie.value(), csrf) {
            return Err(ApiError::Forbidden(
                "this request came with the session cookie but without its CSRF token".into(),
            ));
        }
    }
    Ok(Some(cookie.value().to_owned()))
}

/// The user a page is for: `None` when the browser has no live session.
pub async fn page_user(req: &HttpRequest) -> Result<Option<(AuthUser, String)>, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("application state missing".into()))?;
    let Some(cookie) = req.cookie(cookie::SESSION_COOKIE) else {
        return Ok(None);
    };
    let token = cookie.value().to_owned();
    match authenticate(&state, token.clone()).await {
        Ok(user) => Ok(Some((user, cookie::csrf_token(&token)))),
        Err(ApiError::Unauthorized | ApiError::WrongRegion(_)) => Ok(None),
        Err(other) => Err(other),
    }
}

async fn authenticate(state: &AppState, presented: String) -> Result<AuthUser, ApiError> {
    let region = token::region_of(&presented).ok_or(ApiError::Unauthorized)?;
    if region != state.region {
        return Err(ApiError::WrongRegion(region.to_owned()));
    }
    let digest = token::sha256(&presented);
    let found = state
        .db(move |conn| {
            Ok(sluice_schema::repo::tokens::authenticate(
                conn,
                &digest,
                chrono::Utc::now(),
            )?)
        })
        .await?;
    let (token, user) = found.ok_or(ApiError::Unauthorized)?;
    let role: Role = user
        .role
        .parse()
        .map_err(|e| ApiError::Internal(format!("user: {e}")))?;
    Ok(AuthUser {
        user_id: UserId(user.user_id),
        account_id: AccountId(user.account_id),
        role,
        token_id: TokenId(token.token_id),
    })
}
