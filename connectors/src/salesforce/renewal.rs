//! Renewing an expired access token: Salesforce's refresh-token flow, a
//! rotated refresh token kept, a moved instance followed; by the client's
//! own grant or by the caller's [`Renewal`] for tokens it stores.

use super::{without_url, App, Salesforce, SalesforceError};
use futures_util::future::BoxFuture;
use zeroize::Zeroizing;

/// What renews a connection's access token.
pub struct Refresh {
    /// The org's login URL (login.salesforce.com, test.salesforce.com or a
    /// My Domain): the token endpoint is under it.
    pub login_url: String,
    pub client_id: String,
    pub client_secret: Zeroizing<String>,
    pub refresh_token: Zeroizing<String>,
}

/// What a refresh grant answered.
pub struct Grant {
    pub access_token: Zeroizing<String>,
    /// A new refresh token, when the connected app rotates them.
    pub refresh_token: Option<Zeroizing<String>>,
    pub instance_url: Option<String>,
}

/// What a renewal gives: the access token to use from now on, and the
/// instance the org is on (when the token endpoint said).
pub struct Renewed {
    pub access_token: Zeroizing<String>,
    pub instance_url: Option<String>,
}

/// A way to renew an access token that `stale` was: the caller's, for
/// tokens it stores ([`Salesforce::with_renewal`]).
pub trait Renewal: Send + Sync {
    fn renew<'a>(&'a self, stale: &'a str) -> BoxFuture<'a, Result<Renewed, SalesforceError>>;
}

/// Asks the token endpoint under `login_url` for a new access token with
/// `refresh_token` (Salesforce's "OAuth 2.0 Refresh Token Flow"). Refused
/// (`invalid_grant`: revoked, expired, or a rotated-out token): `Reconnect`.
pub async fn refresh_grant(
    http: &reqwest::Client,
    login_url: &str,
    client_id: &str,
    client_secret: &str,
    refresh_token: &str,
) -> Result<Grant, SalesforceError> {
    #[derive(serde::Deserialize)]
    struct Token {
        access_token: String,
        refresh_token: Option<String>,
        instance_url: Option<String>,
    }
    let response = http
        .post(format!(
            "{}/services/oauth2/token",
            login_url.trim_end_matches('/')
        ))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
            ("client_secret", client_secret),
        ])
        .send()
        .await
        .map_err(|e| SalesforceError::Unreachable(without_url(e)))?;
    if !response.status().is_success() {
        return Err(SalesforceError::Reconnect);
    }
    let token: Token = response
        .json()
        .await
        .map_err(|_| SalesforceError::Unreachable("an unreadable token answer".into()))?;
    Ok(Grant {
        access_token: Zeroizing::new(token.access_token),
        refresh_token: token.refresh_token.map(Zeroizing::new),
        instance_url: token.instance_url.filter(|url| url.starts_with("http")),
    })
}

/// The tokens to keep after renewing `stored`, under the lock of the store
/// they were read from: `None` when `stored` no longer holds `stale` (a
/// renewer before this one replaced it: its tokens are the ones to use);
/// otherwise the refresh grant's tokens, with a rotated refresh token and
/// a moved instance kept. Blocks on `runtime` for the grant: it is called
/// on a blocking thread that holds the store's lock.
pub fn renew_stored(
    runtime: &tokio::runtime::Handle,
    http: &reqwest::Client,
    app: &App<'_>,
    login_url: Option<&str>,
    stale: &str,
    stored: &crate::tokens::ProviderTokens,
) -> Result<Option<crate::tokens::ProviderTokens>, SalesforceError> {
    if stored.access_token != stale {
        return Ok(None);
    }
    let refresh = stored
        .refresh_token
        .as_deref()
        .ok_or(SalesforceError::Reconnect)?;
    let login_url = login_url
        .filter(|url| !url.is_empty())
        .unwrap_or(app.login_url);
    let grant = runtime.block_on(refresh_grant(
        http,
        login_url,
        app.client_id,
        app.client_secret,
        refresh,
    ))?;
    Ok(Some(crate::tokens::ProviderTokens {
        access_token: grant.access_token.to_string(),
        refresh_token: grant
            .refresh_token
            .map(|r| r.to_string())
            .or_else(|| stored.refresh_token.clone()),
        instance_url: grant.instance_url.or_else(|| stored.instance_url.clone()),
    }))
}

/// How a client renews its access token.
pub(super) enum Renewer {
    /// Its own refresh grant; a rotated refresh token replaces the one held.
    Own(tokio::sync::Mutex<Refresh>),
    Given(Box<dyn Renewal>),
}

impl Salesforce {
    /// Gets a new access token, unless another call already replaced
    /// `stale`; keeps the instance the answer names.
    pub(super) async fn renew(&self, stale: &str) -> Result<(), SalesforceError> {
        let mut current = self.access_token.write().await;
        if current.as_str() != stale {
            return Ok(());
        }
        let renewed = match self.renewer.as_ref().ok_or(SalesforceError::Reconnect)? {
            Renewer::Given(renewal) => renewal.renew(stale).await?,
            Renewer::Own(refresh) => {
                let mut refresh = refresh.lock().await;
                let grant = refresh_grant(
                    &self.http,
                    &refresh.login_url,
                    &refresh.client_id,
                    &refresh.client_secret,
                    &refresh.refresh_token,
                )
                .await?;
                if let Some(next) = grant.refresh_token {
                    refresh.refresh_token = next;
                }
                if let Ok(mut renewed) = self.renewed.lock() {
                    *renewed = Some(grant.access_token.clone());
                }
                Renewed {
                    access_token: grant.access_token,
                    instance_url: grant.instance_url,
                }
            }
        };
        if let Some(url) = renewed.instance_url {
            if let Ok(mut instance) = self.instance_url.write() {
                *instance = url.trim_end_matches('/').to_owned();
            }
        }
        *current = renewed.access_token;
        Ok(())
    }
}
