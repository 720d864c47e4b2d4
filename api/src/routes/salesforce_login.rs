//! `GET /v1/auth/salesforce/start` and `/callback`: log in with Salesforce.
//!
//! *Start* makes a single-use `state` and a PKCE verifier (S256), keeps the
//! state's SHA-256 and the verifier sealed by the keyring for ten minutes, and
//! redirects to Salesforce. *Callback* takes the state out (a replayed or
//! forged one fails), exchanges the code with the verifier at the exact
//! redirect URI, reads the user's verified email, and opens a session for the
//! Sluice user with that email. The provider's tokens are stored sealed.

use crate::auth::salesforce::{self, SalesforceConfig};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::routes::sessions::{issue, Grant};
use crate::AppState;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::{Duration, Utc};
use oauth2::{
    AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RefreshToken,
    RequestTokenError, Scope, TokenResponse,
};
use serde::Deserialize;
use serde_json::json;
use sluice_events::SecretWrite;
use sluice_schema::ids::{AccountId, UserId};
use sluice_schema::repo::oauth::Purpose;
use sluice_schema::repo::{accounts, oauth};
use sluice_vault::{Aad, Sealed};

pub(crate) const PROVIDER: &str = "salesforce";
const STATE_TTL_MINUTES: i64 = 10;

pub(crate) fn config(state: &AppState) -> Result<&SalesforceConfig, ApiError> {
    state.salesforce.as_ref().ok_or(ApiError::NotFound)
}

pub(crate) const LOGIN_CALLBACK: &str = "/v1/auth/salesforce/callback";

fn redirect_uri(state: &AppState) -> String {
    format!("{}{LOGIN_CALLBACK}", state.public_url)
}

fn verifier_aad(state_hash: &[u8]) -> Aad {
    Aad::new("-", "oauth_states", hex::encode(state_hash), "verifier")
}

/// Starts an authorization: keeps the state's hash and the sealed PKCE
/// verifier for `purpose`, and gives the provider's authorization URL.
pub(crate) async fn begin(
    state: &AppState,
    purpose: Purpose,
    callback_path: &str,
    scopes: &[&str],
) -> Result<String, ApiError> {
    let client = config(state)?
        .client(&format!("{}{callback_path}", state.public_url))
        .map_err(ApiError::Internal)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge);
    for scope in scopes {
        request = request.add_scope(Scope::new((*scope).to_owned()));
    }
    let (url, csrf) = request.url();
    let state_hash = crate::auth::token::sha256(csrf.secret());
    let sealed = state
        .keyring
        .get()
        .seal(verifier.secret().as_bytes(), &verifier_aad(&state_hash));
    let pool = state.platform.pool.clone();
    web::block(move || -> Result<(), ApiError> {
        let now = Utc::now();
        let expires = now + Duration::minutes(STATE_TTL_MINUTES);
        Ok(oauth::save_state(
            &mut *pool.get()?,
            PROVIDER,
            &state_hash,
            &sealed.0,
            &purpose,
            now,
            expires,
        )?)
    })
    .await??;
    Ok(url.to_string())
}

pub async fn start(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let url = begin(
        &state,
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

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Finishes an authorization: takes the state out (it works once), refuses a
/// denied consent, and exchanges the code with the verifier at the same
/// redirect URI. The purpose the state was made for, and the tokens.
pub(crate) async fn complete(
    state: &AppState,
    query: Callback,
    callback_path: &str,
    connect: bool,
) -> Result<(Purpose, salesforce::TokenResponse), ApiError> {
    let config = config(state)?;
    let invalid_state = || {
        ApiError::BadRequest(
            "this sign-in link was used already or has expired; start again".into(),
        )
    };
    let presented = query.state.ok_or_else(invalid_state)?;
    let state_hash = crate::auth::token::sha256(&presented);
    let pool = state.platform.pool.clone();
    let lookup = state_hash.clone();
    let taken = web::block(move || -> Result<_, ApiError> {
        Ok(oauth::take_state(
            &mut *pool.get()?,
            PROVIDER,
            &lookup,
            Utc::now(),
        )?)
    })
    .await??
    .ok_or_else(invalid_state)?;
    // A state made for logging in cannot connect an org, nor the other way.
    if matches!(taken.purpose, Purpose::Connect { .. }) != connect {
        return Err(invalid_state());
    }
    if let Some(error) = query.error {
        let message = if error == "access_denied" {
            "Salesforce sign-in was cancelled".to_owned()
        } else {
            format!("Salesforce refused the sign-in ({})", short(&error))
        };
        return Err(ApiError::Forbidden(message));
    }
    let code = query
        .code
        .ok_or_else(|| ApiError::BadRequest("the callback carries no code".into()))?;
    let sealed = Sealed(taken.sealed_verifier);
    let verifier = state
        .keyring
        .with(|k| k.open(&sealed, &verifier_aad(&state_hash)))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let verifier =
        String::from_utf8(verifier.to_vec()).map_err(|e| ApiError::Internal(e.to_string()))?;
    let client = config
        .client(&format!("{}{callback_path}", state.public_url))
        .map_err(ApiError::Internal)?;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&state.http)
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => ApiError::Provider(format!(
                "Salesforce refused the sign-in ({})",
                r.error().as_ref()
            )),
            other => ApiError::Unavailable(format!("Salesforce token exchange: {other}")),
        })?;
    Ok((taken.purpose, tokens))
}

