//! Dropbox as an OAuth 2.0 provider (authorization code with PKCE, offline
//! access for a refresh token) and the few API calls a connection needs.
//! Every URL comes from configuration: www.dropbox.com and
//! api.dropboxapi.com, or a local stand-in in tests.

use super::oauth::{OAuthApp, ProviderError};
use oauth2::{reqwest, AuthType};
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct DropboxConfig {
    /// Where users consent: `https://www.dropbox.com`.
    pub authorize_url: String,
    /// The RPC and OAuth token host: `https://api.dropboxapi.com`.
    pub api_url: String,
    /// The content host (downloads): `https://content.dropboxapi.com`.
    pub content_url: String,
    /// The app key.
    pub client_id: String,
    /// The app secret.
    pub client_secret: SecretString,
}

impl DropboxConfig {
    fn api(&self, path: &str) -> String {
        format!("{}{path}", self.api_url.trim_end_matches('/'))
    }

    /// The app and hosts as the download client takes them.
    pub fn app(&self) -> sluice_connectors::dropbox::DropboxApp {
        use secrecy::ExposeSecret;
        sluice_connectors::dropbox::DropboxApp {
            api_url: self.api_url.clone(),
            content_url: self.content_url.clone(),
            client_id: self.client_id.clone(),
            client_secret: zeroize::Zeroizing::new(self.client_secret.expose_secret().to_owned()),
        }
    }

    pub fn oauth(&self) -> OAuthApp {
        OAuthApp {
            provider: "dropbox",
            title: "Dropbox",
            authorize_url: format!(
                "{}/oauth2/authorize",
                self.authorize_url.trim_end_matches('/')
            ),
            token_url: self.api("/oauth2/token"),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            auth_type: AuthType::BasicAuth,
            // Without offline access Dropbox gives no refresh token, and a
            // connection would stop working after four hours.
            authorize_params: &[("token_access_type", "offline")],
        }
    }
}

/// The Dropbox account a token belongs to (the fields used).
#[derive(Debug, Deserialize)]
pub struct Account {
    pub account_id: String,
    pub email: Option<String>,
}

/// Dropbox's error body: `{"error_summary": "expired_access_token/..", "error": {".tag": ..}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error_summary: Option<String>,
}

/// Calls an RPC endpoint that takes no arguments (no body, no content type,
/// as Dropbox documents) with the connection's access token.
async fn call(
    http: &reqwest::Client,
    config: &DropboxConfig,
    path: &str,
    access_token: &str,
) -> Result<reqwest::Response, ProviderError> {
    let res = http
        .post(config.api(path))
        .bearer_auth(access_token)
        .send()
        .await
        .map_err(|e| ProviderError::Failed(format!("Dropbox is unreachable: {e}")))?;
    let status = res.status();
    if status.is_success() {
        return Ok(res);
    }
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        let wait = res
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        return Err(ProviderError::Failed(match wait {
            Some(seconds) => format!("Dropbox is limiting requests; try again in {seconds} s"),
            None => "Dropbox is limiting requests; try again later".into(),
        }));
    }
    // 401 carries a JSON error whose summary names the reason.
    let summary = res
        .bytes()
        .await
        .ok()
        .and_then(|b| serde_json::from_slice::<ErrorBody>(&b).ok())
        .and_then(|b| b.error_summary)
        .unwrap_or_default();
    let tag: String = summary
        .split('/')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(60)
        .collect();
    if status == reqwest::StatusCode::UNAUTHORIZED
        && matches!(
            tag.as_str(),
            "expired_access_token" | "invalid_access_token"
        )
    {
        return Err(ProviderError::Expired);
    }
    Err(ProviderError::Failed(if tag.is_empty() {
        format!("Dropbox answered {status}")
    } else {
        format!("Dropbox answered {status} ({tag})")
    }))
}

/// Who the token belongs to (`/2/users/get_current_account`).
pub async fn current_account(
    http: &reqwest::Client,
    config: &DropboxConfig,
    access_token: &str,
) -> Result<Account, ProviderError> {
    let res = call(http, config, "/2/users/get_current_account", access_token).await?;
    let body = res
        .bytes()
        .await
        .map_err(|e| ProviderError::Failed(format!("Dropbox's answer was unreadable: {e}")))?;
    serde_json::from_slice(&body)
        .map_err(|e| ProviderError::Failed(format!("Dropbox's answer was unreadable: {e}")))
}

/// Revokes the access token, and with it its refresh token
/// (`/2/auth/token/revoke`).
pub async fn revoke(
    http: &reqwest::Client,
    config: &DropboxConfig,
    access_token: &str,
) -> Result<(), ProviderError> {
    call(http, config, "/2/auth/token/revoke", access_token)
        .await
        .map(|_| ())
}
