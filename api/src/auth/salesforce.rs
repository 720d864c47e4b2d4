//! Salesforce as an OAuth 2.0 provider (web server flow with PKCE), through
//! the `oauth2` crate. Every URL comes from configuration: login.salesforce.com,
//! test.salesforce.com, a My Domain, or a local stand-in in tests.

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    reqwest, AuthType, AuthUrl, ClientId, ClientSecret, EndpointNotSet, EndpointSet,
    ExtraTokenFields, RedirectUrl, StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SalesforceConfig {
    /// `https://login.salesforce.com`, `https://test.salesforce.com`, a My Domain…
    pub login_url: String,
    pub client_id: String,
    pub client_secret: SecretString,
}

/// What Salesforce adds to a token response: the org's instance URL.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SalesforceFields {
    pub instance_url: Option<String>,
}

impl ExtraTokenFields for SalesforceFields {}

pub type TokenResponse = StandardTokenResponse<SalesforceFields, BasicTokenType>;

/// The client, ready for the authorization-code and refresh flows.
pub type Client = oauth2::Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

impl SalesforceConfig {
    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.login_url.trim_end_matches('/'))
    }

    pub fn client(&self, redirect_uri: &str) -> Result<Client, String> {
        let invalid = |e: oauth2::url::ParseError| e.to_string();
        let bare: oauth2::Client<
            BasicErrorResponse,
            TokenResponse,
            BasicTokenIntrospectionResponse,
            StandardRevocableToken,
            BasicRevocationErrorResponse,
        > = oauth2::Client::new(ClientId::new(self.client_id.clone()));
        Ok(bare
            .set_client_secret(ClientSecret::new(
                self.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_uri(
                AuthUrl::new(self.endpoint("/services/oauth2/authorize")).map_err(invalid)?,
            )
            .set_token_uri(TokenUrl::new(self.endpoint("/services/oauth2/token")).map_err(invalid)?)
            // Salesforce documents the client credentials in the request body.
            .set_auth_type(AuthType::RequestBody)
            .set_redirect_uri(RedirectUrl::new(redirect_uri.to_owned()).map_err(invalid)?))
    }

    pub fn userinfo_url(&self) -> String {
        self.endpoint("/services/oauth2/userinfo")
    }

    pub fn revoke_url(&self) -> String {
        self.endpoint("/services/oauth2/revoke")
    }
}

/// An HTTP client for provider calls: no redirects (they would open the door
/// to request forgery), certificates verified, bounded in time.
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()
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

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The access token expired or was revoked (401, or 403 `Bad_OAuth_Token`).
    #[error("the access token is no longer valid")]
    Expired,
    #[error("{0}")]
    Failed(String),
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
