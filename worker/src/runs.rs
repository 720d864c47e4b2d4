//! Runs of import jobs. A `run.requested` command is taken from the imports
//! queue; the run reads its source (an upload, decrypted as it streams, or
//! a query), maps each row, checks it against the target table, and writes
//! batches (inserts with COPY; updates, upserts and deletes by key), each
//! committed together with its checkpoint marker in the target database.
//! Two batches are under way at a time, on two target connections, and
//! they commit in order. Progress is recorded as batches commit
//! (`run.progressed`), the end with the processed marker
//! (`run.finished.v2`, why a run failed sealed under the subject key).
//! A rollback is a run too (see `rollback`).
//!
//! A worker that dies mid-run leaves its delivery unacknowledged; RabbitMQ
//! gives it to another worker, which reads the target's last checkpoint
//! and resumes after it: no batch is written twice. The end of a run is
//! as safe to repeat (see `results`): its result files are joined, then
//! recorded whole with the run's end, then their pieces are deleted, then
//! `run.finished` is appended; a worker that takes over after the record
//! finishes the run as recorded.
//!
//! One worker at a time works on a run: it holds a PostgreSQL advisory lock
//! on the run for as long as it works. RabbitMQ takes back a delivery left
//! unacknowledged past its consumer timeout (30 minutes by default) and
//! gives it to another worker; that worker waits for the lock, and either
//! finds the run finished (and lets the delivery go) or, if the first worker
//! died, resumes it from the checkpoint.
//!
//! A run fails as a whole, with a message, when its upload has expired, its
//! job or connection is gone, or the target cannot be reached or does not
//! fit the mapping; rows that do not fit fail one by one and the run goes
//! on.
//!
//! Where each part lives:
//! - `import`: an import, from a [`source::Source`] to a
//!   [`target::Target`], knowing neither; `rollback`: a rollback, undoing
//!   a journal through a `Revert` per target (each holding its target's
//!   conflict rule);
//! - `source` (`upload`, `query`, `batches`) and `target` (`postgres`,
//!   `salesforce`);
//! - `ending` (the end of a run and its crash points), `status` (how a
//!   run ends, from its totals), `lock`, `job`, `progress`, `allowance`
//!   (the plan's row limit), `result_files`, `sealed` (what the customer
//!   typed, opened; why a run failed, sealed), `org_tokens`.
//!
//! How a CSV row becomes a PostgreSQL row: `source/upload.rs`,
//! `source/batches.rs`, `target/postgres.rs` (see `import`).

use crate::results::Results;
use futures_util::future::BoxFuture;
use sluice_connectors::postgres::{PgParams, TargetError};
use sluice_events::consumer::{HandlerError, Incoming};
use sluice_events::{Platform, RecordedEvent};
use sluice_schema::ids::{AccountId, ConnectionId, RunId};
use sluice_schema::kinds::ConnectionKind;
use sluice_schema::repo::connections;
use sluice_vault::{owner, FileStore, Sealed, SharedKeyring};
use std::sync::Arc;

mod allowance;
mod ending;
mod import;
mod job;
mod lock;
mod org_tokens;
mod progress;
mod result_files;
mod rollback;
mod sealed;
mod source;
mod status;
mod target;

use job::{command, JobSpec};
pub use lock::lock_key;
use progress::Progress;

pub const CONSUMER: &str = "imports";

pub struct RunHandler {
    pub platform: Platform,
    pub keyring: Arc<SharedKeyring>,
    pub store: FileStore,
    pub worker: String,
    /// Rows per batch (and per target transaction).
    pub batch_rows: usize,
    /// Connections a run to a PostgreSQL table writes with (1 to
    /// [`crate::MAX_TARGET_CONNECTIONS`]).
    pub target_connections: usize,
    /// How long result files are kept.
    pub result_ttl: chrono::Duration,
    /// How runs reach Salesforce (none: runs to an org fail, saying so).
    pub salesforce: Option<crate::SalesforceApp>,
    pub http: reqwest::Client,
    /// Whether plans' limits apply (the deployment bills through Stripe).
    pub plan_limits: bool,
    /// Runs this worker works at once. Each holds up to three database
    /// connections of Sluice's own and `target_connections` to its target;
    /// the deliveries beyond wait here, holding none.
    pub slots: Arc<tokio::sync::Semaphore>,
}

