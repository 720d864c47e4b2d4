//! A PostgreSQL table as an import's target. The table is described and
//! every value checked against its columns as rows are read; batches are
//! written with COPY (inserts) or by key (updates, upserts, deletes), each
//! committed together with its checkpoint marker and the rows' versions in
//! the target database, so a resumed run starts after the last batch
//! committed and writes none twice (`sluice_connectors::postgres::Writer`
//! does the writing). Several batches are under way at a time, each on a
//! target connection of its own (two by default,
//! `SLUICE_WORKER_TARGET_CONNECTIONS`): they write their rows at once and
//! commit in order. Progress is recorded as batches commit.

use super::{Flow, Reading, Target};
use crate::crash::{self, Phase};
use crate::results::Results;
use crate::runs::result_files::Pieces;
use crate::runs::source::{Batch, Header, Mapped};
use crate::runs::{retry, JobSpec, Progress, RunCtx, Stop, Totals, Written};
use sluice_connectors::journal;
use sluice_connectors::mapping::MAX_DEDUPE_KEYS;
use sluice_connectors::postgres::{self as pg, Checkpoint, PgParams, TargetError};
use sluice_schema::ids::ConnectionId;
use sluice_schema::job::BlankValues;
use std::sync::Arc;

mod flying;

use flying::Flying;

/// A table of a PostgreSQL connection, opened for a run.
pub(in crate::runs) struct TableTarget<'a> {
    ctx: RunCtx<'a>,
    params: PgParams,
    /// Connections free to write a batch with.
    free: Vec<pg::Client>,
    /// The table as described, until the writer takes it.
    table: Option<pg::Table>,
    /// The last batch committed.
    checkpoint: Checkpoint,
    totals: Totals,
    /// Set once the source's columns are known.
    writes: Option<Writes<'a>>,
    /// Why the writes stopped, if a batch failed.
    failure: Option<Stop>,
}

/// The writes under way.
struct Writes<'a> {
    writer: Arc<pg::Writer>,
    lookups: pg::Lookups,
    journal: Arc<journal::Columns>,
    results: Arc<Results>,
    progress: Progress<'a>,
    flying: Flying,
    /// When the batch before the next one commits.
    previous: Option<tokio::sync::oneshot::Receiver<Checkpoint>>,
}

impl<'a> TableTarget<'a> {
    /// Connects to the run's target database (connection `id`).
    pub(in crate::runs) async fn open(ctx: RunCtx<'a>, id: ConnectionId) -> Result<Self, Stop> {
        let params = ctx.handler.connection(ctx.account, id, "target").await?;
        let client = pg::connect(&params).await?;
        Ok(Self {
            ctx,
            params,
            free: vec![client],
            table: None,
            checkpoint: Checkpoint::default(),
            totals: Totals::default(),
            writes: None,
            failure: None,
        })
    }

    fn writes(&mut self) -> Result<&mut Writes<'a>, Stop> {
        self.writes
            .as_mut()
            .ok_or_else(|| Stop::Retry("the writes were not prepared".into()))
    }

    /// Batch `index` committed with checkpoint `next`.
    async fn landed(
        &mut self,
        index: i64,
        next: Checkpoint,
        written: &mut Written,
    ) -> Result<(), Stop> {
        written.batches = index;
        self.checkpoint = next;
        self.totals.ok = next.rows_ok;
        self.totals.failed = next.rows_failed;
        written.totals = self.totals;
        crash::at(Phase::BatchCommitted);
        let totals = self.totals;
        self.writes()?.progress.record(index, totals).await
    }

    /// A free connection: the oldest batch under way lands first if there
    /// is none. Lookups wait for every batch before them to commit, so
    /// that they find the rows the run has written. None once a batch
    /// failed.
    async fn free_client(&mut self, written: &mut Written) -> Result<Option<pg::Client>, Stop> {
        loop {
            let writes = self.writes()?;
            let wait = !writes.lookups.is_empty() && !writes.flying.is_empty();
            if !wait {
                if let Some(client) = self.free.pop() {
                    return Ok(Some(client));
                }
            }
            let writes = self.writes.as_mut().ok_or_else(|| retry("no writes"))?;
            let landing = writes.flying.land(&mut self.free).await;
            match landing {
                Some((index, Ok(next))) => self.landed(index, next, written).await?,
                Some((_, Err(stop))) => {
                    self.failure = Some(stop);
                    return Ok(None);
                }
                None => {
                    self.failure = Some(Stop::Retry("no connection to write with".into()));
                    return Ok(None);
                }
            }
        }
    }
}

