//! Salesforce as an OAuth 2.0 provider (web server flow with PKCE), through
//! the `oauth2` crate. Every URL comes from configuration: login.salesforce.com,
//! test.salesforce.com, a My Domain, or a local stand-in in tests.

use super::oauth::{OAuthApp, ProviderError};
use oauth2::{reqwest, AuthType};
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct SalesforceConfig {
    /// `https://login.salesforce.com`, `https://test.salesforce.com`, a My Domain…
    pub login_url: String,
    pub client_id: String,
    pub client_secret: SecretString,
}

impl SalesforceConfig {
    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.login_url.trim_end_matches('/'))
    }

    pub fn oauth(&self) -> OAuthApp {
        OAuthApp {
            provider: "salesforce",
            title: "Salesforce",
            authorize_url: self.endpoint("/services/oauth2/authorize"),
            token_url: self.endpoint("/services/oauth2/token"),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            // Salesforce documents the client credentials in the request body.
            auth_type: AuthType::RequestBody,
            authorize_params: &[],
        }
    }

    pub fn userinfo_url(&self) -> String {
        self.endpoint("/services/oauth2/userinfo")
    }

    pub fn revoke_url(&self) -> String {
        self.endpoint("/services/oauth2/revoke")
    }
}

/// What Salesforce's userinfo endpoint says of the signed-in user (the fields used).
#[derive(Debug, Deserialize)]
pub struct UserInfo {
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    pub user_id: Option<String>,
    pub organization_id: Option<String>,
}

pub async fn userinfo(
    http: &reqwest::Client,
    config: &SalesforceConfig,
    access_token: &str,
) -> Result<UserInfo, ProviderError> {
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        ProviderError::Failed(format!("userinfo {what}: {e}"))
    };
    let res = http
        .get(config.userinfo_url())
        .bearer_auth(access_token)
        .send()
        .await
        .map_err(|e| failed("unreachable", &e))?;
    let status = res.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(ProviderError::Expired);
    }
    if !status.is_success() {
        return Err(failed("answered", &status));
    }
    let body = res.bytes().await.map_err(|e| failed("unreadable", &e))?;
    serde_json::from_slice(&body).map_err(|e| failed("unreadable", &e))
}

/// Revokes a token at Salesforce (a refresh token ends its whole session).
pub async fn revoke(
    http: &reqwest::Client,
    config: &SalesforceConfig,
    token: &str,
) -> Result<(), ProviderError> {
    let res = http
        .post(config.revoke_url())
        .form(&[("token", token)])
        .send()
        .await
        .map_err(|e| ProviderError::Failed(format!("revoke unreachable: {e}")))?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(ProviderError::Failed(format!(
            "revoke answered {}",
            res.status()
        )))
    }
}
