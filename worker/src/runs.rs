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

use crate::crash::{self, Phase};
use crate::results::{Note, Outcome, Results, SourceRows};
use futures_util::future::BoxFuture;
use sluice_connectors::postgres::{self as pg, Checkpoint, PgParams, TargetError};
use sluice_events::consumer::{HandlerError, Incoming};
use sluice_events::{Platform, RecordedEvent};
use sluice_schema::ids::{AccountId, ConnectionId, JobId, RunId};
use sluice_schema::repo::connections;
use sluice_vault::{owner, FileStore, Sealed, SharedKeyring};
use std::sync::Arc;

mod allowance;
mod ending;
mod job;
mod lock;
mod org_tokens;
mod progress;
mod result_files;
mod rollback;
mod salesforce;
mod sealed;
mod source;

use job::{command, JobSpec};
pub use lock::lock_key;
use progress::Progress;
use source::{read_batches, Batch, Header, Input, Mapped};

pub const CONSUMER: &str = "imports";

pub struct RunHandler {
    pub platform: Platform,
    pub keyring: Arc<SharedKeyring>,
    pub store: FileStore,
    pub worker: String,
    /// Rows per batch (and per target transaction).
    pub batch_rows: usize,
    /// How long result files are kept.
    pub result_ttl: chrono::Duration,
    /// How runs reach Salesforce (none: runs to an org fail, saying so).
    pub salesforce: Option<crate::SalesforceApp>,
    pub http: reqwest::Client,
    /// Whether plans' limits apply (the deployment bills through Stripe).
    pub plan_limits: bool,
    /// Runs this worker works at once. Each holds up to three database
    /// connections (its lock, two to the target); the deliveries beyond
    /// wait here, holding none.
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

#[derive(Default, Clone, Copy)]
struct Totals {
    read: i64,
    ok: i64,
    failed: i64,
}

/// A batch on its way to the target: its connection comes back with the
/// outcome.
type Landing = (pg::Client, Result<Checkpoint, TargetError>);

/// The batches under way, oldest first.
#[derive(Default)]
struct Flying(std::collections::VecDeque<(i64, tokio::task::JoinHandle<Landing>)>);

impl Flying {
    fn push(&mut self, index: i64, task: tokio::task::JoinHandle<Landing>) {
        self.0.push_back((index, task));
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Waits for the oldest batch: its index and its checkpoint, or why it
    /// failed; its connection goes back to `free`.
    async fn land(
        &mut self,
        free: &mut Vec<pg::Client>,
    ) -> Option<(i64, Result<Checkpoint, Stop>)> {
        let (index, task) = self.0.pop_front()?;
        Some(match task.await {
            Ok((client, outcome)) => {
                free.push(client);
                (index, outcome.map_err(Stop::from))
            }
            Err(e) => (index, Err(retry(e))),
        })
    }
}

/// What a batch's result pieces and journal are written from.
struct Pieces {
    index: i64,
    /// The rows as read.
    raw: SourceRows,
    /// The rows refused before the write.
    refused: Vec<(u64, String)>,
    results: Arc<Results>,
    journal: Arc<sluice_connectors::journal::Columns>,
}

impl Pieces {
    /// Writes the batch's pieces of success.csv and errors.csv, and its
    /// journal, for what the target is about to commit.
    fn write(&self, done: &pg::Written) -> Result<(), String> {
        let success: Vec<Outcome> = done
            .ok
            .iter()
            .map(|change| Outcome {
                number: change.number,
                note: Note::Key(&change.key),
                status: change.action.as_str(),
                fields: self.raw.get(change.number),
            })
            .collect();
        let mut errors: Vec<Outcome> = self
            .refused
            .iter()
            .chain(done.failed.iter())
            .map(|(number, reason)| Outcome {
                number: *number,
                note: Note::Text(reason),
                status: "",
                fields: self.raw.get(*number),
            })
            .collect();
        errors.sort_by_key(|o| o.number);
        self.results
            .write_part(self.index, &success, &errors)
            .and_then(|()| {
                self.results
                    .write_changes(self.index, &self.journal, &done.ok)
            })
            .map_err(|e| format!("result files: {e}"))
    }
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

