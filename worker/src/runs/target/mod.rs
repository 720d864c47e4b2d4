//! Where an import writes, behind the [`Target`] trait that the import
//! (`runs::import`) drives without knowing which one it is: a PostgreSQL
//! table (`postgres`: each batch committed with its checkpoint marker in
//! the target database) or a Salesforce object (`salesforce`: sObject
//! Collections or Bulk API 2.0, checkpoints as events in Sluice's log).
//! A new target is a new module with an impl of [`Target`].

use super::source::{Batch, Header, Mapped};
use super::{JobSpec, Stop, Totals, Written};
use crate::results::Results;
use sluice_connectors::postgres::Checkpoint;
use std::sync::Arc;

pub(super) mod postgres;
pub(super) mod salesforce;

/// How a target wants the source's rows: mapped and checked against what,
/// in batches of how many rows.
pub(super) struct Reading {
    pub mapped: Mapped,
    pub batch_rows: usize,
}

/// Whether the import goes on after a batch handed to the target.
pub(super) enum Flow {
    Go,
    /// A batch failed: no more are written; the target's `finish` says why.
    Halt,
}

/// A target of an import, opened (its connection made, its org reached).
/// The import calls, in order: `check`, `resume_point`, `prepare` once the
/// source's columns are known, `begin` (after reading `read_ahead` rows,
/// if any), then `count` and `write` for each batch, `finish`, and `close`
/// whatever happened before it. An `Err` from any of them ends the import
/// at once (but for `close`, which still runs).
pub(super) trait Target {
    /// Checks the job against the target (describes its table or object)
    /// and says how the source's rows are to be read for it.
    async fn check(&mut self, job: &JobSpec) -> Result<Reading, Stop>;

    /// The last batch an earlier attempt of the run committed (none: 0).
    fn resume_point(&self) -> Checkpoint;

    /// Prepares the writes, the source's columns being `header`: the
    /// mapping is resolved against the target's fields. The run's result
    /// files and journal are `results`.
    async fn prepare(
        &mut self,
        job: JobSpec,
        header: Header,
        results: Arc<Results>,
        written: &mut Written,
    ) -> Result<(), Stop>;

    /// How many rows to read before the first write (none: write batches
    /// as they come).
    fn read_ahead(&self) -> Option<usize> {
        None
    }

    /// Writes are about to start; `whole` says whether the rows read ahead
    /// are the whole source.
    fn begin(&mut self, whole: bool) -> Result<(), Stop> {
        let _ = whole;
        Ok(())
    }

    /// The source read `rows` more rows (in a batch written or one an
    /// earlier attempt wrote), of which the job's filter set `skipped`
    /// aside.
    fn count(&mut self, rows: i64, skipped: i64, written: &mut Written);

    /// Writes one batch with its result pieces and journal (or starts it).
    async fn write(&mut self, batch: Batch, written: &mut Written) -> Result<Flow, Stop>;

    /// Ends the writes (what is under way lands and is made durable) and
    /// gives the run's totals, or why it failed: `failure` (the source's)
    /// or the target's own.
    async fn finish(
        &mut self,
        failure: Option<Stop>,
        written: &mut Written,
    ) -> Result<Totals, Stop>;

    /// Closes the target after the import, however it went.
    async fn close(
        self,
        outcome: Result<Totals, Stop>,
        written: &mut Written,
    ) -> Result<Totals, Stop>;
}
