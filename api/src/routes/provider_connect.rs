//! Connect a system through its OAuth provider (a Salesforce org, a Dropbox
//! account): `GET /v1/connections/{provider}/start?name=` (owners and
//! admins) gives the authorization URL to send the browser to; the provider
//! redirects to `/v1/connections/{provider}/callback`, which is bound to the
//! account and user who started by the single-use state. The tokens are
//! sealed as the connection's secret; what identifies the org or account
//! (Salesforce's instance URL, Dropbox's account id) is kept as metadata.
//!
//! Testing a Dropbox connection asks Dropbox who the token belongs to,
//! refreshing an expired access token once (a Salesforce connection is
//! tested with a data call: see `salesforce_target::check`); Disconnect
//! revokes the tokens at the provider.

use crate::auth::oauth::{OAuthApp, ProviderError};
use crate::auth::{dropbox, salesforce, AuthUser, ManageConnections};
use crate::error::ApiError;
use crate::openapi::{Authenticated, ErrorBody, Failures};
use crate::people::text;
use crate::routes::connections::secret_aad;
use crate::routes::oauth_flow::{begin, complete, Callback};
use crate::views::account as view;
use crate::views::imports as views;
use crate::AppState;
use actix_web::{get, web, HttpResponse};
use oauth2::{RefreshToken, TokenResponse};
use serde::Deserialize;
use serde_json::json;
use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, NewEvent, SecretWrite};
use sluice_schema::ids::{AccountId, ConnectionId};
use sluice_schema::repo::connections as repo;
use sluice_schema::repo::oauth::Purpose;
use sluice_vault::Sealed;
use utoipa::IntoParams;
use zeroize::Zeroizing;

/// A provider whose accounts can be connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Provider {
    Salesforce,
    Dropbox,
}

impl Provider {
    /// The connection kind, also the provider's name in flows.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Self::Salesforce => "salesforce",
            Self::Dropbox => "dropbox",
        }
    }

    pub(crate) fn of_kind(kind: &str) -> Option<Self> {
        match kind {
            "salesforce" => Some(Self::Salesforce),
            "dropbox" => Some(Self::Dropbox),
            _ => None,
        }
    }

    fn callback(self) -> &'static str {
        match self {
            Self::Salesforce => "/v1/connections/salesforce/callback",
            Self::Dropbox => "/v1/connections/dropbox/callback",
        }
    }

    fn scopes(self) -> &'static [&'static str] {
        match self {
            Self::Salesforce => &["api", "refresh_token"],
            Self::Dropbox => &["account_info.read", "files.content.read"],
        }
    }

    /// The provider's OAuth client; 404 when this deployment has none.
    fn app(self, state: &AppState) -> Result<OAuthApp, ApiError> {
        match self {
            Self::Salesforce => state.salesforce.as_ref().map(|c| c.oauth()),
            Self::Dropbox => state.dropbox.as_ref().map(|c| c.oauth()),
        }
        .ok_or(ApiError::NotFound)
    }

    /// Asks the provider who the access token belongs to.
    async fn identify(self, state: &AppState, access_token: &str) -> Result<(), ProviderError> {
        match self {
            Self::Salesforce => {
                let config = state.salesforce.as_ref().ok_or_else(unconfigured)?;
                salesforce::userinfo(&state.http, config, access_token)
                    .await
                    .map(|_| ())
            }
            Self::Dropbox => {
                let config = state.dropbox.as_ref().ok_or_else(unconfigured)?;
                dropbox::current_account(&state.http, config, access_token)
                    .await
                    .map(|_| ())
            }
        }
    }
}

fn unconfigured() -> ProviderError {
    ProviderError::Failed("this provider is not configured on this deployment".into())
}

/// What a provider connection keeps sealed.
pub(crate) use sluice_connectors::tokens::ProviderTokens;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Start {
    /// The connection's name: 1 to 100 printable characters.
    name: String,
}

