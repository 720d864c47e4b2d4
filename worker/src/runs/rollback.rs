//! Rollbacks: a run of its own that undoes another run from its journal,
//! newest batch first. Each journal batch is undone in one target
//! transaction with the rollback's checkpoint marker, so a rollback whose
//! worker dies resumes where it stopped, like an import.
//!
//! The journal is kept, encrypted under the run's result key, for as long
//! as the run's result files: once they expire, the run can no longer be
//! rolled back.

use super::{command, retry, Progress, RunHandler, Stop, Totals, Written};

mod salesforce;
use crate::results::{Note, Outcome, RowFields};
use sluice_connectors::postgres::{self as pg, Checkpoint};
use sluice_events::RecordedEvent;
use sluice_schema::ids::{JobId, RunId};
use sluice_schema::repo::jobs;
use sluice_vault::owner;
use std::sync::Arc;

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
        let expired = Stop::Fail(
            "the run's record of what it changed expired with its result files, so it can no \
             longer be rolled back"
                .into(),
        );
        let live = original
            .results_expire_at
            .is_some_and(|at| at > self.platform.clock.now());
        if original.results_removed_at.is_some() || !live {
            return Err(expired);
        }
        // The target is the job's (it cannot change once the job has
        // runs); what to restore is in the journal.
        let job = self.job(account, JobId(original.job_id)).await?;

        let (version, wrapped) = self
            .db(move |c| jobs::result_key(c, account, undone))
            .await?
            .ok_or(expired)?;
        let journal_key = self
            .keyring
            .file_key(&owner::result_key(account, undone), version, &wrapped)
            .map_err(|e| Stop::Retry(format!("result key: {e}")))?;
        let journal = self.results(Arc::new(journal_key), account, undone, Vec::new());

        if self.target_kind(account, job.connection).await? == "salesforce" {
            return self
                .roll_back_org(
                    cause,
                    run,
                    written,
                    account,
                    requested.force,
                    undone,
                    journal,
                    job,
                )
                .await;
        }
        let params = self.connection(account, job.connection, "target").await?;
        let mut client = pg::connect(&params).await?;
        let table = pg::describe(&client, &job.object).await?;
        let mut checkpoint = pg::last_checkpoint(&client, &table, run.0).await?;
        let batches = pg::last_checkpoint(&client, &table, undone.0).await?.batch;
        let mut own = pg::own_versions(&client, &table, run.0).await?;
        let key = self.result_key(account, run).await?;
        let results = self.results(key, account, run, Vec::new());
        written.results = Some(results.clone());
        written.batches = checkpoint.batch;
        self.started(cause, run, account, checkpoint).await?;

        let mut totals = Totals {
            read: checkpoint.rows_ok + checkpoint.rows_failed,
            ok: checkpoint.rows_ok,
            failed: checkpoint.rows_failed,
        };
        let mut progress = Progress::new(self, cause, account, run);
        // Step 1 undoes the run's last batch.
        for step in (checkpoint.batch + 1)..=batches {
            let (columns, changes) = journal_piece(&journal, batches + 1 - step).await?;
            let undo = pg::Undo {
                table: &table,
                key_columns: &columns.key,
                written: &columns.set,
                force: requested.force,
                own_versions: &own,
            };
            let reverted =
                pg::revert_batch(&mut client, &undo, changes, run.0, checkpoint, |done| {
                    let success: Vec<Outcome> = done
                        .ok
                        .iter()
                        .map(|(number, key, what)| Outcome {
                            number: *number,
                            note: Note::Text(key),
                            status: what,
                            fields: RowFields::NONE,
                        })
                        .collect();
                    let reasons: Vec<String> = done
                        .failed
                        .iter()
                        .map(|(_, key, reason)| format!("{reason} (key {key})"))
                        .collect();
                    let errors: Vec<Outcome> = done
                        .failed
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
                        .write_part(step, &success, &errors)
                        .map_err(|e| format!("result files: {e}"))
                })
                .await?;
            own.extend(reverted.versions);
            own.sort_unstable();
            own.dedup();
            written.batches = step;
            let ok = reverted.ok.len() as i64;
            let failed = reverted.failed.len() as i64;
            checkpoint = Checkpoint {
                batch: step,
                rows_ok: checkpoint.rows_ok + ok,
                rows_failed: checkpoint.rows_failed + failed,
            };
            totals = Totals {
                read: checkpoint.rows_ok + checkpoint.rows_failed,
                ok: checkpoint.rows_ok,
                failed: checkpoint.rows_failed,
            };
            written.totals = totals;
            crate::crash::at(crate::crash::Phase::BatchCommitted);
            progress.record(step, totals).await?;
        }
        progress.finish().await?;
        if checkpoint.batch > 0 {
            pg::flush(&client, &table, run.0, checkpoint).await?;
        }
        Ok(totals)
    }
}

/// Batch `piece` of a run's journal: the columns it wrote and its changes;
/// a failure if the piece was lost (the batches after it are undone, it
/// and those before it are not).
pub(super) async fn journal_piece(
    journal: &Arc<crate::results::Results>,
    piece: i64,
) -> Result<
    (
        sluice_connectors::journal::Columns,
        Vec<sluice_connectors::journal::Change>,
    ),
    Stop,
> {
    let reader = journal.clone();
    tokio::task::spawn_blocking(move || reader.read_changes(piece))
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
