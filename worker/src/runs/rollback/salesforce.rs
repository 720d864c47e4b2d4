//! Rollbacks of runs to a Salesforce org, newest batch first: records the
//! run created are deleted, records it updated get their before-images
//! back (but for the fields an update cannot set, see `restore.rs`),
//! records it deleted come back out of the recycle bin (SOAP
//! `undelete()`); `undo.rs` undoes one batch. A record changed by someone
//! since the run is left as it is: the rule is in `conflict.rs`.
//!
//! As for imports, each batch undone is recorded as sent (`run.batch_sent`)
//! and then as done (`run.progressed`). A worker that resumes a batch in
//! doubt undoes it again: a created record already gone counts as deleted,
//! an updated record that already holds its before-image as restored.

use super::{totals_of, write_undone, Revert};
use crate::results::Results;
use crate::runs::target::salesforce::org::{calls, close, failed, Org, Resume};
use crate::runs::{retry, JobSpec, RunCtx, Stop, Totals, Written};
use serde_json::{Map, Value};
use sluice_connectors::journal::{Change, Columns};
use sluice_connectors::postgres::Checkpoint;
use sluice_events::event::{RunBatchSent, RunProgressed};
use sluice_events::DomainEvent;
use sluice_schema::ids::RunId;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

mod conflict;
mod restore;
mod undo;

/// What undoing one batch did: the rows undone (number, record id, what
/// was done) and those not undone (number, record id, why).
#[derive(Default)]
struct Undone {
    ok: Vec<(u64, String, &'static str)>,
    failed: Vec<(u64, String, String)>,
}

/// What a rollback has written so far: each record's fields as it
/// restored them, and the records it changed at all (the old rule's).
#[derive(Default)]
struct Own {
    wrote: HashMap<String, Map<String, Value>>,
    changed: HashSet<String>,
}

/// One journal batch to undo, and how.
struct Batch<'a> {
    object: &'a str,
    /// The journal's written fields, in the order of a change's values.
    set: &'a [String],
    force: bool,
    /// An earlier attempt may have undone it already.
    again: bool,
    /// The object's fields an update cannot set.
    fixed: &'a restore::Fixed,
}

/// The job's object in its org, opened for a rollback.
pub(super) struct OrgRevert<'a> {
    ctx: RunCtx<'a>,
    org: Org,
    /// Where the rollback resumes.
    resume: Resume,
    object: String,
    force: bool,
    own: Own,
    fixed: restore::Fixed,
    /// The rows undone and left by each step done, until it lands (one
    /// step is under way at a time: each is done when `undo` returns).
    landed: VecDeque<(i64, i64)>,
}

impl<'a> OrgRevert<'a> {
    /// Reaches the org of the job's target, and reads where the rollback
    /// resumes.
    pub(super) async fn open(ctx: RunCtx<'a>, job: &JobSpec, force: bool) -> Result<Self, Stop> {
        let org = ctx.handler.org(ctx.account, job.connection).await?;
        let resume = ctx.handler.resume(ctx.run).await?;
        Ok(Self {
            ctx,
            org,
            resume,
            object: job.object.clone(),
            force,
            own: Own::default(),
            fixed: restore::Fixed::default(),
            landed: VecDeque::new(),
        })
    }
}

impl Revert for OrgRevert<'_> {
    async fn plan(&mut self, undone: RunId) -> Result<(Checkpoint, i64), Stop> {
        let batches = self.ctx.handler.resume(undone).await?.checkpoint.batch;
        Ok((self.resume.checkpoint, batches))
    }

    fn start(&mut self, checkpoint: Checkpoint, written: &mut Written) {
        written.totals = totals_of(checkpoint);
    }

    async fn undo(
        &mut self,
        step: i64,
        (columns, changes): (Columns, Vec<Change>),
        results: &Arc<Results>,
    ) -> Result<(), Stop> {
        let again = self.resume.sent.as_ref().is_some_and(|s| s.batch == step);
        if !again {
            let sent = RunBatchSent {
                batch: step,
                through: step,
                bulk_job: None,
            };
            self.ctx.record(DomainEvent::RunBatchSent(sent)).await?;
        }
        let batch = Batch {
            object: &self.object,
            set: &columns.set,
            force: self.force,
            again,
            fixed: &self.fixed,
        };
        let done = undo::undo(&self.org.sf, &batch, changes, &mut self.own)
            .await
            .map_err(failed)?;
        let counts = (done.ok.len() as i64, done.failed.len() as i64);
        write_part(results, step, done).await?;
        self.landed.push_back(counts);
        Ok(())
    }

    async fn land(&mut self) -> Result<(i64, i64), Stop> {
        self.landed
            .pop_front()
            .ok_or_else(|| retry("no step is under way"))
    }

    async fn committed(&mut self, step: i64, totals: Totals) -> Result<(), Stop> {
        let calls = self.resume.api_calls + calls(&self.org.sf);
        self.ctx
            .record(DomainEvent::RunProgressed(RunProgressed {
                batch: step,
                rows_read: totals.read,
                rows_ok: totals.ok,
                rows_failed: totals.failed,
                rows_skipped: 0,
                api_calls: Some(calls),
            }))
            .await?;
        crate::crash::at(crate::crash::Phase::BatchCommitted);
        Ok(())
    }

    async fn finish(&mut self, _: Checkpoint) -> Result<(), Stop> {
        Ok(())
    }

    async fn close(
        mut self,
        outcome: Result<Totals, Stop>,
        written: &mut Written,
    ) -> Result<Totals, Stop> {
        let handler = self.ctx.handler;
        close(
            handler,
            &mut self.org,
            self.resume.api_calls,
            outcome,
            written,
        )
        .await
    }
}

/// Writes a rollback batch's result pieces (see `write_undone`), records
/// named by their ids.
async fn write_part(results: &Arc<Results>, step: i64, done: Undone) -> Result<(), Stop> {
    let Undone { mut ok, mut failed } = done;
    ok.sort_by_key(|(n, _, _)| *n);
    failed.sort_by_key(|(n, _, _)| *n);
    let results = results.clone();
    tokio::task::spawn_blocking(move || write_undone(&results, step, &ok, &failed, "record"))
        .await
        .map_err(retry)?
        .map_err(Stop::Retry)
}
