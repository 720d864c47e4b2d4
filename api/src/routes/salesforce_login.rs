//! `GET /v1/auth/salesforce/start` and `/callback`: log in with Salesforce.
//!
//! *Start* begins an authorization-code flow with PKCE (see `oauth_flow`)
//! and redirects to Salesforce. *Callback* completes it, reads the user's
//! verified email, and opens a session for the Sluice user with that email.
//! The provider's tokens are stored sealed.

use crate::auth::oauth::ProviderError;
use crate::auth::salesforce::{self, SalesforceConfig};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::openapi::{Authenticated, ErrorBody, Failures};
use crate::routes::oauth_flow::{begin, complete, Callback};
use crate::routes::sessions::{issue, Grant};
use crate::views::account as view;
use crate::AppState;
use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use chrono::Utc;
use oauth2::TokenResponse;
use sluice_events::SecretWrite;
use sluice_schema::ids::{AccountId, UserId};
use sluice_schema::repo::oauth::Purpose;
use sluice_schema::repo::{accounts, oauth};
use sluice_vault::{Aad, Sealed};

pub(crate) const PROVIDER: &str = "salesforce";

pub(crate) fn config(state: &AppState) -> Result<&SalesforceConfig, ApiError> {
    state.salesforce.as_ref().ok_or(ApiError::NotFound)
}

pub(crate) const LOGIN_CALLBACK: &str = "/v1/auth/salesforce/callback";

/// Logs in with Salesforce: redirects to Salesforce's authorization page
/// (PKCE S256, a single-use state).
#[utoipa::path(
    responses(
        Failures,
        (status = 302, description = "To Salesforce's authorization page.",
            headers(("Location" = String, description = "Salesforce's authorization URL."))),
        (status = 404, description = "`not_found`: this deployment has no Salesforce app.", body = ErrorBody),
    )
)]
#[get("/v1/auth/salesforce/start")]
pub async fn start(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let url = begin(
        &state,
        &config(&state)?.oauth(),
        Purpose::Login,
        LOGIN_CALLBACK,
        &["openid", "email", "refresh_token"],
    )
    .await?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, url))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// Salesforce's redirect back: opens a session for the Sluice user with the
/// same verified email.
#[utoipa::path(
    params(Callback),
    responses(
        Failures,
        (status = 200, description = "The session.", body = view::SessionToken),
        (status = 400, description = "`bad_request`: the state is unknown, used or expired, or \
            the redirect carries no code; or the query string is unreadable.", body = ErrorBody),
        (status = 401, description = "`provider_refused`: Salesforce refused the code, has no \
            verified email for the user, or no Sluice account has that email.", body = ErrorBody),
        (status = 403, description = "`forbidden`: the user cancelled, or Salesforce refused the \
            authorization.", body = ErrorBody),
        (status = 404, description = "`not_found`: this deployment has no Salesforce app.", body = ErrorBody),
    )
)]
#[get("/v1/auth/salesforce/callback")]
pub async fn callback(
    state: web::Data<AppState>,
    query: web::Query<Callback>,
) -> Result<HttpResponse, ApiError> {
    let config = config(&state)?;
    let (_, tokens) = complete(
        &state,
        &config.oauth(),
        query.into_inner(),
        LOGIN_CALLBACK,
        false,
    )
    .await?;
    let access = tokens.access_token().secret().clone();
    let refused = match find_user(&state, config, &access).await {
        Ok(user) => Ok(user),
        Err(e) => {
            // Tokens of a log-in that is refused are no use to anyone: they
            // are revoked at Salesforce (the refresh token ends the session).
            let token = tokens
                .refresh_token()
                .map_or(access.as_str(), |r| r.secret());
            if let Err(why) = salesforce::revoke(&state.http, config, token).await {
                tracing::warn!(error = %why, "the tokens of a refused Salesforce log-in were not revoked");
            }
            Err(e)
        }
    };
    let user = refused?;
    let account = AccountId(user.account_id);
    let user_id = UserId(user.user_id);
    let seal = |field, value: &str| {
        state
            .keyring
            .get()
            .seal(
                value.as_bytes(),
                &Aad::new(account, "oauth_tokens", user_id, field),
            )
            .0
    };
    let grant = Grant {
        via: Some(PROVIDER),
        secrets: vec![SecretWrite::OAuthTokens {
            user_id: user_id.0,
            account_id: account.0,
            provider: PROVIDER.into(),
            access_token: seal("access_token", &access),
            refresh_token: tokens
                .refresh_token()
                .map(|r| seal("refresh_token", r.secret())),
        }],
        ..Grant::session(state.session_ttl)
    };
    let (_, token, expires_at) = issue(&state, (account, user_id), grant).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(view::SessionToken {
            token,
            token_type: "Bearer".into(),
            expires_at,
        }))
}

