//! Group commit: concurrent appends from one process share a transaction.
//!
//! Appends are serialised by the log's head lock, so a process that sent one
//! transaction per request would wait on a disk flush per event. The appender
//! collects whatever requests arrived while the previous transaction was
//! committing and writes them together; each still gets its own outcome.

use crate::append::request::AppendRequest;
use crate::append::{append_batch_at, AppendError, AppendOutcome};
use crate::clock::Clock;
use crate::metrics::EventMetrics;
use sluice_schema::PgPool;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Notify};

const MAX_BATCH: usize = 512;

/// Under load (the last transaction carried more than one request), how
/// many times the appender lets other tasks run before it writes, taking
/// the requests they send meanwhile, as long as each turn brings some. The
/// writers the last commit answered are sending their next requests:
/// without this, a fixed set of busy writers splits into halves that take
/// turns, each transaction carrying half of them.
const GATHER_TURNS: usize = 8;

type Reply = oneshot::Sender<Result<AppendOutcome, AppendError>>;

/// A handle to the process's appender task. Cheap to clone.
#[derive(Clone)]
pub struct Appender {
    jobs: mpsc::Sender<(AppendRequest, Reply)>,
    appended: Arc<Notify>,
}

impl Appender {
    /// Starts the appender task on the current tokio runtime; events are
    /// recorded at `clock`'s time.
    pub fn start(pool: PgPool, metrics: EventMetrics, clock: Clock) -> Self {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        let appended = Arc::new(Notify::new());
        tokio::spawn(run(pool, rx, appended.clone(), metrics, clock));
        Self { jobs, appended }
    }

    pub async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError> {
        let (reply, outcome) = oneshot::channel();
        self.jobs
            .send((request, reply))
            .await
            .map_err(|_| AppendError::Unavailable("appender stopped".into()))?;
        outcome
            .await
            .map_err(|_| AppendError::Unavailable("appender stopped".into()))?
    }

    /// Woken after every commit that recorded events (the relay listens).
    pub fn appended(&self) -> Arc<Notify> {
        self.appended.clone()
    }
}

/// Adds the requests that other tasks send while they keep coming (see
/// [`GATHER_TURNS`]) to `batch`.
async fn gather(
    rx: &mut mpsc::Receiver<(AppendRequest, Reply)>,
    batch: &mut Vec<(AppendRequest, Reply)>,
) {
    for _ in 0..GATHER_TURNS {
        tokio::task::yield_now().await;
        let before = batch.len();
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        if batch.len() == before || batch.len() >= MAX_BATCH {
            return;
        }
    }
}

async fn run(
    pool: PgPool,
    mut rx: mpsc::Receiver<(AppendRequest, Reply)>,
    appended: Arc<Notify>,
    metrics: EventMetrics,
    clock: Clock,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut loaded = false;
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        if loaded {
            gather(&mut rx, &mut batch).await;
        }
        loaded = batch.len() > 1;
        let (requests, replies): (Vec<_>, Vec<_>) = std::mem::take(&mut batch).into_iter().unzip();
        let (pool, clock) = (pool.clone(), clock.clone());
        let result = tokio::task::spawn_blocking(move || {
            let mut conn = pool
                .get()
                .map_err(|e| AppendError::Unavailable(e.to_string()))?;
            append_batch_at(&mut conn, &requests, &clock)
        })
        .await
        .unwrap_or_else(|e| Err(AppendError::Unavailable(e.to_string())));
        match result {
            Ok(outcomes) => {
                let written: usize = outcomes
                    .iter()
                    .filter_map(|o| o.as_ref().ok())
                    .map(|o| o.events().len())
                    .sum();
                metrics.events_appended.inc_by(written as u64);
                metrics.append_batches.inc();
                if written > 0 {
                    // Wakes the relay, or leaves it a permit if it is busy.
                    appended.notify_one();
                }
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, requests = replies.len(), "append transaction failed");
                for reply in replies {
                    let _ = reply.send(Err(AppendError::Unavailable(e.to_string())));
                }
            }
        }
    }
}
