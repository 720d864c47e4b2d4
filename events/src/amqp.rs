//! Connecting to RabbitMQ and retrying with backoff.

use lapin::{Connection, ConnectionProperties};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Opens a connection named after its role (shown in RabbitMQ's management views).
pub async fn connect(url: &str, role: &str) -> lapin::Result<Connection> {
    let properties = ConnectionProperties::default().with_connection_name(role.into());
    Connection::connect(url, properties).await
}

/// Exponential backoff between reconnection attempts, capped.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new() -> Self {
        Self {
            next: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }

    pub fn reset(&mut self) {
        self.next = Duration::from_millis(100);
    }

    /// Sleeps for the current delay (or until cancelled); false once cancelled.
    pub async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        tokio::select! {
            _ = shutdown.cancelled() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}
