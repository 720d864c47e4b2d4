//! What a provider connection (a Salesforce org, a Dropbox account) keeps
//! sealed as its secret: its OAuth tokens, as JSON. The API seals them when
//! the connection is made; the API and the workers seal them again when a
//! call renews the access token, and keep with them what the renewal
//! said (a rotated refresh token, the org's instance URL when it moved).

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct ProviderTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// The instance URL the provider answered at the last renewal, when it
    /// differs from the one the connection was made with (an org moved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_url: Option<String>,
}
