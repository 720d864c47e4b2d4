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

impl RelayError {
    /// Whether the broker itself said no to what was published (as opposed
    /// to going away): only that counts against the events sent.
    fn is_refusal(&self) -> bool {
        match self {
            Self::Nacked(_) => true,
            // A channel-level error (the broker closing the channel on a
            // message it will not take), not a connection-level one such
            // as a broker shutting down.
            Self::Broker(e) => matches!(
                e.kind(),
                lapin::ErrorKind::ProtocolError(error)
                    if matches!(error.kind(), lapin::protocol::AMQPErrorKind::Soft(_))
            ),
            _ => false,
        }
    }
}

/// Broker refusals at one cursor position, kept across reconnects.
#[derive(Debug, Default)]
struct Refusals {
    at: i64,
    count: u32,
    /// Up to this position events are sent one at a time.
    alone_until: i64,
}

impl Refusals {
    /// How many events to send after `cursor`.
    fn batch(&self, cursor: i64) -> i64 {
        if cursor < self.alone_until {
            1
        } else {
            BATCH
        }
    }

    /// Counts a refusal of what was sent after `cursor`; true when the one
    /// event sent alone has been refused [`REFUSALS`] times, and is to be
    /// quarantined. A batch refused that often is sent again one event at a
    /// time, to find the event the broker will not take.
    fn record(&mut self, cursor: i64) -> bool {
        if self.at != cursor {
            self.at = cursor;
            self.count = 0;
        }
        self.count += 1;
        if cursor < self.alone_until {
            return self.count >= REFUSALS;
        }
        if self.count >= REFUSALS {
            self.alone_until = cursor + BATCH;
            self.count = 0;
        }
        false
    }
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

    /// Records that the event of `row` will not be published, and moves the
    /// cursor past it, in one transaction. Idempotent: the alert's id is
    /// derived from the cursor and the position, so a relay that dies
    /// half-way records it once.
    async fn quarantine(
        &self,
        db: PgConnection,
        cursor_name: &str,
        row: &EventRow,
        reason: String,
    ) -> Result<PgConnection, RelayError> {
        tracing::error!(
            global_seq = row.global_seq,
            event_type = %row.event_type,
            reason = %reason,
            "relay quarantined an event it cannot publish; later events flow on"
        );
        let alert = quarantine_request(cursor_name, row, reason);
        let name = cursor_name.to_owned();
        let seq = row.global_seq;
        let (db, ()) = with_conn(db, move |c| {
            c.transaction(|c| {
                crate::append(c, &alert).map_err(|e| RelayError::Database(e.to_string()))?;
                save_cursor(c, &name, seq)
            })
        })
        .await?;
        self.metrics.events_quarantined.inc();
        Ok(db)
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

fn fetch_after(
    conn: &mut PgConnection,
    cursor: i64,
    limit: i64,
) -> Result<(Vec<EventRow>, i64), RelayError> {
    let head: i64 = event_log_head::table
        .select(event_log_head::last_seq)
        .first(conn)?;
    if head <= cursor {
        return Ok((Vec::new(), head));
    }
    let rows = events::table
        .filter(events::global_seq.gt(cursor))
        .order(events::global_seq.asc())
        .limit(limit)
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

/// The alert that quarantines the event of `row`.
pub fn quarantine_request(
    cursor_name: &str,
    row: &EventRow,
    reason: String,
) -> crate::AppendRequest {
    use crate::event::{DomainEvent, RelayEventQuarantined};
    let stream = quarantine_stream(cursor_name);
    let id = uuid::Uuid::new_v5(&stream, &row.global_seq.to_be_bytes());
    let mut event = crate::NewEvent::new(
        DomainEvent::RelayEventQuarantined(RelayEventQuarantined {
            cursor: cursor_name.to_owned(),
            global_seq: row.global_seq,
            event_id: row.event_id,
            event_type: row.event_type.clone(),
            reason,
        }),
        crate::Metadata::actor("relay"),
    );
    event.event_id = sluice_schema::ids::EventId(id);
    crate::AppendRequest::new("relay", stream, crate::ExpectedVersion::Any, vec![event])
}

/// The stream of a relay cursor's quarantine: its alerts and settlements.
pub(crate) fn quarantine_stream(cursor_name: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(&QUARANTINE_NAMESPACE, cursor_name.as_bytes())
}

/// The namespace of the relay's quarantine stream ids.
const QUARANTINE_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x736c_7569_6365_7172_6e74_0000_0000_0001);

/// The name of the relay's cursor for `topology`.
pub fn cursor_name(topology: &Topology) -> String {
    format!("amqp:{}", topology.namespace)
}

/// When the oldest event that the relay of `cursor_name` has not yet
/// published (or quarantined) was recorded; none when it is caught up.
pub fn oldest_unpublished(
    conn: &mut PgConnection,
    cursor_name: &str,
) -> QueryResult<Option<chrono::DateTime<chrono::Utc>>> {
    let cursor: i64 = relay_cursors::table
        .find(cursor_name)
        .select(relay_cursors::last_seq)
        .first(conn)
        .optional()?
        .unwrap_or(0);
    events::table
        .filter(events::global_seq.gt(cursor))
        .order(events::global_seq.asc())
        .select(events::recorded_at)
        .first(conn)
        .optional()
}
