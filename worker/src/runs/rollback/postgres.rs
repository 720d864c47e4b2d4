//! Undoing a run on a PostgreSQL table: each journal batch in one target
//! transaction with the rollback's checkpoint marker. The conflict rule (a
//! row is undone only while every column the run wrote still holds what
//! the run wrote there, unless the rollback is forced) is SQL, kept with
//! the statements it guards: `sluice_connectors::postgres::undo`
//! (`Undo::unchanged`, `why_changed`), described in
//! `sluice_connectors::postgres::revert`.
//!
//! Like an import's batches, several steps are under way at a time, each
//! on a target connection of its own (`SLUICE_WORKER_TARGET_CONNECTIONS`):
//! they undo their rows at once and commit in order, each marking its
//! checkpoint once the step before it has committed. Only steps that
//! delete rows the run created are under way together, in a table whose
//! deletes reach no other rows (no foreign key refers to it, no triggers
//! or rules), and never two with a row in common (see `undo_all`): so no
//! older step can wait on a row a newer one holds while the newer one
//! waits for it to commit. Other steps are under way alone.

use super::{write_undone, Revert, Stop};
use crate::crash::{self, Phase};
use crate::results::Results;
use crate::runs::{retry, JobSpec, Progress, RunCtx, Totals, Written};
use sluice_connectors::journal::{Action, Change, Columns};
use sluice_connectors::postgres::{self as pg, Checkpoint, PgParams, TargetError};
use sluice_schema::ids::RunId;
use std::collections::VecDeque;
use std::sync::Arc;

/// A step under way: its connection comes back with what it undid.
type Landing = (pg::Client, Result<pg::Reverted, TargetError>);

/// The job's table, opened for a rollback.
pub(super) struct TableRevert<'a> {
    ctx: RunCtx<'a>,
    params: PgParams,
    /// Connections free to undo a step with.
    free: Vec<pg::Client>,
    object: String,
    force: bool,
    /// The table as described (once planned).
    table: Option<Arc<pg::Table>>,
    /// Row versions this rollback's own writes left.
    own: Vec<String>,
    /// Whether deleting a created row may wait on other rows than its own
    /// (see `pg::deletes_reach_beyond`): then each step is under way alone.
    reaching: bool,
    /// The steps under way, oldest first.
    flying: VecDeque<tokio::task::JoinHandle<Landing>>,
    /// The checkpoint the first step follows.
    start: Checkpoint,
    /// When the step before the next one commits.
    previous: Option<tokio::sync::oneshot::Receiver<Checkpoint>>,
    progress: Progress<'a>,
}

impl<'a> TableRevert<'a> {
    /// Connects to the job's target database.
    pub(super) async fn open(ctx: RunCtx<'a>, job: &JobSpec, force: bool) -> Result<Self, Stop> {
        let params = ctx
            .handler
            .connection(ctx.account, job.connection, "target")
            .await?;
        let client = pg::connect(&params).await?;
        Ok(Self {
            ctx,
            params,
            free: vec![client],
            object: job.object.clone(),
            force,
            table: None,
            own: Vec::new(),
            reaching: true,
            flying: VecDeque::new(),
            start: Checkpoint::default(),
            previous: None,
            progress: Progress::new(ctx.handler, ctx.cause, ctx.account, ctx.run),
        })
    }

    fn client(&self) -> Result<&pg::Client, Stop> {
        self.free.first().ok_or_else(|| retry("no connection"))
    }
}

