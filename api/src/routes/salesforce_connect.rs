//! Connect a Salesforce org: `GET /v1/connections/salesforce/start?name=`
//! (owners and admins) gives the authorization URL to send the browser to;
//! Salesforce redirects to `/v1/connections/salesforce/callback`, which is
//! bound to the account and user who started by the single-use state. The
//! org's tokens are sealed as the connection's secret; the instance URL is
//! kept as metadata.

use crate::auth::salesforce::{self, ProviderError, SalesforceConfig};
use crate::auth::{AuthUser, Role};
use crate::error::ApiError;
use crate::people::text;
use crate::routes::connections::secret_aad;
use crate::routes::salesforce_login::{begin, complete, config, Callback};
use crate::AppState;
use actix_web::{web, HttpResponse};
use oauth2::{RefreshToken, TokenResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sluice_events::event::ConnectionCreated;
use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, NewEvent, SecretWrite};
use sluice_schema::ids::{AccountId, ConnectionId};
use sluice_schema::repo::connections as repo;
use sluice_schema::repo::oauth::Purpose;
use sluice_vault::Sealed;
use zeroize::Zeroizing;

pub(crate) const CONNECT_CALLBACK: &str = "/v1/connections/salesforce/callback";

/// What a Salesforce connection keeps sealed.
#[derive(Serialize, Deserialize)]
pub(crate) struct OrgTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Start {
    name: String,
}

pub async fn start(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<Start>,
) -> Result<HttpResponse, ApiError> {
    if user.role < Role::Admin {
        return Err(ApiError::Forbidden(
            "only owners and admins manage connections".into(),
        ));
    }
    let label = text("name", &query.name, 100)?;
    let purpose = Purpose::Connect {
        account: user.account_id,
        user: user.user_id,
        label,
    };
    let url = begin(&state, purpose, CONNECT_CALLBACK, &["api", "refresh_token"]).await?;
    Ok(HttpResponse::Ok().json(json!({ "authorize_url": url })))
}

pub async fn callback(
    state: web::Data<AppState>,
    query: web::Query<Callback>,
) -> Result<HttpResponse, ApiError> {
    let config = config(&state)?;
    let (purpose, tokens) = complete(&state, query.into_inner(), CONNECT_CALLBACK, true).await?;
    let Purpose::Connect {
        account,
        user,
        label,
    } = purpose
    else {
        return Err(ApiError::BadRequest(
            "this link does not connect an org; start again".into(),
        ));
    };
    let instance_url = tokens
        .extra_fields()
        .instance_url
        .clone()
        .ok_or_else(|| ApiError::Provider("Salesforce gave no instance URL".into()))?;
    let secret = OrgTokens {
        access_token: tokens.access_token().secret().clone(),
        refresh_token: tokens.refresh_token().map(|r| r.secret().clone()),
    };
    let id = ConnectionId::new();
    let plain =
        Zeroizing::new(serde_json::to_vec(&secret).map_err(|e| ApiError::Internal(e.to_string()))?);
    let sealed = state.keyring.get().seal(&plain, &secret_aad(account, id));
    let params = json!({ "instance_url": instance_url, "login_url": config.login_url });
    let event = NewEvent::new(
        DomainEvent::ConnectionCreated(ConnectionCreated {
            name: label.clone(),
            kind: "salesforce".into(),
            params: params.clone(),
        }),
        state.metadata(format!("user:{user}")),
    )
    .for_account(account);
    let request = AppendRequest::new("connection", id.0, ExpectedVersion::NoStream, vec![event])
        .with_secret(SecretWrite::ConnectionSecret {
            connection_id: id.0,
            account_id: account.0,
            sealed: sealed.0,
        });
    let recorded = state.platform.appender.append(request).await?;
    Ok(HttpResponse::Created().json(json!({
        "id": id,
        "name": label,
        "kind": "salesforce",
        "params": params,
        "created_at": recorded.events().first().map(|e| e.recorded_at),
    })))
}

/// Opens a Salesforce connection's sealed tokens.
pub(crate) fn open_tokens(
    state: &AppState,
    account: AccountId,
    id: ConnectionId,
    sealed: Vec<u8>,
) -> Result<OrgTokens, ApiError> {
    let sealed = Sealed(sealed);
    let plain = state
        .keyring
        .with(|k| k.open(&sealed, &secret_aad(account, id)))
        .map_err(|e| ApiError::Internal(format!("connection secret: {e}")))?;
    serde_json::from_slice(&plain)
        .map_err(|e| ApiError::Internal(format!("connection secret: {e}")))
}

/// Asks Salesforce who the connection's user is; an expired access token is
/// refreshed once and the new one kept.
pub(crate) async fn check(
    state: &AppState,
    config: &SalesforceConfig,
    account: AccountId,
    id: ConnectionId,
    mut tokens: OrgTokens,
) -> Result<Result<(), String>, ApiError> {
    match salesforce::userinfo(&state.http, config, &tokens.access_token).await {
        Ok(_) => return Ok(Ok(())),
        Err(ProviderError::Failed(reason)) => return Ok(Err(reason)),
        Err(ProviderError::Expired) => {}
    }
    let Some(refresh) = tokens.refresh_token.clone() else {
        return Ok(Err(
            "the Salesforce session expired; connect the org again".into()
        ));
    };
    let client = config
        .client(&format!("{}{CONNECT_CALLBACK}", state.public_url))
        .map_err(ApiError::Internal)?;
    let renewed = match client
        .exchange_refresh_token(&RefreshToken::new(refresh))
        .request_async(&state.http)
        .await
    {
        Ok(renewed) => renewed,
        Err(_) => {
            return Ok(Err(
                "Salesforce refused to renew the session; connect the org again".into(),
            ))
        }
    };
    tokens.access_token = renewed.access_token().secret().clone();
    let plain =
        Zeroizing::new(serde_json::to_vec(&tokens).map_err(|e| ApiError::Internal(e.to_string()))?);
    let sealed = state.keyring.get().seal(&plain, &secret_aad(account, id));
    let pool = state.platform.pool.clone();
    web::block(move || -> Result<(), ApiError> {
        Ok(repo::update_secret(
            &mut *pool.get()?,
            account,
            id,
            &sealed.0,
        )?)
    })
    .await??;
    Ok(
        salesforce::userinfo(&state.http, config, &tokens.access_token)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
    )
}
