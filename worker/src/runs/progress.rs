//! What a run records of itself as it works: that it started (or
//! resumed), and its progress (`run.progressed`).

use super::{retry, RunCtx, RunHandler, Stop, Totals};
use sluice_connectors::postgres::Checkpoint;
use sluice_events::event::{RunProgressed, RunStarted};
use sluice_events::{
    AppendRequest, DomainEvent, ExpectedVersion, Metadata, NewEvent, RecordedEvent,
};
use sluice_schema::ids::{AccountId, RunId};

/// How often a run's progress is recorded, at most.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Records a run's progress (`run.progressed`) at most about once a second
/// (and after the first batch), in the background while the next batch is
/// written; one record at a time.
pub(super) struct Progress<'a> {
    handler: &'a RunHandler,
    cause: &'a RecordedEvent,
    account: AccountId,
    run: RunId,
    recorded_at: Option<std::time::Instant>,
    recording: Option<tokio::task::JoinHandle<Result<(), sluice_events::AppendError>>>,
}

impl<'a> Progress<'a> {
    pub(super) fn new(
        handler: &'a RunHandler,
        cause: &'a RecordedEvent,
        account: AccountId,
        run: RunId,
    ) -> Self {
        Self {
            handler,
            cause,
            account,
            run,
            recorded_at: None,
            recording: None,
        }
    }

    pub(super) async fn record(&mut self, batch: i64, totals: Totals) -> Result<(), Stop> {
        if self
            .recorded_at
            .is_some_and(|at| at.elapsed() < PROGRESS_EVERY)
        {
            return Ok(());
        }
        self.recorded_at = Some(std::time::Instant::now());
        let progress = NewEvent::new(
            DomainEvent::RunProgressed(RunProgressed {
                batch,
                rows_read: totals.read,
                rows_ok: totals.ok,
                rows_failed: totals.failed,
                rows_skipped: totals.skipped,
                api_calls: None,
            }),
            Metadata::caused_by(self.cause, format!("worker:{}", self.handler.worker)),
        )
        .for_account(self.account);
        self.wait().await?;
        let appender = self.handler.platform.appender.clone();
        let run = self.run.0;
        self.recording = Some(tokio::spawn(async move {
            appender
                .append(AppendRequest::new(
                    "run",
                    run,
                    ExpectedVersion::Any,
                    vec![progress],
                ))
                .await
                .map(|_| ())
        }));
        Ok(())
    }

    pub(super) async fn wait(&mut self) -> Result<(), Stop> {
        if let Some(previous) = self.recording.take() {
            previous.await.map_err(retry)?.map_err(retry)?;
        }
        Ok(())
    }

    /// Waits for the last record.
    pub(super) async fn finish(mut self) -> Result<(), Stop> {
        self.wait().await
    }
}

impl RunHandler {
    /// Records that the run started (or resumed after `checkpoint`).
    pub(super) async fn started(
        &self,
        cause: &RecordedEvent,
        run: RunId,
        account: AccountId,
        checkpoint: Checkpoint,
    ) -> Result<(), Stop> {
        let started = DomainEvent::RunStarted(RunStarted {
            worker: self.worker.clone(),
            resumed_after_batch: checkpoint.batch,
        });
        self.record(cause, account, run, started).await?;
        if checkpoint.batch > 0 {
            tracing::info!(run = %run, after_batch = checkpoint.batch, "resuming a run");
        }
        Ok(())
    }

    /// Appends one of the run's own events and waits for it.
    pub(super) async fn record(
        &self,
        cause: &RecordedEvent,
        account: AccountId,
        run: RunId,
        event: DomainEvent,
    ) -> Result<(), Stop> {
        let event = NewEvent::new(
            event,
            Metadata::caused_by(cause, format!("worker:{}", self.worker)),
        )
        .for_account(account);
        self.platform
            .appender
            .append(AppendRequest::new(
                "run",
                run.0,
                ExpectedVersion::Any,
                vec![event],
            ))
            .await
            .map(drop)
            .map_err(retry)
    }
}

impl RunCtx<'_> {
    /// Appends one of the run's own events and waits for it.
    pub(super) async fn record(&self, event: DomainEvent) -> Result<(), Stop> {
        self.handler
            .record(self.cause, self.account, self.run, event)
            .await
    }
}
