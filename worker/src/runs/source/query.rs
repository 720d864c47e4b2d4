//! A query run on a stored PostgreSQL connection as a run's source: its
//! rows stream as CSV (PostgreSQL's `COPY ... TO STDOUT`) and are read as
//! any CSV file is.

use super::Source;
use crate::runs::{RunHandler, Stop};
use sluice_connectors::postgres::{self as pg, TargetError};
use sluice_connectors::source::{CsvSource, RowSink, SourceError};
use sluice_schema::ids::{AccountId, ConnectionId};

/// A query's rows, as CSV.
pub(in crate::runs) struct Query(pg::QueryReader);

impl Source for Query {
    fn read(self, sink: &mut impl RowSink) -> Result<(), SourceError> {
        CsvSource::open(self.0, &pg::query_dialect()).and_then(|source| source.feed(sink))
    }
}

impl RunHandler {
    /// Runs `query` on the source connection `id`.
    pub(super) async fn open_query(
        &self,
        account: AccountId,
        id: ConnectionId,
        query: &str,
    ) -> Result<Query, Stop> {
        let params = self.connection(account, id, "source").await?;
        let reader = pg::stream_query(&params, query, None)
            .await
            .map_err(|e| match e {
                TargetError::Connect(reason) => {
                    Stop::Fail(format!("the source database cannot be reached: {reason}"))
                }
                other => Stop::Fail(other.to_string()),
            })?;
        Ok(Query(reader))
    }
}
