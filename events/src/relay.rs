//! The transactional-outbox relay: publishes recorded events to RabbitMQ in
//! `global_seq` order with publisher confirms, and only then advances its cursor.
//!
//! Every process runs a relay; one at a time is active, holding a PostgreSQL
//! advisory lock on its own connection (the lock goes with the connection if
//! the process dies). If RabbitMQ is down, appends still succeed and the relay
//! catches up when the broker returns. A crash between a confirm and the cursor
//! update republishes that batch: delivery is at least once, and consumers are
//! idempotent.

use crate::amqp::{self, Backoff};
use crate::envelope::wire_from_row;
use crate::metrics::EventMetrics;
use crate::topology::Topology;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel};
use sluice_schema::models::EventRow;
use sluice_schema::schema::{event_log_head, events, relay_cursors};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Advisory lock key held by the active relay.
const RELAY_LOCK: i64 = 0x736c_7569_6365_0001;
const BATCH: i64 = 1000;

/// How long a batch's publisher confirms may take before the broker
/// connection is taken for lost.
const CONFIRM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
    #[error("broker connection lost")]
    ChannelClosed,
    #[error("broker refused event {0}")]
    Nacked(i64),
    #[error("the broker did not confirm a batch within {0:?}")]
    Unconfirmed(std::time::Duration),
    #[error("database: {0}")]
    Database(String),
    #[error("encoding event: {0}")]
    Encode(#[from] serde_json::Error),
}

impl From<diesel::result::Error> for RelayError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Database(e.to_string())
    }
}

impl From<diesel::ConnectionError> for RelayError {
    fn from(e: diesel::ConnectionError) -> Self {
        Self::Database(e.to_string())
    }
}

pub struct Relay {
    pub database_url: String,
    pub amqp_url: String,
    pub topology: Topology,
    /// Woken by the appender after each commit; the relay also polls.
    pub wake: Arc<Notify>,
    pub poll: Duration,
    pub metrics: EventMetrics,
    /// True while this process holds a working broker connection.
    pub broker_up: Arc<AtomicBool>,
}

enum Ended {
    Shutdown,
}