/// Owners and admins: where to send the browser to connect a Salesforce
/// org.
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(Start),
    responses(
        Authenticated,
        (status = 200, description = "Salesforce's authorization URL.", body = view::AuthorizeUrl),
        (status = 400, description = "`bad_request`: the query string is not `name=`.", body = ErrorBody),
        (status = 403, description = "`forbidden`: a member.", body = ErrorBody),
        (status = 404, description = "`not_found`: this deployment has no Salesforce app.", body = ErrorBody),
        (status = 422, description = "`invalid`: the name is empty, too long or not printable.", body = ErrorBody),
    )
)]
#[get("/v1/connections/salesforce/start")]
pub async fn start_salesforce(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<Start>,
) -> Result<HttpResponse, ApiError> {
    start(Provider::Salesforce, user, &state, query.into_inner()).await
}

/// Owners and admins: where to send the browser to connect a Dropbox
/// account (offline access, so the connection keeps working).
#[utoipa::path(
    security(("bearer" = []), ("session" = [])),
    params(Start),
    responses(
        Authenticated,
        (status = 200, description = "Dropbox's authorization URL.", body = view::AuthorizeUrl),
        (status = 400, description = "`bad_request`: the query string is not `name=`.", body = ErrorBody),
        (status = 403, description = "`forbidden`: a member.", body = ErrorBody),
        (status = 404, description = "`not_found`: this deployment has no Dropbox app.", body = ErrorBody),
        (status = 422, description = "`invalid`: the name is empty, too long or not printable.", body = ErrorBody),
    )
)]
#[get("/v1/connections/dropbox/start")]
pub async fn start_dropbox(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<Start>,
) -> Result<HttpResponse, ApiError> {
    start(Provider::Dropbox, user, &state, query.into_inner()).await
}

/// Salesforce's redirect back: creates the connection (kind `salesforce`,
/// the org's instance URL as metadata, its tokens sealed) for the account
/// and user who started.
#[utoipa::path(
    params(Callback),
    responses(
        Failures,
        (status = 201, description = "The connection.", body = views::Connection),
        (status = 400, description = "`bad_request`: the state is unknown, used, expired or made \
            for logging in, or the redirect carries no code; or the query string is unreadable.", body = ErrorBody),
        (status = 401, description = "`provider_refused`: Salesforce refused the code, or gave no \
            instance URL or no refresh token.", body = ErrorBody),
        (status = 403, description = "`forbidden`: the user cancelled, or Salesforce refused the \
            authorization.", body = ErrorBody),
        (status = 404, description = "`not_found`: this deployment has no Salesforce app.", body = ErrorBody),
    )
)]
#[get("/v1/connections/salesforce/callback")]
pub async fn callback_salesforce(
    state: web::Data<AppState>,
    query: web::Query<Callback>,
) -> Result<HttpResponse, ApiError> {
    callback(Provider::Salesforce, &state, query.into_inner()).await
}

/// Dropbox's redirect back: creates the connection (kind `dropbox`, the
/// Dropbox account id as metadata, its tokens sealed) for the account and
/// user who started.
#[utoipa::path(
    params(Callback),
    responses(
        Failures,
        (status = 201, description = "The connection.", body = views::Connection),
        (status = 400, description = "`bad_request`: the state is unknown, used, expired or made \
            for logging in, or the redirect carries no code; or the query string is unreadable.", body = ErrorBody),
        (status = 401, description = "`provider_refused`: Dropbox refused the code, or gave no \
            account id or no refresh token.", body = ErrorBody),
        (status = 403, description = "`forbidden`: the user cancelled, or Dropbox refused the \
            authorization.", body = ErrorBody),
        (status = 404, description = "`not_found`: this deployment has no Dropbox app.", body = ErrorBody),
    )
)]
#[get("/v1/connections/dropbox/callback")]
pub async fn callback_dropbox(
    state: web::Data<AppState>,
    query: web::Query<Callback>,
) -> Result<HttpResponse, ApiError> {
    callback(Provider::Dropbox, &state, query.into_inner()).await
}

async fn start(
    provider: Provider,
    user: AuthUser,
    state: &AppState,
    query: Start,
) -> Result<HttpResponse, ApiError> {
    let app = provider.app(state)?;
    let user = user.admin_for::<ManageConnections>()?.user;
    let label = text("name", &query.name, 100)?;
    let purpose = Purpose::Connect {
        account: user.account_id,
        user: user.user_id,
        label,
    };
    let url = begin(state, &app, purpose, provider.callback(), provider.scopes()).await?;
    Ok(HttpResponse::Ok().json(view::AuthorizeUrl { authorize_url: url }))
}

