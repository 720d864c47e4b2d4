//! Test support: each test gets its own PostgreSQL database (cloned from a
//! migrated template) and its own RabbitMQ namespace on the shared servers, a
//! TCP proxy that can cut the broker off, and `spawn_app` for the whole
//! service on a free port. Nothing here is a mock: tests talk to the real
//! PostgreSQL and RabbitMQ.
#![expect(
    clippy::expect_used,
    reason = "test support: a failed set-up must stop the test"
)]

mod app;
mod broker;
mod certs;
mod db;
pub mod dropbox;
mod logs;
pub mod object_store;
mod proxy;
pub mod salesforce;
mod standin;
pub mod stripe;
mod tls_postgres;

pub use app::{fast_backoff, fast_polling, spawn_app, spawn_app_with, AppOptions, TestApp, REGION};
pub use broker::TestBroker;
pub use certs::{ServerCert, TestCa};
pub use db::TestDb;
pub use logs::capture_logs;
pub use object_store::TestObjectStore;
pub use proxy::BrokerProxy;
pub use tls_postgres::{TlsPostgres, TLS_PG_PASSWORD, TLS_PG_USER};

use std::future::Future;
use std::sync::Once;
use std::time::{Duration, Instant};

/// A request to append `probe.requested` to a new stream: the cheapest
/// command, used to fill the log in tests and benchmarks.
pub fn probe_request() -> sluice_events::AppendRequest {
    use sluice_events::event::ProbeRequested;
    use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, Metadata, NewEvent};
    AppendRequest::new(
        "probe",
        uuid::Uuid::now_v7(),
        ExpectedVersion::NoStream,
        vec![NewEvent::new(
            DomainEvent::ProbeRequested(ProbeRequested {}),
            Metadata::actor("test"),
        )],
    )
}

/// The server URL tests use; its database part is replaced per test.
pub fn database_server_url() -> String {
    std::env::var("SLUICE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgresql:///postgres?host=/var/run/postgresql".into())
}

pub fn amqp_url() -> String {
    std::env::var("SLUICE_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Logs to the test's output when `SLUICE_TEST_LOG` is set (an env-filter).
pub fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("SLUICE_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}

/// Polls `check` until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Replaces the database name in a libpq URL (`scheme://authority/db?query`).
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{}", &base[..path_start], database);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced_in_tcp_and_socket_urls() {
        assert_eq!(
            with_database("postgres://u@127.0.0.1:5432/postgres", "x"),
            "postgres://u@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgresql:///postgres?host=/var/run/postgresql", "x"),
            "postgresql:///x?host=/var/run/postgresql"
        );
        assert_eq!(
            with_database("postgres://localhost", "x"),
            "postgres://localhost/x"
        );
    }
}