    async fn execute(
        &self,
        cause: &RecordedEvent,
        run: RunId,
        written: &mut Written,
    ) -> Result<Totals, Stop> {
        let (account, requested) = command(cause)?;
        let spec = self.job(account, JobId(requested.job_id)).await?;
        let input = self.input(account, &spec.source).await?;
        if self.target_kind(account, spec.connection).await? == "salesforce" {
            return self
                .to_salesforce(cause, run, written, account, spec, input)
                .await;
        }
        let JobSpec {
            source: _,
            mapping,
            operation,
            key_fields,
            object,
            connection,
        } = spec;
        let key_positions: Vec<usize> = key_fields
            .iter()
            .filter_map(|k| mapping.iter().position(|m| &m.target == k))
            .collect();
        let lookups = sluice_connectors::mapping::lookups(&mapping);
        let looked_up: Vec<usize> = lookups.iter().map(|(at, _)| *at).collect();
        let params = self.connection(account, connection, "target").await?;
        let client = pg::connect(&params).await?;
        let table = pg::describe(&client, &object).await?;
        let mut checkpoint = pg::last_checkpoint(&client, &table, run.0).await?;
        let key = self.result_key(account, run).await?;
        let row_limit = self.allowance(account, run).await?;

        self.started(cause, run, account, checkpoint).await?;

        // Rows are read, mapped and checked on a blocking thread, a couple
        // of batches ahead of the writes.
        let (batches, mut inbox) = tokio::sync::mpsc::channel::<Result<Batch, String>>(2);
        let batch_rows = self.batch_rows.max(1);
        let columns = table.columns.clone();
        let (header_tx, header_rx) = tokio::sync::oneshot::channel::<Result<Header, String>>();
        let reading = tokio::task::spawn_blocking(move || {
            read_batches(
                input,
                Mapped {
                    copy_text: operation == pg::Operation::Insert && looked_up.is_empty(),
                    mapping,
                    columns,
                    key_positions,
                    looked_up,
                    batch_bytes: usize::MAX,
                    row_limit,
                },
                batch_rows,
                header_tx,
                batches,
            )
        });
        let (targets, source_header) = match header_rx.await {
            Ok(Ok(header)) => header,
            Ok(Err(reason)) => return Err(Stop::Fail(reason)),
            Err(_) => return Err(Stop::Fail("the source could not be read".into())),
        };
        let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
        let writer = Arc::new(pg::Writer::new(table, operation, &targets, &key_fields)?);
        let table = writer.table();
        let lookups = pg::Lookups::prepare(&client, lookups, table, &targets).await?;
        let journal = Arc::new(sluice_connectors::journal::Columns {
            key: writer.journal_key().to_vec(),
            set: targets
                .iter()
                .filter(|t| !key_fields.iter().any(|k| k == *t))
                .map(|t| (*t).to_owned())
                .collect(),
        });
        let results = self.results(key, account, run, source_header);
        written.results = Some(results.clone());
        written.batches = checkpoint.batch;

        let mut totals = Totals {
            read: 0,
            ok: checkpoint.rows_ok,
            failed: checkpoint.rows_failed,
        };
        let resumed_after = checkpoint.batch;
        let mut progress = Progress::new(self, cause, account, run);
        // Two batches are under way at a time, each on a connection of its
        // own: one writes its rows while the one before it commits. They
        // commit in order, so the last checkpoint still says where to resume.
        let second = pg::connect(&params).await?;
        let mut free = vec![client, second];
        let mut flying = Flying::default();
        let mut previous: Option<tokio::sync::oneshot::Receiver<Checkpoint>> = None;
        let mut failure: Option<Stop> = None;
        let mut landed =
            |index: i64, next: Checkpoint, checkpoint: &mut Checkpoint, totals: &mut Totals| {
                written.batches = index;
                *checkpoint = next;
                totals.ok = next.rows_ok;
                totals.failed = next.rows_failed;
                written.totals = *totals;
                crash::at(Phase::BatchCommitted);
            };
        'batches: while let Some(batch) = inbox.recv().await {
            let mut batch = match batch {
                Ok(batch) => batch,
                Err(reason) => {
                    failure = Some(Stop::Fail(reason));
                    break;
                }
            };
            totals.read += batch.read;
            if batch.index <= resumed_after {
                continue;
            }
            // A free connection: the oldest batch under way lands first if
            // there is none. Lookups wait for every batch before them to
            // commit, so that they find the rows the run has written.
            let mut client = loop {
                let wait = !lookups.is_empty() && !flying.is_empty();
                if !wait {
                    if let Some(client) = free.pop() {
                        break client;
                    }
                }
                match flying.land(&mut free).await {
                    Some((index, Ok(next))) => {
                        landed(index, next, &mut checkpoint, &mut totals);
                        progress.record(index, totals).await?;
                    }
                    Some((_, Err(stop))) => {
                        failure = Some(stop);
                        break 'batches;
                    }
                    None => {
                        failure = Some(Stop::Retry("no connection to write with".into()));
                        break 'batches;
                    }
                }
            };
            let mut inserts = std::mem::take(&mut batch.inserts);
            let copy_text = batch.copy.take();
            if !lookups.is_empty() {
                match lookups.resolve(&client, &mut inserts).await {
                    Ok(unresolved) => batch.refused.extend(unresolved),
                    Err(e) => {
                        failure = Some(e.into());
                        free.push(client);
                        break;
                    }
                }
            }
            let refused = batch.refused.len() as i64;
            // The batch's result pieces and journal are written on a
            // blocking thread while the batch is written to the target.
            let pieces = Arc::new(Pieces {
                index: batch.index,
                raw: std::mem::take(&mut batch.raw),
                refused: std::mem::take(&mut batch.refused),
                results: results.clone(),
                journal: journal.clone(),
            });
            let after: pg::After = match previous.take() {
                Some(before) => Box::pin(async move {
                    before.await.map_err(|_| {
                        TargetError::Aborted("the batch before it was not written".into())
                    })
                }),
                None => pg::after(checkpoint),
            };
            let (commits, next) = tokio::sync::oneshot::channel();
            previous = Some(next);
            let writer = writer.clone();
            let task = tokio::spawn(async move {
                let outcome = writer
                    .write(
                        &mut client,
                        inserts,
                        copy_text,
                        refused,
                        run.0,
                        after,
                        move |done| {
                            let pieces = pieces.clone();
                            async move {
                                tokio::task::spawn_blocking(move || pieces.write(&done))
                                    .await
                                    .map_err(|e| e.to_string())?
                            }
                        },
                    )
                    .await
                    .map(|(_, next)| next);
                if let Ok(next) = &outcome {
                    let _ = commits.send(*next);
                }
                (client, outcome)
            });
            flying.push(batch.index, task);
        }
        // Every batch under way lands (after a failure, those after it fail
        // without committing).
        while let Some((index, outcome)) = flying.land(&mut free).await {
            match outcome {
                Ok(next) => {
                    landed(index, next, &mut checkpoint, &mut totals);
                    progress.record(index, totals).await?;
                }
                Err(stop) => {
                    failure.get_or_insert(stop);
                }
            }
        }
        progress.finish().await?;
        // What was written is made durable, whatever happens next.
        if checkpoint.batch > 0 {
            if let Some(client) = free.first() {
                let flushed = pg::flush(client, writer.table(), run.0, checkpoint).await;
                if failure.is_none() {
                    flushed?;
                }
            }
        }
        if let Some(stop) = failure {
            return Err(stop);
        }
        reading.await.map_err(retry)?;
        Ok(totals)
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
        if row.kind != "postgres" {
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