async fn callback(
    provider: Provider,
    state: &AppState,
    query: Callback,
) -> Result<HttpResponse, ApiError> {
    let app = provider.app(state)?;
    let (purpose, tokens) = complete(state, &app, query, provider.callback(), true).await?;
    let Purpose::Connect {
        account,
        user,
        label,
    } = purpose
    else {
        return Err(ApiError::BadRequest(
            "this link does not connect a system; start again".into(),
        ));
    };
    let accepted = accept(provider, state, &app, &tokens);
    let params = match accepted {
        Ok(params) => params,
        Err(e) => {
            // Tokens of a connection that is refused are revoked at the
            // provider: nothing keeps them, so nothing could revoke them later.
            let sealed = ProviderTokens {
                access_token: tokens.access_token().secret().clone(),
                refresh_token: tokens.refresh_token().map(|r| r.secret().clone()),
                instance_url: None,
            };
            discard(provider, state, &sealed).await;
            return Err(e);
        }
    };
    let secret = ProviderTokens {
        access_token: tokens.access_token().secret().clone(),
        refresh_token: tokens.refresh_token().map(|r| r.secret().clone()),
        instance_url: None,
    };
    let id = ConnectionId::new();
    let sealed = seal(state, account, id, &secret)?;
    let kind = provider.kind();
    let details = sluice_schema::models::ConnectionDetails {
        name: label.clone(),
        params: params.clone(),
    };
    let subject = crate::people::subject_key(state, account).await?;
    let added = crate::routes::connection_details::sealed(&subject, account, id, kind, &details)?;
    let event = NewEvent::new(
        DomainEvent::ConnectionCreatedV2(added),
        state.metadata(format!("user:{user}")),
    )
    .for_account(account);
    let request = AppendRequest::new("connection", id.0, ExpectedVersion::NoStream, vec![event])
        .with_secret(SecretWrite::ConnectionSecret {
            connection_id: id.0,
            account_id: account.0,
            sealed,
        });
    let recorded = state.platform.appender.append(request).await?;
    Ok(HttpResponse::Created().json(views::Connection {
        id: id.0,
        name: label,
        kind: kind.to_owned(),
        params,
        created_at: recorded.events().first().map(|e| e.recorded_at),
        last_test: None,
    }))
}

/// The connection's params, when the provider's answer makes a working
/// connection: an instance URL (Salesforce) or account id (Dropbox), and a
/// refresh token.
fn accept(
    provider: Provider,
    state: &AppState,
    app: &OAuthApp,
    tokens: &crate::auth::oauth::TokenResponse,
) -> Result<serde_json::Value, ApiError> {
    let extra = tokens.extra_fields();
    let params = match provider {
        Provider::Salesforce => {
            let instance_url = extra
                .instance_url
                .clone()
                .ok_or_else(|| ApiError::Provider("Salesforce gave no instance URL".into()))?;
            let login_url = state.salesforce.as_ref().map(|c| c.login_url.clone());
            json!({ "instance_url": instance_url, "login_url": login_url })
        }
        Provider::Dropbox => {
            let account_id = extra
                .account_id
                .clone()
                .ok_or_else(|| ApiError::Provider("Dropbox gave no account id".into()))?;
            json!({ "account_id": account_id })
        }
    };
    if tokens.refresh_token().is_none() {
        return Err(ApiError::Provider(format!(
            "{} gave no refresh token, so the connection would stop working within hours",
            app.title
        )));
    }
    Ok(params)
}

/// Revokes tokens nothing will keep; a failure is logged (without them).
async fn discard(provider: Provider, state: &AppState, tokens: &ProviderTokens) {
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
            Some(config) => dropbox::revoke(&state.http, config, &tokens.access_token).await,
            None => Err(unconfigured()),
        },
    };
    if let Err(e) = outcome {
        tracing::warn!(provider = provider.kind(), error = %e, "the tokens of a refused connection were not revoked");
    }
}

fn seal(
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
            tracing::warn!(connection = %id, provider = provider.kind(), error = %e, "the provider did not confirm the revocation");
            false
        }
    }
}
