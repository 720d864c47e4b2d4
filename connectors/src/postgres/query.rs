//! PostgreSQL as a source: the rows of a query over a stored connection.
//!
//! The query must be a read: it is run as `SELECT * FROM (query) q`, so
//! only a SELECT, VALUES or TABLE fits, in a read-only transaction. Its
//! rows are streamed as CSV (`COPY ... TO STDOUT`, with a header) by a task
//! of their own, and read on a blocking thread through [`QueryReader`], so
//! the CSV reader that reads uploads reads them too.

use super::connect::{connect, PgParams};
use super::error::{db_error, describe_error, message_without_values, TargetError};
use crate::detect::CsvDialect;
use futures_util::StreamExt;
use std::io::Read;
use tokio::sync::mpsc;

/// The longest query a job may hold.
pub const MAX_QUERY: usize = 64 * 1024;

/// The query as a job keeps it: trimmed, without a trailing semicolon.
pub fn normalize_query(query: &str) -> Result<String, String> {
    let query = query.trim().trim_end_matches(';').trim_end();
    if query.is_empty() {
        return Err("give the query whose rows to import, such as SELECT * FROM contacts".into());
    }
    if query.len() > MAX_QUERY {
        return Err(format!("the query is longer than {} KiB", MAX_QUERY / 1024));
    }
    Ok(query.to_owned())
}

/// The columns the query gives, found without running it; an error says
/// why it does not fit (not a read, a syntax error, an unknown table).
pub async fn describe_query(
    client: &mut tokio_postgres::Client,
    query: &str,
) -> Result<Vec<String>, TargetError> {
    let transaction = client.transaction().await.map_err(db_error)?;
    transaction
        .batch_execute("SET TRANSACTION READ ONLY")
        .await
        .map_err(db_error)?;
    let statement = transaction
        .prepare(&format!("SELECT * FROM ({query}) AS q LIMIT 0"))
        .await
        .map_err(|e| {
            TargetError::Invalid(format!(
                "the query cannot be run as a read: {}",
                describe_error(&e)
            ))
        })?;
    let columns: Vec<String> = statement
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    if columns.is_empty() {
        return Err(TargetError::Invalid("the query gives no columns".into()));
    }
    Ok(columns)
}

/// The dialect of the CSV a query's rows come in.
pub fn query_dialect() -> CsvDialect {
    CsvDialect {
        encoding: "UTF-8".into(),
        delimiter: ",".into(),
    }
}

/// Starts streaming the query's rows (at most `limit`), with a header, as
/// CSV. The rows are read in a read-only transaction of a connection of
/// their own.
pub async fn stream_query(
    params: &PgParams,
    query: &str,
    limit: Option<usize>,
) -> Result<QueryReader, TargetError> {
    let mut client = connect(params).await?;
    let limit = limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
    let copy = format!(
        "COPY (SELECT * FROM ({query}) AS q{limit}) TO STDOUT WITH (FORMAT csv, HEADER true)"
    );
    let (chunks, inbox) = mpsc::channel::<std::io::Result<bytes::Bytes>>(8);
    tokio::spawn(async move {
        let failed = |e: tokio_postgres::Error| {
            std::io::Error::other(format!("the query failed: {}", message_without_values(&e)))
        };
        let transaction = match client.transaction().await {
            Ok(transaction) => transaction,
            Err(e) => {
                let _ = chunks.send(Err(failed(e))).await;
                return;
            }
        };
        if let Err(e) = transaction.batch_execute("SET TRANSACTION READ ONLY").await {
            let _ = chunks.send(Err(failed(e))).await;
            return;
        }
        let stream = match transaction.copy_out(&copy).await {
            Ok(stream) => stream,
            Err(e) => {
                let _ = chunks.send(Err(failed(e))).await;
                return;
            }
        };
        futures_util::pin_mut!(stream);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(failed);
            let stop = chunk.is_err();
            // The reader went away: the run has stopped reading.
            if chunks.send(chunk).await.is_err() || stop {
                return;
            }
        }
    });
    Ok(QueryReader {
        inbox,
        current: bytes::Bytes::new(),
    })
}

/// A query's CSV as a blocking reader (for a blocking thread only).
pub struct QueryReader {
    inbox: mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    current: bytes::Bytes,
}

impl Read for QueryReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.inbox.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}
