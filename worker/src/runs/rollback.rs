//! Rollbacks: a run of its own that undoes another run from its journal,
//! newest batch first. Each journal batch is undone in one step, recorded
//! with the rollback's checkpoint (for PostgreSQL, in one target
//! transaction with its checkpoint marker), so a rollback whose worker
//! dies resumes where it stopped, like an import.
//!
//! The journal is kept, encrypted under the run's result key, for as long
//! as the run's result files: once they expire, the run can no longer be
//! rolled back (`eligible`).
//!
//! This module knows neither target: it drives a [`Revert`], one per
//! target, which undoes one journal batch and holds the target's conflict
//! rule (what counts as a record changed by someone since the run):
//! `postgres` (the rule is SQL, in `sluice_connectors::postgres::undo` and
//! `revert`) and `salesforce` (the rule in `salesforce/conflict.rs`).

use super::{command, retry, RunCtx, RunHandler, Stop, Totals, Written};
use crate::results::{Note, Outcome, Results, RowFields};
use postgres::TableRevert;
use salesforce::OrgRevert;
use sluice_connectors::journal::{Change, Columns};
use sluice_connectors::postgres::Checkpoint;
use sluice_events::aggregate::run::{journal_kept, JOURNAL_EXPIRED};
use sluice_events::RecordedEvent;
use sluice_schema::ids::{JobId, RunId};
use sluice_schema::kinds::ConnectionKind;
use sluice_schema::models::RunRow;
use sluice_schema::repo::jobs;
use sluice_vault::owner;
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

mod postgres;
mod salesforce;

/// A target's way of undoing a run's journal, batch by batch. The
/// rollback calls, in order: `plan`, `start`, then `undo` for each journal
/// batch (newest first) with `land` and `committed` for each in the same
/// order, `finish`, and `close` whatever happened before it. Up to
/// `steps_at_once` steps may be under way between their `undo` and their
/// `land`, never two with a row in common, and only steps the target
/// says may be under way beside others (`alongside`).
trait Revert {
    /// Where the rollback resumes (its last step recorded), and how many
    /// batches the run it undoes committed.
    async fn plan(&mut self, undone: RunId) -> Result<(Checkpoint, i64), Stop>;

    /// The undoing is about to start after `checkpoint`.
    fn start(&mut self, checkpoint: Checkpoint, written: &mut Written) {
        let _ = (checkpoint, written);
    }

    /// How many steps may be under way at once.
    fn steps_at_once(&self) -> usize {
        1
    }

    /// Whether a step undoing `changes` may be under way beside others
    /// (that have no row in common with it).
    fn alongside(&self, changes: &[Change]) -> bool {
        let _ = changes;
        false
    }

    /// Starts undoing one journal batch (`columns` and `changes`) as step
    /// `step` of the rollback; the step writes its result pieces to
    /// `results` (the rows undone and the rows left as they are) and
    /// commits after the step before it.
    async fn undo(
        &mut self,
        step: i64,
        piece: (Columns, Vec<Change>),
        results: &Arc<Results>,
    ) -> Result<(), Stop>;

    /// Waits for the oldest step under way to commit: the rows it undid,
    /// and those it left as they are.
    async fn land(&mut self) -> Result<(i64, i64), Stop>;

    /// Step `step` is done, the rollback's counts now `totals`.
    async fn committed(&mut self, step: i64, totals: Totals) -> Result<(), Stop>;

    /// Ends the undoing (after `checkpoint`, the last step).
    async fn finish(&mut self, checkpoint: Checkpoint) -> Result<(), Stop>;

    /// Closes the target after the rollback, however it went.
    async fn close(
        self,
        outcome: Result<Totals, Stop>,
        written: &mut Written,
    ) -> Result<Totals, Stop>;
}

/// Whether run `original` may still be rolled back: its record of what it
/// changed is kept with its result files. The rule is the run aggregate's,
/// which the API applies before it accepts a rollback; this is the worker's
/// check at the start, as the journal may have expired since.
fn eligible(original: &RunRow, now: chrono::DateTime<chrono::Utc>) -> Result<(), Stop> {
    journal_kept(
        original.results_removed_at.is_some(),
        original.results_expire_at,
        now,
    )
    .map_err(|_| expired())
}

