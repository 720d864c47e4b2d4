//! Where a run's rows come from. A source streams its rows to a sink: its
//! columns first (the header, which the job's mapping is resolved
//! against), then each row. Two kinds exist: an upload (`upload`: a CSV
//! file or a workbook's sheet; a Dropbox file arrives as an upload, fetched
//! by the API, so the worker has no Dropbox source) and a query run on a
//! stored PostgreSQL connection (`query`). `batches` reads any source into
//! the mapped and checked batches a target writes.

use super::{RunHandler, Stop};
use sluice_connectors::source::{RowSink, SourceError};
use sluice_schema::ids::AccountId;
use sluice_schema::job::Source as JobSource;

pub(super) mod batches;
mod query;
mod upload;

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
}

impl Source for Input {
    fn read(self, sink: &mut impl RowSink) -> Result<(), SourceError> {
        match self {
            Input::Upload(upload) => upload.read(sink),
            Input::Query(query) => query.read(sink),
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
}