impl Relay {
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Backoff::new();
        loop {
            match self.session(&shutdown, &mut backoff).await {
                Ok(Ended::Shutdown) => break,
                Err(e) => tracing::warn!(error = %e, "relay interrupted, reconnecting"),
            }
            self.broker_up.store(false, Ordering::Relaxed);
            if !backoff.wait(&shutdown).await {
                break;
            }
        }
        self.broker_up.store(false, Ordering::Relaxed);
    }

    async fn session(
        &self,
        shutdown: &CancellationToken,
        backoff: &mut Backoff,
    ) -> Result<Ended, RelayError> {
        let connection = amqp::connect(&self.amqp_url, "sluice-relay").await?;
        let channel = connection.create_channel().await?;
        self.topology.declare(&channel).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        self.broker_up.store(true, Ordering::Relaxed);
        backoff.reset();

        let result = self.lead(&channel, shutdown).await;
        let _ = connection.close(200, "relay stopping".into()).await;
        result
    }

    /// Waits for the relay lock, then publishes until shutdown or an error.
    async fn lead(
        &self,
        channel: &Channel,
        shutdown: &CancellationToken,
    ) -> Result<Ended, RelayError> {
        let url = self.database_url.clone();
        let cursor_name = format!("amqp:{}", self.topology.namespace);
        let mut db = blocking(move || {
            let mut conn = PgConnection::establish(&url)?;
            sluice_schema::db::configure_session(&mut conn)?;
            Ok(conn)
        })
        .await?;
        loop {
            let (back, locked) = with_conn(db, try_lock).await?;
            db = back;
            if locked {
                break;
            }
            if !channel.status().connected() {
                return Err(RelayError::Database(
                    "broker channel closed while on standby".into(),
                ));
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(Ended::Shutdown),
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        tracing::info!(cursor = %cursor_name, "relay active");
        let name = cursor_name.clone();
        let (back, mut cursor) = with_conn(db, move |c| read_cursor(c, &name)).await?;
        db = back;

        loop {
            let (back, (rows, head)) = with_conn(db, move |c| fetch_after(c, cursor)).await?;
            db = back;
            self.metrics.relay_lag.set(head - cursor);
            let Some(last) = rows.last().map(|r| r.global_seq) else {
                if !channel.status().connected() {
                    return Err(RelayError::ChannelClosed);
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(Ended::Shutdown),
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(self.poll) => {}
                }
                continue;
            };
            // A broker that goes away mid-batch can leave a publish or its
            // confirm waiting for ever: past the timeout the connection is
            // treated as lost, and the batch is published again.
            tokio::time::timeout(CONFIRM_TIMEOUT, self.publish(channel, &rows))
                .await
                .map_err(|_| RelayError::Unconfirmed(CONFIRM_TIMEOUT))??;
            let name = cursor_name.clone();
            let (back, ()) = with_conn(db, move |c| save_cursor(c, &name, last)).await?;
            db = back;
            cursor = last;
            self.metrics.events_published.inc_by(rows.len() as u64);
            self.metrics.relay_lag.set(head - cursor);
        }
    }

    async fn publish(&self, channel: &Channel, rows: &[EventRow]) -> Result<(), RelayError> {
        let exchange = self.topology.events_exchange();
        let mut confirms = Vec::with_capacity(rows.len());
        for row in rows {
            let body = wire_from_row(row)?;
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into())
                .with_message_id(row.event_id.to_string().into())
                .with_type(row.event_type.as_str().into())
                .with_timestamp(row.recorded_at.timestamp().max(0) as u64);
            let confirm = channel
                .basic_publish(
                    exchange.as_str().into(),
                    row.event_type.as_str().into(),
                    BasicPublishOptions::default(),
                    &body,
                    properties,
                )
                .await?;
            confirms.push((row.global_seq, confirm));
        }
        for (seq, confirm) in confirms {
            if confirm.await?.is_nack() {
                return Err(RelayError::Nacked(seq));
            }
        }
        Ok(())
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RelayError> + Send + 'static,
) -> Result<T, RelayError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RelayError::Database(e.to_string()))?
}

/// Runs `f` on the blocking pool with the relay's own connection and gives it
/// back; on an error the connection is dropped, which also releases the lock.
async fn with_conn<T: Send + 'static>(
    mut conn: PgConnection,
    f: impl FnOnce(&mut PgConnection) -> Result<T, RelayError> + Send + 'static,
) -> Result<(PgConnection, T), RelayError> {
    blocking(move || {
        let value = f(&mut conn)?;
        Ok((conn, value))
    })
    .await
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

fn try_lock(conn: &mut PgConnection) -> Result<bool, RelayError> {
    let row: Locked = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
        .bind::<BigInt, _>(RELAY_LOCK)
        .get_result(conn)?;
    Ok(row.locked)
}

fn read_cursor(conn: &mut PgConnection, name: &str) -> Result<i64, RelayError> {
    diesel::insert_into(relay_cursors::table)
        .values((
            relay_cursors::name.eq(name),
            relay_cursors::last_seq.eq(0_i64),
            relay_cursors::updated_at.eq(diesel::dsl::now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(relay_cursors::table
        .find(name)
        .select(relay_cursors::last_seq)
        .first(conn)?)
}

fn fetch_after(conn: &mut PgConnection, cursor: i64) -> Result<(Vec<EventRow>, i64), RelayError> {
    let head: i64 = event_log_head::table
        .select(event_log_head::last_seq)
        .first(conn)?;
    if head <= cursor {
        return Ok((Vec::new(), head));
    }
    let rows = events::table
        .filter(events::global_seq.gt(cursor))
        .order(events::global_seq.asc())
        .limit(BATCH)
        .select(EventRow::as_select())
        .load(conn)?;
    Ok((rows, head))
}

fn save_cursor(conn: &mut PgConnection, name: &str, seq: i64) -> Result<(), RelayError> {
    diesel::update(relay_cursors::table.find(name))
        .set((
            relay_cursors::last_seq.eq(seq),
            relay_cursors::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    Ok(())
}
