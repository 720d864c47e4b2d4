//! The two halves of an authorization-code flow, shared by every provider.
//!
//! *Begin* makes a single-use `state` and a PKCE verifier (S256), keeps the
//! state's SHA-256 and the verifier sealed by the keyring for ten minutes,
//! with what the flow is for, and gives the provider's authorization URL.
//! *Complete* takes the state out (a replayed or forged one fails), refuses
//! a denied consent, and exchanges the code with the verifier at the exact
//! redirect URI.

use crate::auth::oauth::{OAuthApp, TokenResponse};
use crate::error::ApiError;
use crate::AppState;
use chrono::{Duration, Utc};
use oauth2::{
    AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RequestTokenError, Scope,
};
use serde::Deserialize;
use sluice_schema::repo::oauth::{self, Purpose};
use sluice_vault::{Aad, Sealed};
use utoipa::IntoParams;

const STATE_TTL_MINUTES: i64 = 10;

fn verifier_aad(state_hash: &[u8]) -> Aad {
    Aad::new("-", "oauth_states", hex::encode(state_hash), "verifier")
}

/// Starts an authorization at `app`'s provider: keeps the state's hash and
/// the sealed PKCE verifier for `purpose`, and gives the authorization URL.
pub(crate) async fn begin(
    state: &AppState,
    app: &OAuthApp,
    purpose: Purpose,
    callback_path: &str,
    scopes: &[&str],
) -> Result<String, ApiError> {
    let client = app
        .client(&format!("{}{callback_path}", state.public_url))
        .map_err(ApiError::Internal)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge);
    for scope in scopes {
        request = request.add_scope(Scope::new((*scope).to_owned()));
    }
    for (name, value) in app.authorize_params {
        request = request.add_extra_param(*name, *value);
    }
    let (url, csrf) = request.url();
    let state_hash = crate::auth::token::sha256(csrf.secret());
    let sealed = state
        .keyring
        .get()
        .seal(verifier.secret().as_bytes(), &verifier_aad(&state_hash));
    let provider = app.provider;
    state
        .db(move |conn| {
            let now = Utc::now();
            let expires = now + Duration::minutes(STATE_TTL_MINUTES);
            Ok(oauth::save_state(
                conn,
                provider,
                &state_hash,
                &sealed.0,
                &purpose,
                now,
                expires,
            )?)
        })
        .await?;
    Ok(url.to_string())
}

/// The provider's redirect back.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Callback {
    /// The authorization code, on consent.
    code: Option<String>,
    /// The single-use state the flow began with.
    state: Option<String>,
    /// The provider's error code, when the user did not consent
    /// (`access_denied`) or the provider refused.
    error: Option<String>,
}

/// Finishes an authorization: takes the state out (it works once), refuses a
/// denied consent, and exchanges the code with the verifier at the same
/// redirect URI. The purpose the state was made for, and the tokens.
pub(crate) async fn complete(
    state: &AppState,
    app: &OAuthApp,
    query: Callback,
    callback_path: &str,
    connect: bool,
) -> Result<(Purpose, TokenResponse), ApiError> {
    let title = app.title;
    let invalid_state =
        || ApiError::BadRequest("this link was used already or has expired; start again".into());
    let presented = query.state.ok_or_else(invalid_state)?;
    let state_hash = crate::auth::token::sha256(&presented);
    let lookup = state_hash.clone();
    let provider = app.provider;
    let taken = state
        .db(move |conn| Ok(oauth::take_state(conn, provider, &lookup, Utc::now())?))
        .await?
        .ok_or_else(invalid_state)?;
    // A state made for logging in cannot connect a system, nor the other way.
    if matches!(taken.purpose, Purpose::Connect { .. }) != connect {
        return Err(invalid_state());
    }
    if let Some(error) = query.error {
        let message = if error == "access_denied" {
            format!("the {title} authorization was cancelled")
        } else {
            format!("{title} refused the authorization ({})", short(&error))
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
    let client = app
        .client(&format!("{}{callback_path}", state.public_url))
        .map_err(ApiError::Internal)?;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&state.http)
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => ApiError::Provider(format!(
                "{title} refused the authorization ({})",
                short(r.error().as_ref())
            )),
            other => ApiError::Unavailable(format!("{title} token exchange: {other}")),
        })?;
    Ok((taken.purpose, tokens))
}

/// A provider's error code, cut short and limited to plain characters.
fn short(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(40)
        .collect()
}
