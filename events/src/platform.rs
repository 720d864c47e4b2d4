//! What every Sluice process shares: the database pool, the appender, the
//! broker settings and the metrics. Built once at start-up and passed down.

use crate::appender::Appender;
use crate::clock::Clock;
use crate::metrics::EventMetrics;
use crate::relay::Relay;
use crate::topology::Topology;
use sluice_schema::PgPool;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct PlatformConfig {
    /// This deployment's region (`SLUICE_REGION`).
    pub region: String,
    pub database_url: String,
    pub database_pool_size: u32,
    pub amqp_url: String,
    pub topology: Topology,
}

#[derive(Clone)]
pub struct Platform {
    pub config: PlatformConfig,
    pub pool: PgPool,
    pub appender: Appender,
    pub metrics: EventMetrics,
    /// True while this process's relay holds a working broker connection.
    pub broker_up: Arc<AtomicBool>,
    /// The time, for everything that expires.
    pub clock: Clock,
}

impl Platform {
    /// Builds the pool and starts the appender; must run inside a tokio runtime.
    pub fn start(config: PlatformConfig) -> Result<Self, sluice_schema::DbError> {
        let pool = sluice_schema::pool(&config.database_url, config.database_pool_size)?;
        let metrics = EventMetrics::default();
        let clock = Clock::default();
        let appender = Appender::start(pool.clone(), metrics.clone(), clock.clone());
        Ok(Self {
            config,
            pool,
            appender,
            metrics,
            broker_up: Arc::new(AtomicBool::new(false)),
            clock,
        })
    }

    /// The relay for this process (run it with [`Relay::run`]).
    pub fn relay(&self) -> Relay {
        Relay {
            database_url: self.config.database_url.clone(),
            amqp_url: self.config.amqp_url.clone(),
            topology: self.config.topology.clone(),
            wake: self.appender.appended(),
            poll: Duration::from_millis(200),
            metrics: self.metrics.clone(),
            broker_up: self.broker_up.clone(),
        }
    }
}
