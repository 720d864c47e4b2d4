//! Update, upsert and delete: rows named by their key fields, a batch at a
//! time. The batch's values go to the server as arrays (one per field) and
//! one statement writes them all. Before an update or upsert writes, the
//! rows it is about to change are locked and read whole: those are the
//! before-images a rollback restores. A delete returns the rows it removed.
//!
//! Should a statement fail (a value or constraint the checks could not
//! see), the batch is written again row by row, each under a savepoint,
//! and the refused rows are reported.

use super::{
    agreed, begin, db_error, describe_error, mark, quote, under_savepoint, Checkpoint, Insert,
    Operation, TargetError, Writer, Written,
};
use crate::journal::{Action, Change};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Transaction};
use uuid::Uuid;

/// The statements of a keyed write, built once per batch.
struct Statements {
    /// Locks the rows named by the batch's keys and reads them whole.
    before: String,
    /// Writes the batch: rows of (row number, version, key values...),
    /// then for a delete the row removed, for an upsert whether the row is
    /// new, and for an update or upsert the text of each column written
    /// besides the key (what the rollback compares).
    write: String,
}

impl Statements {
    fn new(writer: &Writer) -> Self {
        let table = &writer.table;
        let qualified = table.qualified();
        let width = writer.targets.len();
        let arrays: Vec<String> = (0..width).map(|i| format!("${}::text[]", i + 2)).collect();
        let names: Vec<String> = (0..width).map(|i| format!("v{i}")).collect();
        let source = format!(
            "(SELECT * FROM unnest($1::int8[], {}) AS u(n, {})) s",
            arrays.join(", "),
            names.join(", ")
        );
        let cast = |i: usize| {
            let target = &writer.targets[i];
            let sql_type = table
                .column(target)
                .map(|c| c.sql_type.as_str())
                .unwrap_or("text");
            format!("s.v{i}::{sql_type}")
        };
        let matches: Vec<String> = writer
            .key_fields
            .iter()
            .zip(&writer.key_positions)
            .map(|(k, at)| format!("t.{} = {}", quote(k), cast(*at)))
            .collect();
        let matches = matches.join(" AND ");
        let keys_out: Vec<String> = writer
            .key_fields
            .iter()
            .map(|k| format!("t.{}::text", quote(k)))
            .collect();
        let keys_out = keys_out.join(", ");
        let others: Vec<usize> = (0..width)
            .filter(|i| !writer.key_positions.contains(i))
            .collect();
        let before = format!(
            "SELECT s.n, to_jsonb(t)::text FROM {source} JOIN {qualified} t ON {matches} \
             FOR UPDATE OF t"
        );
        let wrote: Vec<String> = others
            .iter()
            .map(|i| format!("t.{}::text", quote(&writer.targets[*i])))
            .collect();
        let wrote = wrote.join(", ");
        let write = match writer.operation {
            Operation::Update => {
                let sets: Vec<String> = others
                    .iter()
                    .map(|i| format!("{} = {}", quote(&writer.targets[*i]), cast(*i)))
                    .collect();
                format!(
                    "UPDATE {qualified} t SET {} FROM {source} WHERE {matches} \
                         RETURNING s.n, t.xmin::text, {keys_out}, {wrote}",
                    sets.join(", ")
                )
            }
            Operation::Upsert => {
                let columns: Vec<String> = writer.targets.iter().map(|t| quote(t)).collect();
                let casts: Vec<String> = (0..width).map(cast).collect();
                let sets: Vec<String> = others
                    .iter()
                    .map(|i| {
                        let column = quote(&writer.targets[*i]);
                        format!("{column} = EXCLUDED.{column}")
                    })
                    .collect();
                let conflict: Vec<String> = writer.key_fields.iter().map(|k| quote(k)).collect();
                let returned: Vec<String> = writer
                    .key_fields
                    .iter()
                    .enumerate()
                    .map(|(i, k)| format!("t.{} AS k{i}", quote(k)))
                    .collect();
                let joined: Vec<String> = writer
                    .key_positions
                    .iter()
                    .enumerate()
                    .map(|(i, at)| format!("w.k{i} = {}", cast(*at)))
                    .collect();
                let keys: Vec<String> = (0..writer.key_fields.len())
                    .map(|i| format!("w.k{i}::text"))
                    .collect();
                let wrote_as: Vec<String> = others
                    .iter()
                    .enumerate()
                    .map(|(i, at)| format!("t.{}::text AS c{i}", quote(&writer.targets[*at])))
                    .collect();
                let wrote_out: Vec<String> = (0..others.len()).map(|i| format!("w.c{i}")).collect();
                format!(
                    "WITH w AS (INSERT INTO {qualified} AS t ({}) SELECT {} FROM {source} \
                         ON CONFLICT ({}) DO UPDATE SET {} \
                         RETURNING t.xmin::text AS x, t.xmax = 0 AS fresh, {}, {}) \
                         SELECT s.n, w.x, {}, w.fresh, {} FROM w JOIN {source} ON {}",
                    columns.join(", "),
                    casts.join(", "),
                    conflict.join(", "),
                    sets.join(", "),
                    returned.join(", "),
                    wrote_as.join(", "),
                    keys.join(", "),
                    wrote_out.join(", "),
                    joined.join(" AND ")
                )
            }
            Operation::Delete | Operation::Insert => format!(
                "DELETE FROM {qualified} t USING {source} WHERE {matches} \
                 RETURNING s.n, '', {keys_out}, to_jsonb(t)::text"
            ),
        };
        Self { before, write }
    }
}

