//! Idempotent consumers of the work queues.
//!
//! A consumer declares the topology, takes deliveries with manual acks and a
//! prefetch window, and hands each decoded event to its handler. An event the
//! consumer has already processed (its marker is in `processed_events`) is
//! acknowledged and skipped; handlers record that marker in the same
//! transaction as their effects ([`crate::AppendRequest::processing`]).
//!
//! A transient failure is retried in place with backoff for a while (an outage
//! of the database should not burn through a command's delivery limit), then
//! the message goes back to the queue; after the queue's delivery limit it is
//! dead-lettered. A command that can never succeed is dead-lettered at once. A
//! lost connection is re-established with backoff, topology and consumer
//! included.

use crate::amqp::{self, Backoff};
use crate::envelope::RecordedEvent;
use crate::metrics::EventMetrics;
use crate::processed::ProcessedCheck;
use crate::topology::Topology;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
};
use lapin::types::FieldTable;
use sluice_schema::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What a handler wants done with a delivery it could not complete.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A transient failure: the message goes back on the queue and is
    /// dead-lettered once it reaches the queue's delivery limit.
    #[error("retry: {0}")]
    Retry(String),
    /// The message can never succeed: dead-letter it now.
    #[error("reject: {0}")]
    Reject(String),
}

/// The delivery as a handler sees it: the event and the broker's headers.
pub struct Incoming {
    pub event: RecordedEvent,
    pub headers: FieldTable,
    pub redelivered: bool,
}

pub trait Handler: Send + Sync + 'static {
    fn handle(&self, incoming: Incoming) -> BoxFuture<'static, Result<(), HandlerError>>;
}

pub struct ConsumerSpec {
    /// The name recorded in `processed_events`; stable across releases.
    pub name: String,
    pub queue: String,
    pub prefetch: u16,
    /// How long a delivery whose handler fails transiently (the database is
    /// away, say) is retried in place, with backoff, before it goes back to
    /// the queue and counts against the delivery limit. Keep it well under
    /// RabbitMQ's consumer acknowledgement timeout (30 minutes by default).
    pub retry_for: Duration,
    /// Refuse (dead-letter) events recorded in another region: true for
    /// queues of commands, false for the dead-letter queue, which records
    /// whatever reaches it.
    pub refuse_other_regions: bool,
}

/// The longest pause between two in-place retries.
const MAX_PAUSE: Duration = Duration::from_secs(10);

pub struct Consumer {
    pub amqp_url: String,
    /// This deployment's region: a command recorded in another is refused.
    pub region: String,
    pub topology: Topology,
    pub pool: PgPool,
    pub metrics: EventMetrics,
    pub spec: ConsumerSpec,
    pub handler: Arc<dyn Handler>,
}

/// A consumer with its batched "already processed?" look-up.
struct Running {
    consumer: Consumer,
    processed: ProcessedCheck,
}

impl std::ops::Deref for Running {
    type Target = Consumer;
    fn deref(&self) -> &Consumer {
        &self.consumer
    }
}

impl Consumer {
    pub async fn run(self, shutdown: CancellationToken) {
        let processed = ProcessedCheck::start(self.pool.clone(), self.spec.name.clone());
        let this = Arc::new(Running {
            consumer: self,
            processed,
        });
        this.run(shutdown).await;
    }
}