/// `GET /v1/auth/salesforce/identity`: the Salesforce user linked to the
/// caller by their last Salesforce log-in. An expired access token is
/// refreshed with the stored refresh token, once, and the call retried.
/// The refresh happens under a lock on the stored tokens (a second caller
/// at the same moment reuses the first one's tokens), and a rotated
/// refresh token is kept with the new access token.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    responses(
        Authenticated,
        (status = 200, description = "The Salesforce user.", body = view::SalesforceIdentity),
        (status = 401, description = "`unauthorized` or `wrong_region` (see the token); \
            `provider_refused`: the Salesforce session expired and cannot be renewed (log in \
            with Salesforce again).", body = ErrorBody),
        (status = 404, description = "`not_found`: no Salesforce app on this deployment, or no \
            Salesforce log-in by the caller.", body = ErrorBody),
    )
)]
#[get("/v1/auth/salesforce/identity")]
pub async fn identity(
    user: AuthUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let config = config(&state)?;
    let (account, user_id) = (user.account_id, user.user_id);
    let tokens = state
        .db(move |conn| Ok(oauth::find_tokens(conn, account, user_id, PROVIDER)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    let access = tokens.access;
    let aad = |field| Aad::new(account, "oauth_tokens", user_id, field);
    let open = |sealed: Vec<u8>, field| -> Result<String, ApiError> {
        let sealed = Sealed(sealed);
        let plain = state
            .keyring
            .with(|k| k.open(&sealed, &aad(field)))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        String::from_utf8(plain.to_vec()).map_err(|e| ApiError::Internal(e.to_string()))
    };
    let access = open(access, "access_token")?;
    let info = match salesforce::userinfo(&state.http, config, &access).await {
        Ok(info) => info,
        Err(ProviderError::Expired) => {
            let access = renew(&state, config, account, user_id, access).await?;
            salesforce::userinfo(&state.http, config, &access)
                .await
                .map_err(|e| ApiError::Unavailable(e.to_string()))?
        }
        Err(e) => return Err(ApiError::Unavailable(e.to_string())),
    };
    Ok(HttpResponse::Ok().json(view::SalesforceIdentity {
        email: info.email,
        email_verified: info.email_verified,
        user_id: info.user_id,
        organization_id: info.organization_id,
    }))
}

/// The expired log-in access token `stale` renewed: under a row lock on the
/// user's stored tokens, re-read once it is held; if another request
/// renewed them meanwhile, its access token; otherwise a refresh grant's,
/// sealed with the refresh token it rotated to (or the one used).
async fn renew(
    state: &AppState,
    config: &SalesforceConfig,
    account: AccountId,
    user_id: UserId,
    stale: String,
) -> Result<String, ApiError> {
    let again = || {
        ApiError::Provider("the Salesforce session expired; log in with Salesforce again".into())
    };
    let aad = move |field| Aad::new(account, "oauth_tokens", user_id, field);
    let keyring = state.keyring.clone();
    let open = move |sealed: &[u8], field| -> Result<zeroize::Zeroizing<String>, ApiError> {
        let sealed = Sealed(sealed.to_vec());
        let plain = keyring
            .with(|k| k.open(&sealed, &aad(field)))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        String::from_utf8(plain.to_vec())
            .map(zeroize::Zeroizing::new)
            .map_err(|e| ApiError::Internal(e.to_string()))
    };
    let (pool, keyring, http, config) = (
        state.platform.pool.clone(),
        state.keyring.clone(),
        state.http.clone(),
        config.clone(),
    );
    let runtime = tokio::runtime::Handle::current();
    let now = Utc::now();
    let reopen = open.clone();
    let stored = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let mut conn = pool.get()?;
        oauth::renew_tokens(&mut conn, account, user_id, PROVIDER, now, |stored| {
            if open(&stored.access, "access_token")?.as_str() != stale {
                return Ok(None);
            }
            let refresh = open(
                stored.refresh.as_deref().ok_or_else(again)?,
                "refresh_token",
            )?;
            let grant = runtime
                .block_on(sluice_connectors::salesforce::refresh_grant(
                    &http,
                    &config.login_url,
                    &config.client_id,
                    secrecy::ExposeSecret::expose_secret(&config.client_secret),
                    &refresh,
                ))
                .map_err(|_| again())?;
            let seal = |value: &str, field| keyring.get().seal(value.as_bytes(), &aad(field)).0;
            let next_refresh = grant
                .refresh_token
                .as_deref()
                .map_or(refresh.as_str(), |r| r.as_str());
            Ok(Some(oauth::SealedTokens {
                access: seal(&grant.access_token, "access_token"),
                refresh: Some(seal(next_refresh, "refresh_token")),
            }))
        })
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(reopen(&stored.access, "access_token")?.to_string())
}

/// The Sluice user with the verified email Salesforce gives for `access`.
async fn find_user(
    state: &AppState,
    config: &SalesforceConfig,
    access: &str,
) -> Result<sluice_schema::models::UserRow, ApiError> {
    let info = salesforce::userinfo(&state.http, config, access)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let email = info.email.filter(|_| info.email_verified).ok_or_else(|| {
        ApiError::Provider("Salesforce has no verified email for this user".into())
    })?;
    let email = crate::people::normalize_email(&email)
        .map_err(|_| ApiError::Provider("Salesforce gave an unusable email".into()))?;
    let index = state.keyring.get().blind_index("email", &email);
    state
        .db(move |conn| Ok(accounts::find_by_email(conn, &index)?))
        .await?
        .ok_or_else(|| ApiError::Provider("no Sluice account has this email; sign up first".into()))
}
