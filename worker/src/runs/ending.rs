//! The end of a run, safe to repeat after a kill at any point (see
//! `results`): its result files are joined, then recorded whole with the
//! run's end, then their pieces are deleted, then `run.finished` is
//! appended; a worker that takes over after the record finishes the run as
//! recorded. Each step is a named crash point (`crash::Phase`).

use super::status::status;
use super::{retry, RunHandler, Stop, Written, CONSUMER};
use crate::crash::{self, Phase};
use crate::results::{Ended, Results};
use sluice_events::event::{RunFinished, RunRequested, RunResultsRemoved};
use sluice_events::{
    AppendRequest, DomainEvent, ExpectedVersion, Metadata, NewEvent, RecordedEvent, SecretWrite,
};
use sluice_schema::ids::{AccountId, RunId};
use sluice_schema::kinds::RunKind;
use sluice_schema::repo::jobs;
use sluice_vault::owner;
use std::sync::Arc;

/// How a run ends: its last event, and what becomes of its result files.
pub(super) struct Ending {
    finished: RunFinished,
    results: Option<Arc<Results>>,
    /// The batches the result files are joined from.
    batches: i64,
    /// Whether the account keeps the files (if not, they are deleted just
    /// before the run's end is recorded, and their key destroyed with it).
    keep: bool,
}

impl RunHandler {
    /// Works the run to its end: writes its batches (or undoes another
    /// run's), decides how it ends, and joins its result files if the
    /// account keeps them, then records that they are whole.
    pub(super) async fn end(&self, cause: &RecordedEvent, run: RunId) -> Result<Ending, Stop> {
        let mut written = Written::default();
        let kind = match &cause.event {
            DomainEvent::RunRequested(r) if r.rollback_of.is_some() => RunKind::Rollback,
            _ => RunKind::Import,
        };
        let outcome = match kind {
            RunKind::Rollback => self.rollback(cause, run, &mut written).await,
            RunKind::Import => self.execute(cause, run, &mut written).await,
        };
        if let Err(Stop::Retry(reason)) = outcome {
            return Err(Stop::Retry(reason));
        }
        // Whatever was committed gets its result files, even when the
        // run stopped part-way; an account that keeps none has them
        // destroyed as the run ends.
        let keep = self.retention(cause.account_id).await?;
        let (totals, message) = match outcome {
            Ok(totals) => (totals, None),
            Err(Stop::Fail(message)) => (written.totals, Some(message)),
            Err(Stop::Retry(reason)) => return Err(Stop::Retry(reason)),
        };
        let status = status(kind, totals, message.is_some());
        let results_expire_at = match (&written.results, keep) {
            (Some(_), Some(ttl)) => Some(self.platform.clock.now() + ttl),
            _ => None,
        };
        let finished = RunFinished {
            status,
            rows_total: totals.read,
            rows_ok: totals.ok,
            rows_failed: totals.failed,
            rows_skipped: totals.skipped,
            message,
            results_expire_at,
            api_calls: written.api_calls,
        };
        if let (Some(results), true) = (&written.results, keep.is_some()) {
            let ended = Ended {
                batches: written.batches,
                finished: finished.clone(),
            };
            let results = results.clone();
            tokio::task::spawn_blocking(move || {
                results.assemble(ended.batches)?;
                results.record_end(&ended)
            })
            .await
            .map_err(retry)?
            .map_err(|e| Stop::Retry(format!("result files: {e}")))?;
            crash::at(Phase::Assembled);
        }
        Ok(Ending {
            finished,
            results: written.results,
            batches: written.batches,
            keep: keep.is_some(),
        })
    }

    /// How the run ends, if a worker before this one recorded it once the
    /// run's files were whole.
    pub(super) async fn ended(
        &self,
        cause: &RecordedEvent,
        run: RunId,
    ) -> Result<Option<Ending>, Stop> {
        let Some(account) = cause.account_id else {
            return Ok(None);
        };
        let Some((version, wrapped)) = self.db(move |c| jobs::result_key(c, account, run)).await?
        else {
            return Ok(None);
        };
        let key = self
            .keyring
            .file_key(&owner::result_key(account, run), version.get(), &wrapped)
            .map_err(|e| Stop::Retry(format!("result key: {e}")))?;
        let results = self.results(Arc::new(key), account, run, Vec::new());
        let reader = results.clone();
        let ended = tokio::task::spawn_blocking(move || reader.ended())
            .await
            .map_err(retry)?
            .map_err(|e| Stop::Retry(format!("result files: {e}")))?;
        Ok(ended.map(|ended| {
            tracing::info!(run = %run, "the run's files were whole when its worker stopped; finishing it");
            Ending {
                finished: ended.finished,
                results: Some(results),
                batches: ended.batches,
                keep: true,
            }
        }))
    }

