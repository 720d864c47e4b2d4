//! Connections to a team's systems: added, tested, disconnected.

use serde::{Deserialize, Serialize};
use sluice_schema::kinds::ConnectionKind;

/// A connection as recorded before customer text was sealed: its name and
/// parameters in clear. Still replayed, no longer written (see
/// [`ConnectionAdded`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionCreated {
    pub name: String,
    /// `postgres`.
    pub kind: ConnectionKind,
    /// What is not secret: host, port, database, user, TLS mode.
    pub params: serde_json::Value,
}

/// A connection as recorded since customer text is sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionAdded {
    /// `postgres`, `salesforce` or `dropbox`.
    pub kind: ConnectionKind,
    /// What is Sluice's own: a PostgreSQL connection's TLS mode
    /// (`{"sslmode": ...}`); empty for the others.
    pub params: serde_json::Value,
    /// Sealed: the name and every parameter (host, port, database, user,
    /// TLS mode, CA certificate; an org's instance URL; a Dropbox account
    /// id) as JSON.
    pub details: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionDisconnected {
    /// For a provider with a revoke endpoint: whether it confirmed the revocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at_provider: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionTested {
    pub ok: bool,
    /// Why not, when `ok` is false (a code: never the system's own words).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ConnectionFailure>,
}

/// Why a connection test failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionFailure {
    /// Nothing answered, or the server would not take a connection.
    Unreachable,
    /// The user name or password was refused.
    AuthenticationFailed,
    /// The server has no database of that name.
    NoSuchDatabase,
    /// The TLS handshake failed (a certificate that could not be verified).
    TlsFailed,
    /// A provider (Salesforce, Dropbox) refused the stored tokens.
    ProviderRefused,
}

impl ConnectionFailure {
    /// The code as the API and the projection write it.
    pub fn code(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::AuthenticationFailed => "authentication_failed",
            Self::NoSuchDatabase => "no_such_database",
            Self::TlsFailed => "tls_failed",
            Self::ProviderRefused => "provider_refused",
        }
    }
}
