//! What a provider connection (a Salesforce org, a Dropbox account) keeps
//! sealed as its secret: its OAuth tokens, as JSON. The API seals them when
//! the connection is made; the API and the workers seal them again when a
//! call renews the access token.

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct ProviderTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
}
