//! The last resort of an insert: a batch that COPY refused twice is
//! written a row at a time, each row under a savepoint, so that the rows
//! the table refuses are reported and the others committed.

use super::batch::{agreed, begin, under_savepoint};
use super::checkpoint::{mark, Checkpoint};
use super::error::{db_error, describe_error, TargetError};
use super::insert::{sent, Identity};
use super::table::Table;
use super::writer::{Insert, Written};
use crate::journal::{Action, Change};
use std::future::Future;
use std::sync::Arc;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Transaction};
use uuid::Uuid;

/// A batch that COPY refused twice, to be written a row at a time.
pub(super) struct RowByRow<'a> {
    pub(super) table: &'a Table,
    /// The columns written, quoted; a generated key's last.
    pub(super) columns: &'a [String],
    pub(super) rows: &'a [Insert],
    /// The keys taken from the sequence, one per row (none when the key is
    /// mapped or the table has no sequence).
    pub(super) keys: &'a [i64],
    pub(super) identity: &'a Identity,
}

/// Writes the batch row by row, each under a savepoint, and records its
/// checkpoint: the rows the table refuses are reported, the others
/// committed.
pub(super) async fn one_by_one<H, F>(
    client: &mut Client,
    batch: &RowByRow<'_>,
    refused: i64,
    run: Uuid,
    previous: Checkpoint,
    before_commit: H,
) -> Result<(Arc<Written>, Checkpoint), TargetError>
where
    H: Fn(Arc<Written>) -> F,
    F: Future<Output = Result<(), String>>,
{
    let transaction = begin(client).await?;
    let insert = prepare_insert(&transaction, batch.table, batch.columns).await?;
    let mut written = Written::default();
    for (i, row) in batch.rows.iter().enumerate() {
        let mut values: Vec<Option<String>> = row.values.clone();
        if let Some(key) = batch.keys.get(i) {
            values.push(Some(key.to_string()));
        }
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = values
            .iter()
            .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        match under_savepoint(&transaction, transaction.query_one(&insert, &params)).await? {
            Ok(inserted) => written.ok.push(Change {
                number: row.number,
                action: Action::Created,
                key: batch.identity.key_with(i, row, batch.keys),
                version: inserted.get(0),
                before: None,
                wrote: Some(sent(&row.values)),
            }),
            Err(e) => written.failed.push((row.number, describe_error(&e))),
        }
    }
    let next = previous.next(
        written.ok.len() as i64,
        written.failed.len() as i64 + refused,
    );
    mark(&transaction, batch.table, run, next).await?;
    let written = Arc::new(written);
    agreed(before_commit(written.clone())).await?;
    transaction.commit().await.map_err(db_error)?;
    Ok((written, next))
}

/// The statement that inserts one row: each value sent as text and cast
/// to its column's type; it returns the row's version.
async fn prepare_insert(
    transaction: &Transaction<'_>,
    table: &Table,
    columns: &[String],
) -> Result<tokio_postgres::Statement, TargetError> {
    let types: Vec<String> = columns
        .iter()
        .map(|c| {
            let bare = c.trim_matches('"').replace("\"\"", "\"");
            table
                .column(&bare)
                .map(|col| col.sql_type.clone())
                .unwrap_or_else(|| "text".into())
        })
        .collect();
    let placeholders: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("${}::text::{t}", i + 1))
        .collect();
    transaction
        .prepare_typed(
            &format!(
                "INSERT INTO {} ({}) VALUES ({}) RETURNING xmin::text",
                table.qualified(),
                columns.join(", "),
                placeholders.join(", ")
            ),
            &vec![Type::TEXT; columns.len()],
        )
        .await
        .map_err(db_error)
}
