//! Reaching a customer's database: [`connect`] for every use, and
//! [`test_connection`] for the check a connection gets when it is added or
//! tested, with a reason a client can act on.

use super::error::TargetError;
use super::tls::{self, SslMode};
use std::time::Duration;
use tokio_postgres::{Client, Config, NoTls};
use zeroize::Zeroizing;

/// How long connecting may take before the database counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How to reach a database (a connection's `params` and its password).
pub struct PgParams {
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub user: String,
    pub password: Zeroizing<String>,
    pub sslmode: SslMode,
    /// The CA certificate (PEM) to trust instead of the system's roots.
    pub ca_cert: Option<String>,
}

impl PgParams {
    /// From a connection's stored `params` (host, port, dbname, user,
    /// sslmode, ca_cert) and its password.
    pub fn from_json(params: &serde_json::Value, password: Zeroizing<String>) -> Self {
        let text = |k: &str| {
            params
                .get(k)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        Self {
            host: text("host").unwrap_or_default(),
            port: params
                .get("port")
                .and_then(serde_json::Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(5432),
            dbname: text("dbname").unwrap_or_default(),
            user: text("user").unwrap_or_default(),
            password,
            sslmode: text("sslmode")
                .and_then(|m| SslMode::parse(&m))
                .unwrap_or(SslMode::DEFAULT),
            ca_cert: text("ca_cert"),
        }
    }

    /// A Unix socket directory: local, where TLS does not apply (as libpq
    /// treats it).
    pub fn is_socket(&self) -> bool {
        self.host.starts_with('/')
    }
}

/// Connects; the connection's task runs until the client is dropped.
pub async fn connect(params: &PgParams) -> Result<Client, TargetError> {
    connect_checked(params)
        .await
        .map_err(|f| TargetError::Connect(f.message))
}

/// Why a database could not be reached, as a stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// No answer, a refused or cut connection, or a server that would not
    /// take one.
    Unreachable,
    /// The user name or password was refused.
    AuthenticationFailed,
    /// The server has no database of that name.
    NoSuchDatabase,
    /// The TLS handshake failed: most often a certificate that could not
    /// be verified.
    TlsFailed,
}

impl FailureKind {
    pub fn code(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::AuthenticationFailed => "authentication_failed",
            Self::NoSuchDatabase => "no_such_database",
            Self::TlsFailed => "tls_failed",
        }
    }
}

/// A failed connection: its kind and a message of Sluice's own words (never
/// the server's text, which can quote names, nor the password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConnectFailure {
    pub kind: FailureKind,
    pub message: String,
}

impl ConnectFailure {
    fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// Connects and runs `SELECT 1`: whether the database is there for Sluice.
pub async fn test_connection(params: &PgParams) -> Result<(), ConnectFailure> {
    let client = connect_checked(params).await?;
    tokio::time::timeout(CONNECT_TIMEOUT, client.simple_query("SELECT 1"))
        .await
        .map_err(|_| {
            ConnectFailure::new(
                FailureKind::Unreachable,
                "the database did not answer in time",
            )
        })?
        .map_err(|e| classify(&e))?;
    Ok(())
}

/// Connects; why not, as a [`ConnectFailure`], when it cannot.
pub async fn connect_checked(params: &PgParams) -> Result<Client, ConnectFailure> {
    let mut config = Config::new();
    config
        .host(&params.host)
        .port(params.port)
        .dbname(&params.dbname)
        .user(&params.user)
        .password(params.password.as_bytes())
        .application_name("sluice")
        .connect_timeout(CONNECT_TIMEOUT);
    let tls = if params.is_socket() {
        None
    } else {
        tls::client_config(params.sslmode, params.ca_cert.as_deref())
            .map_err(|e| ConnectFailure::new(FailureKind::TlsFailed, e))?
    };
    let timed_out = || {
        ConnectFailure::new(
            FailureKind::Unreachable,
            "the database did not answer in time",
        )
    };
    let client = match tls {
        None => {
            let connecting = tokio::time::timeout(CONNECT_TIMEOUT, config.connect(NoTls));
            let (client, connection) = connecting
                .await
                .map_err(|_| timed_out())?
                .map_err(|e| classify(&e))?;
            tokio::spawn(connection);
            client
        }
        Some(tls) => {
            config.ssl_mode(match params.sslmode {
                SslMode::Allow | SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                _ => tokio_postgres::config::SslMode::Require,
            });
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
            let connecting = tokio::time::timeout(CONNECT_TIMEOUT, config.connect(tls));
            let (client, connection) = connecting
                .await
                .map_err(|_| timed_out())?
                .map_err(|e| classify(&e))?;
            tokio::spawn(connection);
            client
        }
    };
    Ok(client)
}

/// What a connection error means for the person who set the connection up.
fn classify(e: &tokio_postgres::Error) -> ConnectFailure {
    use FailureKind as K;
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        return match code {
            "28P01" | "28000" => ConnectFailure::new(
                K::AuthenticationFailed,
                "authentication failed: the server refused the user name or password \
                 (or does not let this user in from here)",
            ),
            "3D000" => ConnectFailure::new(
                K::NoSuchDatabase,
                "no such database: the server says the database does not exist",
            ),
            _ => ConnectFailure::new(
                K::Unreachable,
                format!("the server refused the connection (SQLSTATE {code})"),
            ),
        };
    }
    if let Some(tls) = rustls_error(e) {
        return ConnectFailure::new(
            K::TlsFailed,
            format!("TLS failed: {}", tls::describe_tls(tls)),
        );
    }
    let text = e.to_string();
    if text.contains("TLS") {
        // tokio-postgres's own TLS errors (no TLS on the server, say).
        let reason = if text.contains("does not support TLS") {
            "the server does not offer TLS (choose sslmode disable only for a trusted network)"
        } else {
            "the TLS handshake failed"
        };
        return ConnectFailure::new(K::TlsFailed, format!("TLS failed: {reason}"));
    }
    ConnectFailure::new(
        K::Unreachable,
        "unreachable: nothing answered at that host and port, or the connection was cut",
    )
}

/// The rustls error under a connection error, if the handshake failed.
fn rustls_error(e: &tokio_postgres::Error) -> Option<&rustls::Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(found) = err.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(found) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(found);
            }
        }
        source = err.source();
    }
    None
}
