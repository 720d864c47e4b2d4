//! The worker: consumers of the work queues. Each handler records its effects
//! as events, with the "processed" marker in the same transaction.

pub mod crash;
mod dead_letters;
pub mod keys;
mod probes;
pub mod results;
pub mod retention;
mod rotation;
mod runs;
pub mod scheduler;

pub use runs::lock_key as run_lock_key;
pub use sluice_connectors::salesforce::{Backoff, Polling, MAX_UPLOAD};

use sluice_events::consumer::{Consumer, ConsumerSpec, Handler};
use sluice_events::Platform;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// This worker instance's name, recorded in the events it appends.
    pub name: String,
    /// Deliveries in flight per consumer.
    pub prefetch: u16,
    /// How long a transiently failing delivery is retried in place before it
    /// returns to the queue (see [`ConsumerSpec::retry_for`]).
    pub retry_for: std::time::Duration,
    /// Where encrypted files are kept: import runs need it.
    pub store: Option<sluice_vault::FileStore>,
    /// Run the scheduler: jobs' schedules, and the system's (the retention
    /// sweep every 5 minutes, the key-rotation reminder every day).
    pub scheduler: bool,
    /// How old the primary key may grow before the daily reminder asks
    /// for a rotation.
    pub rotate_keys_after_days: i64,
    /// Rows per batch of an import run.
    pub batch_rows: usize,
    /// How long a run's result files are kept.
    pub result_ttl: chrono::Duration,
    /// The keyring: the key-rotation job runs when set.
    pub keyring: Option<Arc<sluice_vault::SharedKeyring>>,
    /// The connected app that Salesforce connections were made with: runs
    /// to a Salesforce org renew its access token with it.
    pub salesforce: Option<SalesforceApp>,
    /// Whether plans' row limits apply to runs (the deployment bills
    /// through Stripe) and their schedule limits to scheduled jobs.
    pub plan_limits: bool,
    /// Runs (imports and rollbacks) worked at once.
    pub max_runs: usize,
    /// Connections a run to a PostgreSQL table writes with: as many
    /// batches are under way at once, committing in order.
    pub target_connections: usize,
}

/// The most connections a run writes to one PostgreSQL target with.
pub const MAX_TARGET_CONNECTIONS: usize = 16;

/// How runs reach Salesforce.
#[derive(Clone)]
pub struct SalesforceApp {
    /// The login URL the token endpoint is under, for connections that do
    /// not name their own.
    pub login_url: String,
    pub client_id: String,
    pub client_secret: zeroize::Zeroizing<String>,
    /// Runs of more rows than this use the Bulk API (2,000 by default, as
    /// Salesforce advises); smaller runs use sObject Collections.
    pub bulk_above_rows: usize,
    /// The most CSV one Bulk job takes: larger runs take several jobs
    /// (100 MB by default; Salesforce takes 150 MB once encoded).
    pub bulk_upload_bytes: usize,
    /// How Bulk jobs are polled.
    pub polling: Polling,
    /// How calls refused for a passing reason are tried again (5 tries
    /// over 30 seconds by default).
    pub backoff: Backoff,
}

impl SalesforceApp {
    /// The connected app `client_id` (with its secret) under `login_url`,
    /// with the defaults for Bulk jobs, their polling and retries.
    pub fn new(
        login_url: String,
        client_id: String,
        client_secret: zeroize::Zeroizing<String>,
    ) -> Self {
        Self {
            login_url,
            client_id,
            client_secret,
            bulk_above_rows: 2_000,
            bulk_upload_bytes: MAX_UPLOAD,
            polling: Polling::default(),
            backoff: Backoff::default(),
        }
    }
}

impl std::fmt::Debug for SalesforceApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesforceApp")
            .field("login_url", &self.login_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("bulk_above_rows", &self.bulk_above_rows)
            .field("bulk_upload_bytes", &self.bulk_upload_bytes)
            .finish_non_exhaustive()
    }
}

