//! Undoing a run on a PostgreSQL table: each journal batch in one target
//! transaction with the rollback's checkpoint marker. The conflict rule (a
//! row is undone only while every column the run wrote still holds what
//! the run wrote there, unless the rollback is forced) is SQL, kept with
//! the statements it guards: `sluice_connectors::postgres::undo`
//! (`Undo::unchanged`, `why_changed`), described in
//! `sluice_connectors::postgres::revert`.

use super::{write_undone, Revert, Stop};
use crate::crash::{self, Phase};
use crate::results::Results;
use crate::runs::{retry, JobSpec, Progress, RunCtx, Totals, Written};
use sluice_connectors::journal::{Change, Columns};
use sluice_connectors::postgres::{self as pg, Checkpoint};
use sluice_schema::ids::RunId;
use std::sync::Arc;

/// The job's table, opened for a rollback.
pub(super) struct TableRevert<'a> {
    ctx: RunCtx<'a>,
    client: pg::Client,
    object: String,
    force: bool,
    /// The table as described (once planned).
    table: Option<pg::Table>,
    /// Row versions this rollback's own writes left.
    own: Vec<String>,
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
            client,
            object: job.object.clone(),
            force,
            table: None,
            own: Vec::new(),
            progress: Progress::new(ctx.handler, ctx.cause, ctx.account, ctx.run),
        })
    }

    fn table(&self) -> Result<&pg::Table, Stop> {
        self.table
            .as_ref()
            .ok_or_else(|| retry("the table is not described"))
    }
}

impl Revert for TableRevert<'_> {
    async fn plan(&mut self, undone: RunId) -> Result<(Checkpoint, i64), Stop> {
        let table = pg::describe(&self.client, &self.object).await?;
        let checkpoint = pg::last_checkpoint(&self.client, &table, self.ctx.run.0).await?;
        let batches = pg::last_checkpoint(&self.client, &table, undone.0)
            .await?
            .batch;
        self.own = pg::own_versions(&self.client, &table, self.ctx.run.0).await?;
        self.table = Some(table);
        Ok((checkpoint, batches))
    }

    async fn undo(
        &mut self,
        step: i64,
        (columns, changes): (Columns, Vec<Change>),
        results: &Arc<Results>,
        checkpoint: Checkpoint,
    ) -> Result<(i64, i64), Stop> {
        let table = self.table.as_ref().ok_or_else(|| retry("no table"))?;
        let undo = pg::Undo {
            table,
            key_columns: &columns.key,
            written: &columns.set,
            force: self.force,
            own_versions: &self.own,
        };
        let reverted = pg::revert_batch(
            &mut self.client,
            &undo,
            changes,
            self.ctx.run.0,
            checkpoint,
            |done| write_undone(results, step, &done.ok, &done.failed, "key"),
        )
        .await?;
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
            pg::flush(&self.client, self.table()?, self.ctx.run.0, checkpoint).await?;
        }
        Ok(())
    }

    async fn close(self, outcome: Result<Totals, Stop>, _: &mut Written) -> Result<Totals, Stop> {
        outcome
    }
}