pub async fn callback(
    state: web::Data<AppState>,
    query: web::Query<Callback>,
) -> Result<HttpResponse, ApiError> {
    let config = config(&state)?;
    let (_, tokens) = complete(&state, query.into_inner(), LOGIN_CALLBACK, false).await?;
    let access = tokens.access_token().secret().clone();
    let info = salesforce::userinfo(&state.http, config, &access)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let email = info.email.filter(|_| info.email_verified).ok_or_else(|| {
        ApiError::Provider("Salesforce has no verified email for this user".into())
    })?;
    let email = crate::people::normalize_email(&email)
        .map_err(|_| ApiError::Provider("Salesforce gave an unusable email".into()))?;
    let index = state.keyring.get().blind_index("email", &email);
    let pool = state.platform.pool.clone();
    let user = web::block(move || -> Result<_, ApiError> {
        Ok(accounts::find_by_email(&mut *pool.get()?, &index)?)
    })
    .await??
    .ok_or_else(|| ApiError::Provider("no Sluice account has this email; sign up first".into()))?;

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
        .json(json!({ "token": token, "token_type": "Bearer", "expires_at": expires_at })))
}

/// `GET /v1/auth/salesforce/identity`: the Salesforce user linked to the
/// caller by their last Salesforce log-in. An expired access token is
/// refreshed with the stored refresh token, once, and the call retried.
pub async fn identity(
    user: AuthUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let config = config(&state)?;
    let (account, user_id) = (user.account_id, user.user_id);
    let pool = state.platform.pool.clone();
    let tokens = web::block(move || -> Result<_, ApiError> {
        Ok(oauth::find_tokens(
            &mut *pool.get()?,
            account,
            user_id,
            PROVIDER,
        )?)
    })
    .await??
    .ok_or(ApiError::NotFound)?;
    let (access, refresh) = (tokens.access, tokens.refresh);
    let aad = |field| Aad::new(account, "oauth_tokens", user_id, field);
    let open = |sealed: Vec<u8>, field| -> Result<String, ApiError> {
        let sealed = Sealed(sealed);
        let plain = state
            .keyring
            .with(|k| k.open(&sealed, &aad(field)))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        String::from_utf8(plain.to_vec()).map_err(|e| ApiError::Internal(e.to_string()))
    };
    let info = match salesforce::userinfo(&state.http, config, &open(access, "access_token")?).await
    {
        Ok(info) => info,
        Err(salesforce::ProviderError::Expired) => {
            let refresh = refresh.ok_or_else(|| {
                ApiError::Provider(
                    "the Salesforce session expired; log in with Salesforce again".into(),
                )
            })?;
            let client = config
                .client(&redirect_uri(&state))
                .map_err(ApiError::Internal)?;
            let renewed = client
                .exchange_refresh_token(&RefreshToken::new(open(refresh, "refresh_token")?))
                .request_async(&state.http)
                .await
                .map_err(|_| {
                    ApiError::Provider(
                        "the Salesforce session expired; log in with Salesforce again".into(),
                    )
                })?;
            let access = renewed.access_token().secret().clone();
            let sealed = state
                .keyring
                .get()
                .seal(access.as_bytes(), &aad("access_token"))
                .0;
            let pool = state.platform.pool.clone();
            web::block(move || -> Result<(), ApiError> {
                Ok(oauth::update_access_token(
                    &mut *pool.get()?,
                    account,
                    user_id,
                    PROVIDER,
                    &sealed,
                    Utc::now(),
                )?)
            })
            .await??;
            salesforce::userinfo(&state.http, config, &access)
                .await
                .map_err(|e| ApiError::Unavailable(e.to_string()))?
        }
        Err(e) => return Err(ApiError::Unavailable(e.to_string())),
    };
    Ok(HttpResponse::Ok().json(json!({
        "email": info.email,
        "email_verified": info.email_verified,
        "user_id": info.user_id,
        "organization_id": info.organization_id,
    })))
}

/// A provider's error code, cut short and limited to plain characters.
fn short(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(40)
        .collect()
}