/// Starts every consumer; they stop when `shutdown` is cancelled.
pub fn spawn(
    platform: &Platform,
    config: &WorkerConfig,
    shutdown: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    crash::setup();
    let topology = &platform.config.topology;
    let mut consumers: Vec<(ConsumerSpec, Arc<dyn Handler>)> = vec![
        (
            ConsumerSpec {
                name: probes::CONSUMER.into(),
                queue: topology.imports_queue(),
                prefetch: config.prefetch,
                retry_for: config.retry_for,
                refuse_other_regions: true,
            },
            Arc::new(ImportsQueue {
                probes: probes::ProbeHandler {
                    appender: platform.appender.clone(),
                    worker: config.name.clone(),
                },
                runs: match (&config.store, &config.keyring) {
                    (Some(store), Some(keyring)) => Some(Arc::new(runs::RunHandler {
                        platform: platform.clone(),
                        keyring: keyring.clone(),
                        store: store.clone(),
                        worker: config.name.clone(),
                        batch_rows: config.batch_rows,
                        target_connections: config
                            .target_connections
                            .clamp(1, MAX_TARGET_CONNECTIONS),
                        result_ttl: config.result_ttl,
                        salesforce: config.salesforce.clone(),
                        http: reqwest::Client::builder()
                            .timeout(std::time::Duration::from_secs(300))
                            .build()
                            .unwrap_or_default(),
                        plan_limits: config.plan_limits,
                        slots: Arc::new(tokio::sync::Semaphore::new(config.max_runs.max(1))),
                    })),
                    _ => None,
                },
                schedules: scheduler::ScheduleHandler {
                    platform: platform.clone(),
                    worker: config.name.clone(),
                    store: config.store.clone(),
                    keyring: config.keyring.clone(),
                    rotate_after_days: config.rotate_keys_after_days,
                    plan_limits: config.plan_limits,
                },
            }),
        ),
        (
            ConsumerSpec {
                name: dead_letters::CONSUMER.into(),
                queue: topology.dead_queue(),
                prefetch: config.prefetch,
                retry_for: config.retry_for,
                refuse_other_regions: false,
            },
            Arc::new(dead_letters::DeadLetterHandler {
                appender: platform.appender.clone(),
            }),
        ),
    ];
    if let Some(keyring) = &config.keyring {
        consumers.push((
            ConsumerSpec {
                name: rotation::CONSUMER.into(),
                queue: topology.maintenance_queue(),
                // One maintenance job at a time per worker.
                prefetch: 1,
                retry_for: config.retry_for,
                refuse_other_regions: true,
            },
            Arc::new(rotation::RotationHandler {
                appender: platform.appender.clone(),
                pool: platform.pool.clone(),
                keyring: keyring.clone(),
                worker: config.name.clone(),
            }),
        ));
    }
    let mut tasks: Vec<JoinHandle<()>> = consumers
        .into_iter()
        .map(|(spec, handler)| {
            let consumer = Consumer {
                amqp_url: platform.config.amqp_url.clone(),
                region: platform.config.region.clone(),
                topology: topology.clone(),
                pool: platform.pool.clone(),
                metrics: platform.metrics.clone(),
                spec,
                handler,
            };
            tokio::spawn(consumer.run(shutdown.clone()))
        })
        .collect();
    if config.scheduler {
        tasks.push(tokio::spawn(scheduler::run(
            platform.clone(),
            config.name.clone(),
            shutdown.clone(),
        )));
    }
    tasks
}

/// The imports queue carries probes, runs and schedules' slots.
struct ImportsQueue {
    probes: probes::ProbeHandler,
    runs: Option<Arc<runs::RunHandler>>,
    schedules: scheduler::ScheduleHandler,
}

impl Handler for ImportsQueue {
    fn handle(
        &self,
        incoming: sluice_events::consumer::Incoming,
    ) -> futures_util::future::BoxFuture<'static, Result<(), sluice_events::consumer::HandlerError>>
    {
        match (&incoming.event.event, &self.runs) {
            (sluice_events::DomainEvent::RunRequested(_), Some(runs)) => {
                runs.clone().handle(incoming)
            }
            (sluice_events::DomainEvent::ScheduleFired(_), _) => self.schedules.handle(incoming),
            _ => self.probes.handle(incoming),
        }
    }
}

/// Maps an append failure to what the consumer should do with the delivery.
fn retry_on(e: sluice_events::AppendError) -> sluice_events::consumer::HandlerError {
    sluice_events::consumer::HandlerError::Retry(e.to_string())
}
