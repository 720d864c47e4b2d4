//! An OAuth 2.0 provider as this service uses it: the authorization-code
//! flow with PKCE and the refresh grant, through the `oauth2` crate. Each
//! provider (Salesforce, Dropbox) describes itself with an [`OAuthApp`]; every
//! URL comes from configuration.

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    reqwest, AuthType, AuthUrl, ClientId, ClientSecret, EndpointNotSet, EndpointSet,
    ExtraTokenFields, RedirectUrl, StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One registered OAuth client at one provider.
#[derive(Debug, Clone)]
pub struct OAuthApp {
    /// The provider's name in stored flows (`salesforce`, `dropbox`).
    pub provider: &'static str,
    /// The provider's name in messages.
    pub title: &'static str,
    pub authorize_url: String,
    pub token_url: String,
    pub client_id: String,
    pub client_secret: SecretString,
    /// Where the client credentials go in token requests.
    pub auth_type: AuthType,
    /// Parameters the provider wants on the authorization URL.
    pub authorize_params: &'static [(&'static str, &'static str)],
}

/// What providers add to a token response: Salesforce the org's instance
/// URL, Dropbox the account the token is for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderFields {
    pub instance_url: Option<String>,
    pub account_id: Option<String>,
}

impl ExtraTokenFields for ProviderFields {}

pub type TokenResponse = StandardTokenResponse<ProviderFields, BasicTokenType>;

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

impl OAuthApp {
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
            .set_auth_uri(AuthUrl::new(self.authorize_url.clone()).map_err(invalid)?)
            .set_token_uri(TokenUrl::new(self.token_url.clone()).map_err(invalid)?)
            .set_auth_type(self.auth_type.clone())
            .set_redirect_uri(RedirectUrl::new(redirect_uri.to_owned()).map_err(invalid)?))
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

/// Why a call to a provider's API failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The access token expired or was revoked.
    #[error("the access token is no longer valid")]
    Expired,
    #[error("{0}")]
    Failed(String),
}