/// What a run has written so far, for its result files.
#[derive(Default)]
struct Written {
    results: Option<Arc<Results>>,
    /// The last batch committed.
    batches: i64,
    /// The counts so far (what a run that stops part-way reports).
    totals: Totals,
    /// Calls made to the target's API (Salesforce).
    api_calls: Option<i64>,
}

/// Why a run stopped early.
enum Stop {
    /// The run cannot succeed: it ends as failed with this message.
    Fail(String),
    /// Sluice's own database or log failed: try the delivery again.
    Retry(String),
}

impl From<TargetError> for Stop {
    fn from(e: TargetError) -> Self {
        match e {
            TargetError::Connect(reason) => {
                Stop::Fail(format!("the target database cannot be reached: {reason}"))
            }
            TargetError::Invalid(reason) => Stop::Fail(reason),
            TargetError::Database(reason) => {
                Stop::Fail(format!("the target database failed: {reason}"))
            }
            // Writing the result files failed here; the batch was not committed.
            TargetError::Aborted(reason) => Stop::Retry(reason),
        }
    }
}

fn retry(e: impl std::fmt::Display) -> Stop {
    Stop::Retry(e.to_string())
}

/// The delivery is tried again.
fn again(stop: Stop) -> HandlerError {
    match stop {
        Stop::Retry(reason) | Stop::Fail(reason) => HandlerError::Retry(reason),
    }
}

/// A run being worked, and what each of its steps needs of it.
#[derive(Clone, Copy)]
struct RunCtx<'a> {
    handler: &'a RunHandler,
    cause: &'a RecordedEvent,
    account: AccountId,
    run: RunId,
}

#[derive(Default, Clone, Copy)]
struct Totals {
    read: i64,
    ok: i64,
    failed: i64,
    /// Rows the job's filter set aside (among those read).
    skipped: i64,
}

impl RunHandler {
    pub fn handle(
        self: Arc<Self>,
        incoming: Incoming,
    ) -> BoxFuture<'static, Result<(), HandlerError>> {
        Box::pin(async move {
            let _slot = self
                .slots
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| HandlerError::Retry(e.to_string()))?;
            let cause = incoming.event;
            let run = RunId(cause.stream_id);
            // Held until this handler ends; dropping it ends the session and
            // with it the lock.
            let _lock = match self.lock(run).await {
                Ok(Some(lock)) => lock,
                Ok(None) => return Ok(()),
                Err(stop) => return Err(again(stop)),
            };
            // A worker killed after the run's files were whole left the
            // record of how the run ends: it ends so, without a second look.
            let ending = match self.ended(&cause, run).await.map_err(again)? {
                Some(ending) => ending,
                None => self.end(&cause, run).await.map_err(again)?,
            };
            self.finish(&cause, run, ending).await.map_err(again)
        })
    }

    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut diesel::PgConnection) -> diesel::QueryResult<T> + Send + 'static,
    ) -> Result<T, Stop> {
        let pool = self.platform.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(retry)?;
            f(&mut conn).map_err(retry)
        })
        .await
        .map_err(retry)?
    }

    /// A PostgreSQL connection's settings and password; `role` (source or
    /// target) names it in messages.
    async fn connection(
        &self,
        account: AccountId,
        id: ConnectionId,
        role: &str,
    ) -> Result<PgParams, Stop> {
        let row = self
            .opened_connection(account, id)
            .await?
            .ok_or_else(|| Stop::Fail(format!("the {role} connection was disconnected")))?;
        if row.kind != ConnectionKind::Postgres {
            return Err(Stop::Fail(format!(
                "the {role} connection is not a PostgreSQL database"
            )));
        }
        let sealed = self
            .db(move |c| connections::secret(c, account, id))
            .await?
            .ok_or_else(|| Stop::Fail(format!("the {role} connection's secret is gone")))?;
        let sealed = Sealed(sealed);
        let password = self
            .keyring
            .with(|k| k.open(&sealed, &owner::connection_secret(account, id)))
            .map_err(|e| Stop::Retry(format!("connection secret: {e}")))?;
        let password = zeroize::Zeroizing::new(String::from_utf8_lossy(&password).into_owned());
        Ok(PgParams::from_json(&row.params, password))
    }
}