fn expired() -> Stop {
    Stop::Fail(JOURNAL_EXPIRED.into())
}

impl RunHandler {
    pub(super) async fn rollback(
        &self,
        cause: &RecordedEvent,
        run: RunId,
        written: &mut Written,
    ) -> Result<Totals, Stop> {
        let (account, requested) = command(cause)?;
        let undone = RunId(
            requested
                .rollback_of
                .ok_or_else(|| Stop::Fail("the rollback names no run".into()))?,
        );
        let original = self
            .db(move |c| jobs::run_any(c, undone))
            .await?
            .filter(|r| r.account_id == account.0)
            .ok_or_else(|| Stop::Fail("the run to roll back no longer exists".into()))?;
        eligible(&original, self.platform.clock.now())?;
        // The target is the job's (it cannot change once the job has
        // runs); what to restore is in the journal.
        let context = super::job::formula_context(cause);
        let job = self.job(account, JobId(original.job_id), context).await?;

        let (version, wrapped) = self
            .db(move |c| jobs::result_key(c, account, undone))
            .await?
            .ok_or_else(expired)?;
        let journal_key = self
            .keyring
            .file_key(&owner::result_key(account, undone), version.get(), &wrapped)
            .map_err(|e| Stop::Retry(format!("result key: {e}")))?;
        let journal = self.results(Arc::new(journal_key), account, undone, Vec::new());
        let ctx = RunCtx {
            handler: self,
            cause,
            account,
            run,
        };
        let force = requested.force;
        if self.target_kind(account, job.connection).await? == ConnectionKind::Salesforce {
            let revert = OrgRevert::open(ctx, &job, force).await?;
            return revert_all(ctx, revert, undone, journal, written).await;
        }
        let revert = TableRevert::open(ctx, &job, force).await?;
        revert_all(ctx, revert, undone, journal, written).await
    }
}

/// Undoes run `undone` from its `journal` with `revert`, which is closed
/// after, however it went.
async fn revert_all<R: Revert>(
    ctx: RunCtx<'_>,
    mut revert: R,
    undone: RunId,
    journal: Arc<Results>,
    written: &mut Written,
) -> Result<Totals, Stop> {
    let outcome = undo_all(ctx, &mut revert, undone, journal, written).await;
    revert.close(outcome, written).await
}

async fn undo_all<R: Revert>(
    ctx: RunCtx<'_>,
    revert: &mut R,
    undone: RunId,
    journal: Arc<Results>,
    written: &mut Written,
) -> Result<Totals, Stop> {
    let handler = ctx.handler;
    let (mut checkpoint, batches) = revert.plan(undone).await?;
    let key = handler.result_key(ctx.account, ctx.run).await?;
    let results = handler.results(key, ctx.account, ctx.run, Vec::new());
    written.results = Some(results.clone());
    written.batches = checkpoint.batch;
    revert.start(checkpoint, written);
    handler
        .started(ctx.cause, ctx.run, ctx.account, checkpoint)
        .await?;
    // Step 1 undoes the run's last batch. The next step's journal piece is
    // read and decrypted while the target undoes this one, and a step
    // starts while the one before it is under way when no row is in both.
    let at_once = revert.steps_at_once().max(1);
    let piece_of = |step: i64| batches + 1 - step;
    let mut next = read_journal_piece(&journal, piece_of(checkpoint.batch + 1));
    // The steps under way, oldest first, with their rows' keys (none for a
    // step that is under way alone).
    let mut under_way: VecDeque<(i64, Option<HashSet<u64>>)> = VecDeque::new();
    for step in (checkpoint.batch + 1)..=batches {
        let piece = journal_piece(next, piece_of(step)).await?;
        next = read_journal_piece(&journal, piece_of(step + 1));
        let keys = (at_once > 1 && revert.alongside(&piece.1)).then(|| key_hashes(&piece.1));
        while under_way.len() >= at_once || under_way.iter().any(|(_, k)| clash(k, &keys)) {
            let Some((landing, _)) = under_way.pop_front() else {
                break;
            };
            checkpoint = land(revert, landing, checkpoint, written).await?;
        }
        revert.undo(step, piece, &results).await?;
        under_way.push_back((step, keys));
    }
    while let Some((landing, _)) = under_way.pop_front() {
        checkpoint = land(revert, landing, checkpoint, written).await?;
    }
    revert.finish(checkpoint).await?;
    Ok(totals_of(checkpoint))
}

