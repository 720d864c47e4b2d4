//! The event log: versioned event types, append with optimistic concurrency and
//! a SHA-256 hash chain, group commit, projections, the transactional-outbox
//! relay to RabbitMQ, idempotent consumers, replay and audit verification.

pub mod aggregate;
pub mod amqp;
pub mod append;
pub mod appender;
pub mod clock;
pub mod consumer;
pub mod envelope;
pub mod event;
pub mod hash;
pub mod metrics;
pub mod platform;
pub mod processed;
pub mod projection;
pub mod quarantine;
pub mod relay;
pub mod replay;
pub mod rules;
pub mod schedule;
pub mod secrets;
pub mod topology;
pub mod verify;

pub use append::request::{AppendRequest, Claim, ExpectedVersion};
pub use append::{append, append_batch, AppendError, AppendOutcome, MAX_EVENT_BYTES};
pub use appender::Appender;
pub use clock::Clock;
pub use envelope::{Metadata, NewEvent, RecordedEvent};
pub use event::DomainEvent;
pub use metrics::EventMetrics;
pub use platform::{Platform, PlatformConfig};
pub use secrets::SecretWrite;
pub use topology::Topology;