impl Running {
    async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut backoff = Backoff::new();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                result = self.clone().session(&mut backoff) => match result {
                    Ok(()) => tracing::warn!(queue = %self.spec.queue, "consumer cancelled by the broker, reconnecting"),
                    Err(e) => tracing::warn!(queue = %self.spec.queue, error = %e, "consumer interrupted, reconnecting"),
                },
            }
            if !backoff.wait(&shutdown).await {
                break;
            }
        }
    }

    async fn session(self: Arc<Self>, backoff: &mut Backoff) -> lapin::Result<()> {
        let connection = amqp::connect(&self.amqp_url, &self.spec.name).await?;
        let channel = connection.create_channel().await?;
        self.topology.declare(&channel).await?;
        channel
            .basic_qos(self.spec.prefetch, BasicQosOptions::default())
            .await?;
        let deliveries = channel
            .basic_consume(
                self.spec.queue.as_str().into(),
                format!("{}-{}", self.spec.name, uuid::Uuid::new_v4())
                    .as_str()
                    .into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        backoff.reset();
        tracing::info!(queue = %self.spec.queue, "consuming");
        // The connection's own error ends the session even should the
        // deliveries' stream not say so: the session then reconnects once
        // the deliveries in hand are settled.
        let mut events = connection.events_listener();
        let lost = async move {
            while let Some(event) = events.next().await {
                if let lapin::Event::Error(e) = event {
                    return Some(e);
                }
            }
            None
        };
        let mut failure = None;
        let mut deliveries = deliveries.take_until(Box::pin(lost));
        deliveries
            .by_ref()
            .take_while(|d| {
                let ok = d.is_ok();
                if let Err(e) = d {
                    failure = Some(e.clone());
                }
                futures_util::future::ready(ok)
            })
            .filter_map(|d| futures_util::future::ready(d.ok()))
            .for_each_concurrent(usize::from(self.spec.prefetch.max(1)), |delivery| {
                let this = self.clone();
                async move { this.dispatch(delivery).await }
            })
            .await;
        if let Some(Some(e)) = deliveries.take_result() {
            failure.get_or_insert(e);
        }
        // Bounded for the same reason as an ack (see [`SETTLE_TIMEOUT`]).
        let _ = tokio::time::timeout(
            SETTLE_TIMEOUT,
            connection.close(200, "consumer stopping".into()),
        )
        .await;
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn dispatch(&self, delivery: Delivery) {
        let consumer = self.spec.name.as_str();
        let event = match RecordedEvent::from_wire(&delivery.data) {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!(queue = %self.spec.queue, error = %e, "undecodable delivery dead-lettered");
                self.metrics.delivery(consumer, "rejected");
                settle(delivery.reject(BasicRejectOptions { requeue: false })).await;
                return;
            }
        };
        let seq = event.global_seq;
        let foreign = event
            .metadata
            .region
            .as_deref()
            .filter(|r| *r != self.region);
        if let Some(region) = foreign.filter(|_| self.spec.refuse_other_regions) {
            tracing::warn!(seq, %region, "command of another region refused, dead-lettered");
            self.metrics.delivery(consumer, "rejected");
            settle(delivery.reject(BasicRejectOptions { requeue: false })).await;
            return;
        }
        let headers = delivery.properties.headers().clone().unwrap_or_default();
        let started = Instant::now();
        let mut pause = Duration::from_millis(200);
        loop {
            match self.attempt(&event, &headers, delivery.redelivered).await {
                Ok(Done::Handled) => {
                    self.metrics.delivery(consumer, "handled");
                    ack(&delivery).await;
                }
                Ok(Done::Skipped) => {
                    self.metrics.delivery(consumer, "skipped");
                    ack(&delivery).await;
                }
                Err(HandlerError::Reject(reason)) => {
                    tracing::warn!(seq, %reason, "handler refused the event, dead-lettered");
                    self.metrics.delivery(consumer, "rejected");
                    settle(delivery.reject(BasicRejectOptions { requeue: false })).await;
                }
                Err(HandlerError::Retry(reason))
                    if started.elapsed() + pause <= self.spec.retry_for =>
                {
                    tracing::warn!(seq, %reason, retry_in_ms = pause.as_millis() as u64, "handler failed, retrying");
                    self.metrics.delivery(consumer, "retried");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_PAUSE);
                    continue;
                }
                Err(HandlerError::Retry(reason)) => {
                    tracing::warn!(seq, %reason, "handler kept failing, returned to the queue");
                    self.metrics.delivery(consumer, "requeued");
                    // Even with no retry window, never hand a failing message
                    // straight back: that would spin while an outage lasts.
                    tokio::time::sleep(pause).await;
                    settle(delivery.nack(BasicNackOptions {
                        requeue: true,
                        multiple: false,
                    }))
                    .await;
                }
            }
            return;
        }
    }

    /// One try: skip an event already processed, otherwise hand it over.
    async fn attempt(
        &self,
        event: &RecordedEvent,
        headers: &FieldTable,
        redelivered: bool,
    ) -> Result<Done, HandlerError> {
        if self
            .processed
            .contains(event.event_id)
            .await
            .map_err(HandlerError::Retry)?
        {
            return Ok(Done::Skipped);
        }
        self.handler
            .handle(Incoming {
                event: event.clone(),
                headers: headers.clone(),
                redelivered,
            })
            .await?;
        Ok(Done::Handled)
    }
}

enum Done {
    Handled,
    Skipped,
}

async fn ack(delivery: &Delivery) {
    settle(delivery.ack(BasicAckOptions::default())).await;
}

/// How long an ack, nack or reject may wait for its channel. One sent as
/// the broker closes the connection can be left waiting for ever by the
/// client library, and the consumer's session, which waits for its
/// deliveries before it reconnects, with it; the broker redelivers what it
/// did not hear about.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

async fn settle<T>(answer: impl std::future::Future<Output = lapin::Result<T>>) {
    match tokio::time::timeout(SETTLE_TIMEOUT, answer).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "ack lost with its channel; the broker will redeliver")
        }
        Err(_) => tracing::warn!(
            "no answer from the channel to an ack within {SETTLE_TIMEOUT:?}; the broker will redeliver"
        ),
    }
}