impl Revert for TableRevert<'_> {
    async fn plan(&mut self, undone: RunId) -> Result<(Checkpoint, i64), Stop> {
        let client = self.client()?;
        let table = pg::describe(client, &self.object).await?;
        let checkpoint = pg::last_checkpoint(client, &table, self.ctx.run.0).await?;
        let batches = pg::last_checkpoint(client, &table, undone.0).await?.batch;
        let own = pg::own_versions(client, &table, self.ctx.run.0).await?;
        let reaching = pg::deletes_reach_beyond(client, &table).await?;
        self.own = own;
        self.reaching = reaching;
        self.table = Some(Arc::new(table));
        // One step under way on each connection, when steps can be.
        let wanted = if self.reaching {
            1
        } else {
            self.steps_at_once()
                .min(usize::try_from(batches).unwrap_or(1))
        };
        while self.free.len() < wanted {
            let another = pg::connect(&self.params).await?;
            self.free.push(another);
        }
        Ok((checkpoint, batches))
    }

    fn start(&mut self, checkpoint: Checkpoint, _: &mut Written) {
        self.start = checkpoint;
    }

    fn steps_at_once(&self) -> usize {
        self.ctx.handler.target_connections.max(1)
    }

    /// Steps that only delete rows the run created, in a table whose
    /// deletes reach no other rows: an update or a reinsert can wait on a
    /// unique value or a foreign key a newer step holds.
    fn alongside(&self, changes: &[Change]) -> bool {
        !self.reaching && changes.iter().all(|c| c.action == Action::Created)
    }

    async fn undo(
        &mut self,
        step: i64,
        (columns, changes): (Columns, Vec<Change>),
        results: &Arc<Results>,
    ) -> Result<(), Stop> {
        let table = self.table.clone().ok_or_else(|| retry("no table"))?;
        let mut client = self
            .free
            .pop()
            .ok_or_else(|| retry("no connection to undo a step with"))?;
        let after: pg::After = match self.previous.take() {
            Some(before) => Box::pin(async move {
                before
                    .await
                    .map_err(|_| TargetError::Aborted("the step before it was not undone".into()))
            }),
            None => pg::after(self.start),
        };
        let (commits, next) = tokio::sync::oneshot::channel();
        self.previous = Some(next);
        let force = self.force;
        let own = self.own.clone();
        let run = self.ctx.run.0;
        let results = results.clone();
        let task = tokio::spawn(async move {
            let undo = pg::Undo {
                table: &table,
                key_columns: &columns.key,
                written: &columns.set,
                force,
                own_versions: &own,
            };
            let outcome = pg::revert_batch(&mut client, &undo, changes, run, after, |done| {
                write_undone(&results, step, &done.ok, &done.failed, "key")
            })
            .await
            .map(|(reverted, next)| {
                let _ = commits.send(next);
                reverted
            });
            (client, outcome)
        });
        self.flying.push_back(task);
        Ok(())
    }

    async fn land(&mut self) -> Result<(i64, i64), Stop> {
        let task = self
            .flying
            .pop_front()
            .ok_or_else(|| retry("no step is under way"))?;
        let (client, outcome) = task.await.map_err(retry)?;
        self.free.push(client);
        let reverted = outcome?;
        self.own.extend(reverted.versions);
        self.own.sort_unstable();
        self.own.dedup();
        Ok((reverted.ok.len() as i64, reverted.failed.len() as i64))
    }

    async fn committed(&mut self, step: i64, totals: Totals) -> Result<(), Stop> {
        crash::at(Phase::BatchCommitted);
        self.progress.record(step, totals).await
    }

    async fn finish(&mut self, checkpoint: Checkpoint) -> Result<(), Stop> {
        self.progress.wait().await?;
        if checkpoint.batch > 0 {
            let table = self.table.clone().ok_or_else(|| retry("no table"))?;
            pg::flush(self.client()?, &table, self.ctx.run.0, checkpoint).await?;
        }
        Ok(())
    }

    async fn close(
        mut self,
        outcome: Result<Totals, Stop>,
        _: &mut Written,
    ) -> Result<Totals, Stop> {
        // Steps still under way after a failure end (those after it without
        // committing) before the rollback says how it went.
        while let Some(task) = self.flying.pop_front() {
            let _ = task.await;
        }
        outcome
    }
}
