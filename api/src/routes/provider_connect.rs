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

mod connect;
pub(crate) mod tokens;

use crate::auth::oauth::{OAuthApp, ProviderError};
use crate::auth::{dropbox, salesforce, AuthUser};
use crate::error::ApiError;
use crate::openapi::{Authenticated, ErrorBody, Failures};
use crate::routes::oauth_flow::Callback;
use crate::views::account as view;
use crate::views::imports as views;
use crate::AppState;
use actix_web::{get, web, HttpResponse};
use connect::{callback, start};
use serde::Deserialize;
use sluice_schema::kinds::ConnectionKind;
use utoipa::IntoParams;

/// A provider whose accounts can be connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Provider {
    Salesforce,
    Dropbox,
}

impl Provider {
    /// The connection kind, also the provider's name in flows.
    pub(crate) fn kind(self) -> ConnectionKind {
        match self {
            Self::Salesforce => ConnectionKind::Salesforce,
            Self::Dropbox => ConnectionKind::Dropbox,
        }
    }

    pub(crate) fn of_kind(kind: ConnectionKind) -> Option<Self> {
        match kind {
            ConnectionKind::Salesforce => Some(Self::Salesforce),
            ConnectionKind::Dropbox => Some(Self::Dropbox),
            ConnectionKind::Postgres => None,
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
