//! The RabbitMQ topology, declared idempotently by every publisher and consumer.
//!
//! * `<ns>.events`: topic exchange, routing key = event type.
//! * `<ns>.imports`: quorum work queue for import commands; manual acks, a
//!   delivery limit, dead letters to `<ns>.dead-letter`.
//! * `<ns>.maintenance`: quorum work queue for maintenance commands (key
//!   rotation), with the same acks, delivery limit and dead letters.
//! * `<ns>.dead`: quorum queue holding dead letters (recorded as events).
//! * `<ns>.audit`: stream queue with every event, for consumers that replay
//!   from an offset.
//!
//! `ns` is `sluice` unless configured otherwise (tests use their own).

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

/// Event types that are commands for the import workers.
pub const IMPORT_COMMANDS: &[&str] = &["probe.requested", "run.requested", "schedule.fired"];

/// Event types that are maintenance commands.
pub const MAINTENANCE_COMMANDS: &[&str] = &["keys.rotation_requested"];

#[derive(Debug, Clone)]
pub struct Topology {
    pub namespace: String,
    /// Deliveries of one message before it is dead-lettered.
    pub delivery_limit: i64,
    /// Size cap of the audit stream; the oldest segments go first.
    pub audit_max_bytes: i64,
}

impl Topology {
    pub fn new(namespace: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            delivery_limit: 5,
            audit_max_bytes: 5 * 1024 * 1024 * 1024,
        }
    }

    pub fn events_exchange(&self) -> String {
        format!("{}.events", self.namespace)
    }
    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.dead-letter", self.namespace)
    }
    pub fn imports_queue(&self) -> String {
        format!("{}.imports", self.namespace)
    }
    pub fn maintenance_queue(&self) -> String {
        format!("{}.maintenance", self.namespace)
    }
    pub fn dead_queue(&self) -> String {
        format!("{}.dead", self.namespace)
    }
    pub fn audit_queue(&self) -> String {
        format!("{}.audit", self.namespace)
    }

    /// Every queue this topology declares.
    pub fn queues(&self) -> Vec<String> {
        vec![
            self.imports_queue(),
            self.maintenance_queue(),
            self.dead_queue(),
            self.audit_queue(),
        ]
    }

    /// Every exchange this topology declares.
    pub fn exchanges(&self) -> Vec<String> {
        vec![self.events_exchange(), self.dead_letter_exchange()]
    }

    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        channel
            .exchange_declare(
                self.events_exchange().as_str().into(),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            )
            .await?;
        channel
            .exchange_declare(
                self.dead_letter_exchange().as_str().into(),
                ExchangeKind::Fanout,
                durable,
                FieldTable::default(),
            )
            .await?;

        let mut work = FieldTable::default();
        work.insert("x-queue-type".into(), string("quorum"));
        work.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(self.delivery_limit),
        );
        work.insert(
            "x-dead-letter-exchange".into(),
            string(&self.dead_letter_exchange()),
        );
        self.queue(channel, &self.imports_queue(), work.clone())
            .await?;
        for key in IMPORT_COMMANDS {
            self.bind(channel, &self.imports_queue(), &self.events_exchange(), key)
                .await?;
        }
        self.queue(channel, &self.maintenance_queue(), work).await?;
        for key in MAINTENANCE_COMMANDS {
            self.bind(
                channel,
                &self.maintenance_queue(),
                &self.events_exchange(),
                key,
            )
            .await?;
        }

        let mut dead = FieldTable::default();
        dead.insert("x-queue-type".into(), string("quorum"));
        self.queue(channel, &self.dead_queue(), dead).await?;
        self.bind(
            channel,
            &self.dead_queue(),
            &self.dead_letter_exchange(),
            "",
        )
        .await?;

        let mut audit = FieldTable::default();
        audit.insert("x-queue-type".into(), string("stream"));
        audit.insert(
            "x-max-length-bytes".into(),
            AMQPValue::LongLongInt(self.audit_max_bytes),
        );
        self.queue(channel, &self.audit_queue(), audit).await?;
        self.bind(channel, &self.audit_queue(), &self.events_exchange(), "#")
            .await?;
        Ok(())
    }

    async fn queue(&self, channel: &Channel, name: &str, args: FieldTable) -> lapin::Result<()> {
        channel
            .queue_declare(
                name.into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                args,
            )
            .await?;
        Ok(())
    }

    async fn bind(
        &self,
        channel: &Channel,
        queue: &str,
        exchange: &str,
        key: &str,
    ) -> lapin::Result<()> {
        channel
            .queue_bind(
                queue.into(),
                exchange.into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
    }
}

fn string(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

/// Reads a header as text, whether the broker sent it as a long or short string.
pub fn header_str(headers: &FieldTable, key: &str) -> Option<String> {
    match headers.inner().get(&ShortString::from(key))? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

/// Reads an integer header of any width.
pub fn header_int(headers: &FieldTable, key: &str) -> Option<i64> {
    match headers.inner().get(&ShortString::from(key))? {
        AMQPValue::LongLongInt(n) => Some(*n),
        AMQPValue::LongInt(n) => Some(i64::from(*n)),
        AMQPValue::LongUInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortShortInt(n) => Some(i64::from(*n)),
        AMQPValue::Timestamp(n) => i64::try_from(*n).ok(),
        _ => None,
    }
}
