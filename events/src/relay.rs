//! The transactional-outbox relay: publishes recorded events to RabbitMQ in
//! `global_seq` order with publisher confirms, and only then advances its cursor.
//!
//! Every process runs a relay; one at a time is active, holding a PostgreSQL
//! advisory lock on its own connection (the lock goes with the connection if
//! the process dies). If RabbitMQ is down, appends still succeed and the relay
//! catches up when the broker returns. A crash between a confirm and the cursor
//! update republishes that batch: delivery is at least once, and consumers are
//! idempotent.
//!
//! The relay never stops the world for one event. An event it cannot
//! publish — larger than [`MAX_PUBLISH_BYTES`], not encodable, or refused
//! by the broker [`REFUSALS`] times in a row when sent alone — is
//! quarantined: a `relay.event_quarantined` event records it (an alert for
//! the operator, counted in `sluice_relay_quarantined_events`), the cursor
//! moves past it, and the events after it flow. `sluice relay republish`
//! or `sluice relay discard` then settles it.

pub mod cursor;
pub mod error;
pub mod quarantine;
mod refusals;

use crate::amqp::{self, Backoff};
use crate::envelope::wire_from_row;
use crate::metrics::EventMetrics;
use crate::topology::Topology;
use cursor::{blocking, cursor_name, fetch_after, read_cursor, save_cursor, try_lock, with_conn};
use diesel::prelude::*;
use error::RelayError;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel};
use refusals::Refusals;
use sluice_schema::models::EventRow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const BATCH: i64 = 1000;

/// The largest message the relay publishes: an event's wire form. The
/// appender refuses events past [`crate::MAX_EVENT_BYTES`], so only an
/// event recorded before that bound existed can be larger.
pub const MAX_PUBLISH_BYTES: usize = 2 * crate::MAX_EVENT_BYTES;

/// Broker refusals (a nack, or the broker closing the channel on a publish
/// with a channel-level error)
/// at one position before the relay sends events one at a time, and then
/// of one event alone before it is quarantined.
pub const REFUSALS: u32 = 3;

/// How long a batch's publisher confirms may take before the broker
/// connection is taken for lost.
const CONFIRM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

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
        let mut refusals = Refusals::default();
        loop {
            match self.session(&shutdown, &mut backoff, &mut refusals).await {
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
        refusals: &mut Refusals,
    ) -> Result<Ended, RelayError> {
        let connection = amqp::connect(&self.amqp_url, "sluice-relay").await?;
        let channel = connection.create_channel().await?;
        self.topology.declare(&channel).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        self.broker_up.store(true, Ordering::Relaxed);
        backoff.reset();

        let result = self.lead(&channel, shutdown, refusals).await;
        let _ = connection.close(200, "relay stopping".into()).await;
        result
    }

    /// Waits for the relay lock, then publishes until shutdown or an error.
    async fn lead(
        &self,
        channel: &Channel,
        shutdown: &CancellationToken,
        refusals: &mut Refusals,
    ) -> Result<Ended, RelayError> {
        let url = self.database_url.clone();
        let cursor_name = cursor_name(&self.topology);
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
            let limit = refusals.batch(cursor);
            let (back, (mut rows, head)) =
                with_conn(db, move |c| fetch_after(c, cursor, limit)).await?;
            db = back;
            self.metrics.relay_lag.set(head - cursor);
            if rows.is_empty() {
                if !channel.status().connected() {
                    return Err(RelayError::ChannelClosed);
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(Ended::Shutdown),
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(self.poll) => {}
                }
                continue;
            }
            // What cannot be published at all is quarantined as soon as
            // the relay reaches it; the events before it go first.
            let mut unpublishable = None;
            let mut bodies = Vec::with_capacity(rows.len());
            for (i, row) in rows.iter().enumerate() {
                match wire_from_row(row) {
                    Ok(body) if body.len() <= MAX_PUBLISH_BYTES => bodies.push(body),
                    Ok(body) => {
                        unpublishable = Some((
                            i,
                            format!(
                                "its message of {} bytes is larger than the {} bytes the relay publishes",
                                body.len(),
                                MAX_PUBLISH_BYTES
                            ),
                        ));
                        break;
                    }
                    Err(e) => {
                        unpublishable = Some((i, format!("it cannot be encoded: {e}")));
                        break;
                    }
                }
            }
            let bad = unpublishable.map(|(i, reason)| (rows.split_off(i), reason));
            if let Some(last) = rows.last().map(|r| r.global_seq) {
                // A broker that goes away mid-batch can leave a publish or
                // its confirm waiting for ever: past the timeout the
                // connection is treated as lost, and the batch is
                // published again.
                let published = match tokio::time::timeout(
                    CONFIRM_TIMEOUT,
                    self.publish(channel, &rows, &bodies),
                )
                .await
                {
                    Ok(result) => result,
                    Err(_) => Err(RelayError::Unconfirmed(CONFIRM_TIMEOUT)),
                };
                if let Err(e) = published {
                    if !e.is_refusal() {
                        return Err(e);
                    }
                    if !refusals.record(cursor) {
                        return Err(e);
                    }
                    let row = rows.remove(0);
                    let reason =
                        format!("the broker refused it {REFUSALS} times when it was sent alone");
                    db = self.quarantine(db, &cursor_name, &row, reason).await?;
                    cursor = row.global_seq;
                    continue;
                }
                let name = cursor_name.clone();
                let (back, ()) = with_conn(db, move |c| save_cursor(c, &name, last)).await?;
                db = back;
                cursor = last;
                self.metrics.events_published.inc_by(rows.len() as u64);
            }
            if let Some((rest, reason)) = bad {
                if let Some(row) = rest.into_iter().next() {
                    db = self.quarantine(db, &cursor_name, &row, reason).await?;
                    cursor = row.global_seq;
                }
            }
            self.metrics.relay_lag.set(head - cursor);
        }
    }

    async fn publish(
        &self,
        channel: &Channel,
        rows: &[EventRow],
        bodies: &[Vec<u8>],
    ) -> Result<(), RelayError> {
        let exchange = self.topology.events_exchange();
        let mut confirms = Vec::with_capacity(rows.len());
        for (row, body) in rows.iter().zip(bodies) {
            let confirm = channel
                .basic_publish(
                    exchange.as_str().into(),
                    row.event_type.as_str().into(),
                    BasicPublishOptions::default(),
                    body,
                    properties(row),
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

/// The message properties of the event of `row`: persistent, its id, type
/// and time.
pub(crate) fn properties(row: &EventRow) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_message_id(row.event_id.to_string().into())
        .with_type(row.event_type.as_str().into())
        .with_timestamp(row.recorded_at.timestamp().max(0) as u64)
}
