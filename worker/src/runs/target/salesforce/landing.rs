//! What became of a batch written to Salesforce: its result pieces and
//! journal written, its rows counted, and the batch recorded as done
//! (`run.progressed`, the checkpoint of a run to Salesforce).

use super::org::calls;
use super::Writing;
use crate::runs::result_files::Pieces;
use crate::runs::{retry, Stop};
use sluice_connectors::journal::{Action, Change};
use sluice_connectors::postgres::{self as pg, Checkpoint};
use sluice_connectors::salesforce::Saved;
use sluice_events::event::RunProgressed;
use sluice_events::DomainEvent;

/// What became of one batch's rows.
pub(super) struct Landed {
    pub(super) index: i64,
    pub(super) raw: crate::results::SourceRows,
    /// Rows the job's filter set aside, and why.
    pub(super) skipped: Vec<(u64, String)>,
    /// Rows that failed before the write, and those Salesforce refused.
    pub(super) failed: Vec<(u64, String)>,
    pub(super) saved: Vec<Saved>,
}

impl Writing<'_> {
    /// Writes the result pieces and journal of batches written, and counts
    /// their rows.
    pub(super) async fn land(
        &mut self,
        batches: Vec<Landed>,
        version: impl Fn(&str) -> String,
    ) -> Result<(), Stop> {
        for mut batch in batches {
            batch.failed.sort_by_key(|(n, _)| *n);
            batch.saved.sort_by_key(|s| s.number);
            let done = pg::Written {
                ok: batch
                    .saved
                    .into_iter()
                    .map(|s| Change {
                        number: s.number,
                        action: s.action,
                        version: match s.action {
                            Action::Deleted => String::new(),
                            _ => version(&s.id),
                        },
                        key: vec![s.id],
                        before: s
                            .before
                            .as_ref()
                            .and_then(|b| serde_json::to_string(b).ok()),
                        wrote: Some(s.wrote).filter(|w| !w.is_empty()),
                    })
                    .collect(),
                failed: batch.failed,
                copied: None,
            };
            let totals = &mut self.written.totals;
            totals.ok += done.ok.len() as i64;
            totals.failed += done.failed.len() as i64;
            let pieces = Pieces {
                index: batch.index,
                raw: batch.raw,
                skipped: batch.skipped,
                refused: Vec::new(),
                results: self.state.results.clone(),
                journal: self.state.journal.clone(),
            };
            tokio::task::spawn_blocking(move || pieces.write(&done))
                .await
                .map_err(retry)?
                .map_err(Stop::Retry)?;
            self.written.batches = batch.index;
        }
        Ok(())
    }

    /// Records batches `first..=last` as done.
    pub(super) async fn done(&mut self, first: i64, last: i64) -> Result<(), Stop> {
        let totals = self.written.totals;
        let calls = self.calls_before + calls(self.sf);
        self.ctx
            .record(DomainEvent::RunProgressed(RunProgressed {
                batch: last,
                rows_read: self.state.read,
                rows_ok: totals.ok,
                rows_failed: totals.failed,
                rows_skipped: totals.skipped,
                api_calls: Some(calls),
            }))
            .await?;
        crate::crash::at(crate::crash::Phase::BatchCommitted);
        self.state.checkpoint = Checkpoint {
            batch: last,
            rows_ok: totals.ok,
            rows_failed: totals.failed,
        };
        let results = self.state.results.clone();
        tokio::task::spawn_blocking(move || results.remove_before(first))
            .await
            .map_err(retry)?
            .map_err(retry)
    }
}