impl Target for TableTarget<'_> {
    async fn check(&mut self, job: &JobSpec) -> Result<Reading, Stop> {
        let client = self.free.first().ok_or_else(|| retry("no connection"))?;
        let table = pg::describe(client, &job.object).await?;
        self.checkpoint = pg::last_checkpoint(client, &table, self.ctx.run.0).await?;
        let key_positions: Vec<usize> = job
            .key_fields
            .iter()
            .filter_map(|k| job.mapping.iter().position(|m| &m.target == k))
            .collect();
        let looked_up: Vec<usize> = sluice_connectors::mapping::lookups(&job.mapping)
            .iter()
            .map(|(at, _)| *at)
            .collect();
        let mapped = Mapped {
            copy_text: job.operation == pg::Operation::Insert && looked_up.is_empty(),
            mapping: job.mapping.clone(),
            filter: job.filter.clone(),
            context: job.context,
            dedupe: job.dedupe.clone(),
            dedupe_cap: MAX_DEDUPE_KEYS,
            columns: table.columns.clone(),
            key_positions,
            looked_up,
            batch_bytes: usize::MAX,
            row_limit: None,
            selection: Default::default(),
        };
        self.table = Some(table);
        Ok(Reading {
            mapped,
            batch_rows: self.ctx.handler.batch_rows.max(1),
        })
    }

    fn resume_point(&self) -> Checkpoint {
        self.checkpoint
    }

    async fn prepare(
        &mut self,
        job: JobSpec,
        (targets, _): Header,
        results: Arc<Results>,
        written: &mut Written,
    ) -> Result<(), Stop> {
        let table = self.table.take().ok_or_else(|| retry("no table"))?;
        let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
        let writer = Arc::new(
            pg::Writer::new(table, job.operation, &targets, &job.key_fields)?
                .leaving_blanks(job.blank_values == BlankValues::Leave),
        );
        let client = self.free.first().ok_or_else(|| retry("no connection"))?;
        let lookups = sluice_connectors::mapping::lookups(&job.mapping);
        let lookups = pg::Lookups::prepare(client, lookups, writer.table(), &targets).await?;
        let journal = Arc::new(journal::Columns {
            key: writer.journal_key().to_vec(),
            set: targets
                .iter()
                .filter(|t| !job.key_fields.iter().any(|k| k == *t))
                .map(|t| (*t).to_owned())
                .collect(),
        });
        written.results = Some(results.clone());
        written.batches = self.checkpoint.batch;
        self.totals = Totals {
            read: 0,
            ok: self.checkpoint.rows_ok,
            failed: self.checkpoint.rows_failed,
            skipped: 0,
        };
        let ctx = self.ctx;
        self.writes = Some(Writes {
            writer,
            lookups,
            journal,
            results,
            progress: Progress::new(ctx.handler, ctx.cause, ctx.account, ctx.run),
            flying: Flying::default(),
            previous: None,
        });
        // As many batches are under way at a time as the run has
        // connections, each on its own.
        while self.free.len() < self.ctx.handler.target_connections {
            let another = pg::connect(&self.params).await?;
            self.free.push(another);
        }
        Ok(())
    }

    fn count(&mut self, rows: i64, skipped: i64, _: &mut Written) {
        self.totals.read += rows;
        self.totals.skipped += skipped;
    }

    async fn write(&mut self, mut batch: Batch, written: &mut Written) -> Result<Flow, Stop> {
        let Some(mut client) = self.free_client(written).await? else {
            return Ok(Flow::Halt);
        };
        let checkpoint = self.checkpoint;
        let run = self.ctx.run;
        let writes = self.writes.as_mut().ok_or_else(|| retry("no writes"))?;
        let mut inserts = std::mem::take(&mut batch.inserts);
        let copy_text = batch.copy.take();
        if !writes.lookups.is_empty() {
            match writes.lookups.resolve(&client, &mut inserts).await {
                Ok(unresolved) => batch.refused.extend(unresolved),
                Err(e) => {
                    self.failure = Some(e.into());
                    self.free.push(client);
                    return Ok(Flow::Halt);
                }
            }
        }
        let refused = batch.refused.len() as i64;
        // The batch's result pieces and journal are written on a
        // blocking thread while the batch is written to the target.
        let pieces = Arc::new(Pieces {
            index: batch.index,
            raw: std::mem::take(&mut batch.raw),
            skipped: std::mem::take(&mut batch.skipped),
            refused: std::mem::take(&mut batch.refused),
            results: writes.results.clone(),
            journal: writes.journal.clone(),
        });
        let after: pg::After = match writes.previous.take() {
            Some(before) => Box::pin(async move {
                before
                    .await
                    .map_err(|_| TargetError::Aborted("the batch before it was not written".into()))
            }),
            None => pg::after(checkpoint),
        };
        let (commits, next) = tokio::sync::oneshot::channel();
        writes.previous = Some(next);
        let writer = writes.writer.clone();
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
        writes.flying.push(batch.index, task);
        Ok(Flow::Go)
    }

    async fn finish(
        &mut self,
        failure: Option<Stop>,
        written: &mut Written,
    ) -> Result<Totals, Stop> {
        let mut failure = failure.or(self.failure.take());
        // Every batch under way lands (after a failure, those after it fail
        // without committing).
        loop {
            let writes = self.writes.as_mut().ok_or_else(|| retry("no writes"))?;
            let Some((index, outcome)) = writes.flying.land(&mut self.free).await else {
                break;
            };
            match outcome {
                Ok(next) => self.landed(index, next, written).await?,
                Err(stop) => {
                    failure.get_or_insert(stop);
                }
            }
        }
        let writes = self.writes.take().ok_or_else(|| retry("no writes"))?;
        writes.progress.finish().await?;
        // What was written is made durable, whatever happens next.
        if self.checkpoint.batch > 0 {
            if let Some(client) = self.free.first() {
                let flushed = pg::flush(
                    client,
                    writes.writer.table(),
                    self.ctx.run.0,
                    self.checkpoint,
                )
                .await;
                if failure.is_none() {
                    flushed?;
                }
            }
        }
        if let Some(stop) = failure {
            return Err(stop);
        }
        Ok(self.totals)
    }

    async fn close(self, outcome: Result<Totals, Stop>, _: &mut Written) -> Result<Totals, Stop> {
        outcome
    }
}
