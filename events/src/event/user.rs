//! People and their credentials: email claims, users, sessions and API tokens.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailClaim {
    /// The user the email is (or was) claimed for.
    pub user_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRegistered {
    pub user_id: Uuid,
    /// `owner`, `admin` or `member`.
    pub role: String,
    /// Keyed hash of the normalised email (hex), for look-ups.
    pub email_index: String,
    /// Sealed.
    pub email: String,
    /// Sealed.
    pub first_name: String,
    /// Sealed.
    pub last_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRoleChanged {
    pub user_id: Uuid,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRemoved {
    pub user_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenIssued {
    pub user_id: Uuid,
    /// `session` or `api`.
    pub kind: String,
    pub name: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// How the user proved who they are, when not by password (`salesforce`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// A token as recorded since customer text is sealed: as [`TokenIssued`],
/// but an API token's name is sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenIssuedV2 {
    pub user_id: Uuid,
    /// `session` or `api`.
    pub kind: String,
    /// Sealed: the name the customer gave an API token (a session has
    /// none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// How the user proved who they are, when not by password (`salesforce`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRevoked {
    /// `logout` or `revoked`.
    pub reason: String,
}
