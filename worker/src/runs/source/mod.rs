//! Where a run's rows come from. A source streams its rows to a sink: its
//! columns first (the header, which the job's mapping is resolved
//! against), then each row. Two kinds exist: an upload (`upload`: a CSV
//! file or a workbook's sheet; a Dropbox file arrives as an upload, fetched
//! by the API, so the worker has no Dropbox source) and a query run on a
//! stored PostgreSQL connection (`query`). A retry reads the failed rows
//! of an earlier run instead (`earlier`). `selection` decides which rows a
//! run writes (a trial's, the rest of a trial's), and `batches` reads any
//! source into the mapped and checked batches a target writes.

use super::{RunHandler, Stop};
use sluice_connectors::source::{RowSink, SourceError};
use sluice_events::event::RunRequested;
use sluice_schema::ids::{AccountId, RunId};
use sluice_schema::job::Source as JobSource;
use sluice_schema::kinds::SampleOrder;

pub(super) mod batches;
mod earlier;
mod query;
pub(super) mod selection;
mod upload;

use selection::Selection;

pub(super) use batches::{read_batches, Batch, Header, Mapped};

/// A source opened for reading: read on a blocking thread.
pub(super) trait Source: Send + 'static {
    /// Gives `sink` the source's columns, then its rows, until the end or
    /// until the sink stops it.
    fn read(self, sink: &mut impl RowSink) -> Result<(), SourceError>;
}

/// The source of a job, opened.
pub(super) enum Input {
    Upload(upload::Upload),
    Query(query::Query),
    /// The failed rows of an earlier run (a retry).
    Failed(earlier::Failed),
}

impl Source for Input {
    fn read(self, sink: &mut impl RowSink) -> Result<(), SourceError> {
        match self {
            Input::Upload(upload) => upload.read(sink),
            Input::Query(query) => query.read(sink),
            Input::Failed(failed) => failed.read(sink),
        }
    }
}

impl RunHandler {
    /// Where the job's rows come from: its upload, or its query run on the
    /// source connection.
    pub(super) async fn input(
        &self,
        account: AccountId,
        source: &JobSource,
    ) -> Result<Input, Stop> {
        match source {
            JobSource::Upload { upload_id, sheet } => {
                let upload = self.open_upload(account, *upload_id, sheet.clone()).await?;
                Ok(Input::Upload(upload))
            }
            JobSource::Query {
                connection_id,
                query,
            } => {
                let query = self.open_query(account, *connection_id, query).await?;
                Ok(Input::Query(query))
            }
        }
    }

    /// What the run reads, opened once more (for a first pass over it): a
    /// retry's failed rows, or the job's source.
    pub(super) async fn reopen(
        &self,
        account: AccountId,
        requested: &RunRequested,
        source: &JobSource,
    ) -> Result<Input, Stop> {
        match requested.retry_of {
            Some(run) => Ok(Input::Failed(self.open_failed(account, RunId(run)).await?)),
            None => self.input(account, source).await,
        }
    }

    /// What the run reads and which of its rows it writes: a retry reads
    /// the retried run's failed rows, every one; a trial the first rows of
    /// the job's source, or rows chosen at random (a first reading ranks
    /// them, see `selection`); the rest of a trial every row but those the
    /// trial wrote; any other run the whole source.
    pub(super) async fn rows_of(
        &self,
        account: AccountId,
        requested: &RunRequested,
        source: &JobSource,
    ) -> Result<(Input, Selection), Stop> {
        if let Some(run) = requested.retry_of {
            let failed = self.open_failed(account, RunId(run)).await?;
            return Ok((Input::Failed(failed), Selection::All));
        }
        let selection = match (requested.remaining_of, requested.sample) {
            (Some(trial), _) => Selection::Except(self.written_rows(account, RunId(trial)).await?),
            (None, Some(sample)) if sample.order == SampleOrder::First => {
                Selection::First(u64::from(sample.rows))
            }
            (None, Some(sample)) => {
                let first = self.input(account, source).await?;
                let chosen = tokio::task::spawn_blocking(move || {
                    selection::choose(first, sample.rows, sample.seed)
                })
                .await
                .map_err(|e| Stop::Retry(format!("choosing the trial's rows: {e}")))?
                .map_err(|e| Stop::Fail(e.to_string()))?;
                Selection::Only(chosen)
            }
            (None, None) => Selection::All,
        };
        Ok((self.input(account, source).await?, selection))
    }
}