/// Waits for step `step` (the oldest under way) to commit after
/// `checkpoint`, and records it: the checkpoint it leaves.
async fn land<R: Revert>(
    revert: &mut R,
    step: i64,
    checkpoint: Checkpoint,
    written: &mut Written,
) -> Result<Checkpoint, Stop> {
    let (ok, failed) = revert.land().await?;
    let checkpoint = Checkpoint {
        batch: step,
        rows_ok: checkpoint.rows_ok + ok,
        rows_failed: checkpoint.rows_failed + failed,
    };
    written.batches = step;
    written.totals = totals_of(checkpoint);
    revert.committed(step, written.totals).await?;
    Ok(checkpoint)
}

/// Whether two steps must not be under way at once: either is to be
/// alone, or they have a row in common.
fn clash(one: &Option<HashSet<u64>>, other: &Option<HashSet<u64>>) -> bool {
    match (one, other) {
        (Some(one), Some(other)) => !one.is_disjoint(other),
        _ => true,
    }
}

/// The hashes of the changes' keys: two steps whose sets are disjoint
/// have no row in common (a collision only keeps them apart).
fn key_hashes(changes: &[Change]) -> HashSet<u64> {
    use std::hash::{Hash, Hasher};
    changes
        .iter()
        .map(|change| {
            let mut hasher = std::hash::DefaultHasher::new();
            change.key.hash(&mut hasher);
            hasher.finish()
        })
        .collect()
}

/// Writes a rollback step's pieces of success.csv (the row's key or
/// record id, and what was done) and errors.csv (why a row was not undone,
/// naming its `noun` and key).
fn write_undone(
    results: &Results,
    step: i64,
    ok: &[(u64, String, &'static str)],
    failed: &[(u64, String, String)],
    noun: &str,
) -> Result<(), String> {
    let success: Vec<Outcome> = ok
        .iter()
        .map(|(number, key, what)| Outcome {
            number: *number,
            note: Note::Text(key),
            status: what,
            fields: RowFields::NONE,
        })
        .collect();
    let reasons: Vec<String> = failed
        .iter()
        .map(|(_, key, reason)| format!("{reason} ({noun} {key})"))
        .collect();
    let errors: Vec<Outcome> = failed
        .iter()
        .zip(&reasons)
        .map(|((number, _, _), reason)| Outcome {
            number: *number,
            note: Note::Text(reason),
            status: "",
            fields: RowFields::NONE,
        })
        .collect();
    results
        .write_part(step, &success, &[], &errors)
        .map_err(|e| format!("result files: {e}"))
}

/// A rollback's counts after `checkpoint`: every row it looked at is read.
fn totals_of(checkpoint: Checkpoint) -> Totals {
    Totals {
        read: checkpoint.rows_ok + checkpoint.rows_failed,
        ok: checkpoint.rows_ok,
        failed: checkpoint.rows_failed,
        skipped: 0,
    }
}

/// A piece of a run's journal as it is read: its columns and changes, or
/// `None` if it was lost.
type PieceRead = tokio::task::JoinHandle<std::io::Result<Option<(Columns, Vec<Change>)>>>;

/// Starts reading batch `piece` of a run's journal (none before the first).
fn read_journal_piece(journal: &Arc<Results>, piece: i64) -> Option<PieceRead> {
    let reader = journal.clone();
    (piece >= 1).then(|| tokio::task::spawn_blocking(move || reader.read_changes(piece)))
}

/// Batch `piece` of a run's journal, read by `reading`: the columns it
/// wrote and its changes; a failure if the piece was lost (the batches
/// after it are undone, it and those before it are not).
async fn journal_piece(
    reading: Option<PieceRead>,
    piece: i64,
) -> Result<(Columns, Vec<Change>), Stop> {
    let reading = reading.ok_or_else(|| retry("the journal piece was not read"))?;
    reading
        .await
        .map_err(retry)?
        .map_err(|e| Stop::Fail(format!("the run's journal cannot be read: {e}")))?
        .ok_or_else(|| {
            Stop::Fail(format!(
                "the record of what batch {piece} of the run changed was lost in a crash; the \
                 batches after it were rolled back, it and those before it were not"
            ))
        })
}