/// Writes the rows and returns what changed; rows whose key names no row
/// (update, delete) are refused.
async fn apply(
    transaction: &Transaction<'_>,
    writer: &Writer,
    statements: &Statements,
    rows: &[Insert],
) -> Result<Written, tokio_postgres::Error> {
    let numbers: Vec<i64> = rows
        .iter()
        .map(|r| i64::try_from(r.number).unwrap_or(i64::MAX))
        .collect();
    let columns: Vec<Vec<Option<String>>> = (0..writer.targets.len())
        .map(|i| {
            rows.iter()
                .map(|r| r.values.get(i).cloned().flatten())
                .collect()
        })
        .collect();
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&numbers];
    params.extend(columns.iter().map(|c| c as &(dyn ToSql + Sync)));

    let mut before: HashMap<i64, String> = HashMap::new();
    if writer.operation != Operation::Delete {
        for row in transaction.query(&statements.before, &params).await? {
            before.insert(row.get(0), row.get(1));
        }
    }
    let keys = writer.key_fields.len();
    let set = writer.targets.len() - keys;
    let mut ok: HashMap<i64, Change> = HashMap::with_capacity(rows.len());
    for row in transaction.query(&statements.write, &params).await? {
        let number: i64 = row.get(0);
        let key: Vec<String> = (0..keys).map(|i| row.get(2 + i)).collect();
        let wrote = |from: usize| {
            (from..from + set)
                .map(|i| {
                    row.get::<_, Option<String>>(i)
                        .map_or(serde_json::Value::Null, serde_json::Value::String)
                })
                .collect::<Vec<_>>()
        };
        let wrote = match writer.operation {
            Operation::Delete | Operation::Insert => None,
            Operation::Update => Some(wrote(2 + keys)),
            Operation::Upsert => Some(wrote(3 + keys)),
        };
        let (action, image) = match writer.operation {
            Operation::Delete | Operation::Insert => (Action::Deleted, row.get(2 + keys)),
            Operation::Update => (Action::Updated, before.remove(&number)),
            // The statement says which rows it inserted (a new row has
            // no xmax): a row that someone else inserted after the
            // before-images were read is updated without one, and its
            // rollback reports it rather than deleting it.
            Operation::Upsert if row.get::<_, bool>(2 + keys) => (Action::Created, None),
            Operation::Upsert => (Action::Updated, before.remove(&number)),
        };
        ok.insert(
            number,
            Change {
                number: u64::try_from(number).unwrap_or_default(),
                action,
                key,
                version: row.get(1),
                before: image,
                wrote,
            },
        );
    }
    let mut written = Written::default();
    for row in rows {
        let number = i64::try_from(row.number).unwrap_or(i64::MAX);
        match ok.remove(&number) {
            Some(change) => written.ok.push(change),
            None => written.failed.push((
                row.number,
                format!(
                    "no row of {} has this {}",
                    writer.table.name,
                    writer.key_fields.join(" and ")
                ),
            )),
        }
    }
    Ok(written)
}

pub(super) async fn keyed_batch<H, F>(
    writer: &Writer,
    client: &mut Client,
    rows: Vec<Insert>,
    refused: i64,
    run: Uuid,
    checkpoint: Checkpoint,
    before_commit: H,
) -> Result<(Arc<Written>, Checkpoint), TargetError>
where
    H: Fn(Arc<Written>) -> F,
    F: Future<Output = Result<(), String>>,
{
    let statements = Statements::new(writer);
    let transaction = begin(client).await?;
    match apply(&transaction, writer, &statements, &rows).await {
        Ok(written) => {
            let close = (run, checkpoint, refused);
            return commit(transaction, writer, close, written, before_commit).await;
        }
        Err(e) if e.as_db_error().is_some() => transaction.rollback().await.map_err(db_error)?,
        Err(e) => return Err(db_error(e)),
    }
    let transaction = begin(client).await?;
    let mut written = Written::default();
    for row in &rows {
        let one = apply(&transaction, writer, &statements, std::slice::from_ref(row));
        match under_savepoint(&transaction, one).await? {
            Ok(one) => {
                written.ok.extend(one.ok);
                written.failed.extend(one.failed);
            }
            Err(e) => written.failed.push((row.number, describe_error(&e))),
        }
    }
    commit(
        transaction,
        writer,
        (run, checkpoint, refused),
        written,
        before_commit,
    )
    .await
}

/// Records the batch's checkpoint and commits, once `before_commit` agrees.
async fn commit<H, F>(
    transaction: Transaction<'_>,
    writer: &Writer,
    (run, checkpoint, refused): (Uuid, Checkpoint, i64),
    written: Written,
    before_commit: H,
) -> Result<(Arc<Written>, Checkpoint), TargetError>
where
    H: Fn(Arc<Written>) -> F,
    F: Future<Output = Result<(), String>>,
{
    let next = checkpoint.next(
        written.ok.len() as i64,
        written.failed.len() as i64 + refused,
    );
    mark(&transaction, &writer.table, run, next).await?;
    let written = Arc::new(written);
    agreed(before_commit(written.clone())).await?;
    transaction.commit().await.map_err(db_error)?;
    Ok((written, next))
}
