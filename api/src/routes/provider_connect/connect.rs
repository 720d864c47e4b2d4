//! Connecting: the authorization URL a start sends the browser to, and the
//! callback that accepts the provider's answer and records the connection,
//! or revokes the tokens of one it refuses.

use super::tokens::seal;
use super::{unconfigured, Provider, ProviderTokens, Start};
use crate::auth::oauth::OAuthApp;
use crate::auth::{dropbox, salesforce, AuthUser, ManageConnections};
use crate::error::ApiError;
use crate::people::text;
use crate::routes::oauth_flow::{begin, complete, Callback};
use crate::views::account as view;
use crate::views::imports as views;
use crate::AppState;
use actix_web::HttpResponse;
use oauth2::TokenResponse;
use serde_json::json;
use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, NewEvent, SecretWrite};
use sluice_schema::ids::ConnectionId;
use sluice_schema::repo::oauth::Purpose;

pub(super) async fn start(
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

pub(super) async fn callback(
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
        kind: kind.to_string(),
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
        tracing::warn!(provider = %provider.kind(), error = %e, "the tokens of a refused connection were not revoked");
    }
}
