//! A provider connection's sealed tokens: sealed, opened, renewed with the
//! refresh token, checked with the provider, and revoked at Disconnect.

use super::{unconfigured, Provider, ProviderTokens};
use crate::auth::oauth::ProviderError;
use crate::auth::{dropbox, salesforce};
use crate::error::ApiError;
use crate::routes::connections::secret_aad;
use crate::AppState;
use oauth2::{RefreshToken, TokenResponse};
use sluice_schema::ids::{AccountId, ConnectionId};
use sluice_schema::repo::connections as repo;
use sluice_vault::Sealed;
use zeroize::Zeroizing;

pub(super) fn seal(
    state: &AppState,
    account: AccountId,
    id: ConnectionId,
    tokens: &ProviderTokens,
) -> Result<Vec<u8>, ApiError> {
    let plain =
        Zeroizing::new(serde_json::to_vec(tokens).map_err(|e| ApiError::Internal(e.to_string()))?);
    Ok(state.keyring.get().seal(&plain, &secret_aad(account, id)).0)
}

/// Opens a provider connection's sealed tokens.
pub(crate) fn open_tokens(
    state: &AppState,
    account: AccountId,
    id: ConnectionId,
    sealed: Vec<u8>,
) -> Result<ProviderTokens, ApiError> {
    let sealed = Sealed(sealed);
    let plain = state
        .keyring
        .with(|k| k.open(&sealed, &secret_aad(account, id)))
        .map_err(|e| ApiError::Internal(format!("connection secret: {e}")))?;
    serde_json::from_slice(&plain)
        .map_err(|e| ApiError::Internal(format!("connection secret: {e}")))
}

/// Renews the access token with the refresh token and keeps the new one
/// sealed. `Ok(Err(reason))` when the provider refuses.
async fn renew(
    provider: Provider,
    state: &AppState,
    account: AccountId,
    id: ConnectionId,
    tokens: &mut ProviderTokens,
) -> Result<Result<(), String>, ApiError> {
    let app = provider.app(state)?;
    let again = format!("{} refused to renew the session; connect again", app.title);
    let Some(refresh) = tokens.refresh_token.clone() else {
        return Ok(Err(again));
    };
    let client = app
        .client(&format!("{}{}", state.public_url, provider.callback()))
        .map_err(ApiError::Internal)?;
    let renewed = match client
        .exchange_refresh_token(&RefreshToken::new(refresh))
        .request_async(&state.http)
        .await
    {
        Ok(renewed) => renewed,
        Err(_) => return Ok(Err(again)),
    };
    tokens.access_token = renewed.access_token().secret().clone();
    // A provider that rotates refresh tokens sends the next one.
    if let Some(next) = renewed.refresh_token() {
        tokens.refresh_token = Some(next.secret().clone());
    }
    keep(state, account, id, tokens).await?;
    Ok(Ok(()))
}

/// Seals a connection's tokens in place of the ones it had.
pub(crate) async fn keep(
    state: &AppState,
    account: AccountId,
    id: ConnectionId,
    tokens: &ProviderTokens,
) -> Result<(), ApiError> {
    let sealed = seal(state, account, id, tokens)?;
    state
        .db(move |conn| Ok(repo::update_secret(conn, account, id, &sealed)?))
        .await
}

/// Asks the provider who the connection's user is; an expired access token
/// is refreshed once and the new one kept.
pub(crate) async fn check(
    provider: Provider,
    state: &AppState,
    account: AccountId,
    id: ConnectionId,
    mut tokens: ProviderTokens,
) -> Result<Result<(), String>, ApiError> {
    match provider.identify(state, &tokens.access_token).await {
        Ok(()) => return Ok(Ok(())),
        Err(ProviderError::Failed(reason)) => return Ok(Err(reason)),
        Err(ProviderError::Expired) => {}
    }
    if let Err(reason) = renew(provider, state, account, id, &mut tokens).await? {
        return Ok(Err(reason));
    }
    Ok(provider
        .identify(state, &tokens.access_token)
        .await
        .map_err(|e| e.to_string()))
}

/// Revokes a connection's tokens at its provider; whether the provider
/// confirmed it. Salesforce revokes a whole session by its refresh token;
/// Dropbox revokes an access token and its refresh token together, so an
/// expired access token is renewed first.
pub(crate) async fn revoke(
    provider: Provider,
    state: &AppState,
    account: AccountId,
    id: ConnectionId,
    sealed: Vec<u8>,
) -> bool {
    let Ok(mut tokens) = open_tokens(state, account, id, sealed) else {
        return false;
    };
    let outcome = match provider {
        Provider::Salesforce => match state.salesforce.as_ref() {
            Some(config) => {
                let token = tokens
                    .refresh_token
                    .as_deref()
                    .unwrap_or(&tokens.access_token);
                salesforce::revoke(&state.http, config, token).await
            }
            None => Err(unconfigured()),
        },
        Provider::Dropbox => match state.dropbox.as_ref() {
            Some(config) => {
                match dropbox::revoke(&state.http, config, &tokens.access_token).await {
                    Err(ProviderError::Expired) => {
                        match renew(provider, state, account, id, &mut tokens).await {
                            Ok(Ok(())) => {
                                dropbox::revoke(&state.http, config, &tokens.access_token).await
                            }
                            Ok(Err(reason)) => Err(ProviderError::Failed(reason)),
                            Err(e) => Err(ProviderError::Failed(e.to_string())),
                        }
                    }
                    other => other,
                }
            }
            None => Err(unconfigured()),
        },
    };
    match outcome {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(connection = %id, provider = %provider.kind(), error = %e, "the provider did not confirm the revocation");
            false
        }
    }
}
