//! The signed-in user, as an extractor: a handler that takes [`AuthUser`] can
//! only be reached with a live token of this region.

use super::{bearer, token};
use crate::error::ApiError;
use crate::AppState;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use sluice_schema::ids::{AccountId, TokenId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "owner" => Some(Self::Owner),
            "admin" => Some(Self::Admin),
            "member" => Some(Self::Member),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }
}

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
        let presented = bearer(req).map(str::to_owned);
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::Internal("application state missing".into()))?;
            authenticate(&state, presented.ok_or(ApiError::Unauthorized)?).await
        })
    }
}

async fn authenticate(state: &AppState, presented: String) -> Result<AuthUser, ApiError> {
    let region = token::region_of(&presented).ok_or(ApiError::Unauthorized)?;
    if region != state.region {
        return Err(ApiError::WrongRegion(region.to_owned()));
    }
    let digest = token::sha256(&presented);
    let pool = state.platform.pool.clone();
    let found = web::block(move || -> Result<_, ApiError> {
        let mut conn = pool.get()?;
        Ok(sluice_schema::repo::tokens::authenticate(
            &mut conn,
            &digest,
            chrono::Utc::now(),
        )?)
    })
    .await??;
    let (token, user) = found.ok_or(ApiError::Unauthorized)?;
    let role = Role::parse(&user.role).ok_or_else(|| ApiError::Internal("unknown role".into()))?;
    Ok(AuthUser {
        user_id: UserId(user.user_id),
        account_id: AccountId(user.account_id),
        role,
        token_id: TokenId(token.token_id),
    })
}