    /// Deletes the pieces of the run's result files (every file of the run
    /// if the account keeps none), then records the run's end:
    /// `run.finished.v2` with the processed marker (and
    /// `run.results_removed`, which destroys the files' key, if they are not
    /// kept); its message, if any, is sealed under the account's subject key
    /// here. A redelivery after that is skipped, so nothing may be left to do
    /// after the append; a worker killed before it does this again.
    pub(super) async fn finish(
        &self,
        cause: &RecordedEvent,
        run: RunId,
        ending: Ending,
    ) -> Result<(), Stop> {
        self.then_run(cause, run).await?;
        let finished = self
            .sealed_ending(cause.account_id, run, ending.finished)
            .await?;
        tracing::info!(
            run = %run,
            status = %finished.status,
            rows_ok = finished.rows_ok,
            rows_failed = finished.rows_failed,
            "run finished"
        );
        let mut events = vec![DomainEvent::RunFinishedV2(finished)];
        match ending.results {
            Some(results) if ending.keep => {
                let batches = ending.batches;
                tokio::task::spawn_blocking(move || results.remove_pieces(batches))
                    .await
                    .map_err(retry)?
                    .map_err(|e| Stop::Retry(format!("result files: {e}")))?;
            }
            Some(_) => {
                let stored = self.stored(run).await?;
                let store = self.store.clone();
                tokio::task::spawn_blocking(move || {
                    stored
                        .iter()
                        .try_for_each(|id| store.remove(crate::results::KIND, id).map(drop))
                })
                .await
                .map_err(retry)?
                .map_err(|e| Stop::Retry(format!("result files: {e}")))?;
                events.push(DomainEvent::RunResultsRemoved(RunResultsRemoved {}));
            }
            None => {}
        }
        let destroy = events.len() > 1;
        let events = events
            .into_iter()
            .map(|event| {
                let event = NewEvent::new(
                    event,
                    Metadata::caused_by(cause, format!("worker:{}", self.worker)),
                );
                match cause.account_id {
                    Some(account) => event.for_account(account),
                    None => event,
                }
            })
            .collect();
        let mut request = AppendRequest::new("run", run.0, ExpectedVersion::Any, events)
            .processing(CONSUMER, cause.event_id);
        if destroy {
            request = request.with_secret(SecretWrite::DestroyResultKey { run_id: run.0 });
        }
        crash::at(Phase::FinishBuilt);
        self.platform
            .appender
            .append(request)
            .await
            .map_err(retry)?;
        crash::at(Phase::Finished);
        Ok(())
    }

    /// A scheduled job's retry of its previous run's failed rows asks, as
    /// it ends, for the job's own run: under an id derived from the retry's,
    /// so a worker that repeats this (killed before the run's end was
    /// recorded) asks once. However the retry went, the schedule's run goes.
    async fn then_run(&self, cause: &RecordedEvent, run: RunId) -> Result<(), Stop> {
        let DomainEvent::RunRequested(requested) = &cause.event else {
            return Ok(());
        };
        if !requested.then_run {
            return Ok(());
        }
        let mut event = NewEvent::new(
            DomainEvent::RunRequested(RunRequested::import(requested.job_id)),
            Metadata::caused_by(cause, format!("worker:{}", self.worker)),
        );
        if let Some(account) = cause.account_id {
            event = event.for_account(account);
        }
        let request = AppendRequest::new(
            "run",
            uuid::Uuid::new_v5(&run.0, b"then-run"),
            ExpectedVersion::NoStream,
            vec![event],
        );
        match self.platform.appender.append(request).await {
            Ok(_) | Err(sluice_events::AppendError::Conflict { .. }) => Ok(()),
            Err(e) => Err(retry(e)),
        }
    }

    /// The ids of the run's files in the store.
    pub(super) async fn stored(&self, run: RunId) -> Result<Vec<String>, Stop> {
        let store = self.store.clone();
        let prefix = format!("{run}.");
        tokio::task::spawn_blocking(move || store.list_starting(crate::results::KIND, &prefix))
            .await
            .map_err(retry)?
            .map_err(retry)
            .map(|files| files.into_iter().map(|(id, _)| id).collect())
    }

    /// How long the account keeps its runs' result files: its own choice
    /// (Enterprise) or the deployment's; `None` when it keeps none.
    pub(super) async fn retention(
        &self,
        account: Option<AccountId>,
    ) -> Result<Option<chrono::Duration>, Stop> {
        let Some(account) = account else {
            return Ok(Some(self.result_ttl));
        };
        let row = self
            .db(move |c| sluice_schema::repo::accounts::find_account(c, account))
            .await?;
        Ok(match row {
            Some(row) if !row.store_results => None,
            Some(row) => Some(
                row.result_retention_days
                    .map_or(self.result_ttl, |d| chrono::Duration::days(i64::from(d))),
            ),
            None => Some(self.result_ttl),
        })
    }
}
