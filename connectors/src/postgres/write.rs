//! Update, upsert and delete: rows named by their key fields, a batch at a
//! time. The batch's values go to the server as arrays (one per field) and
//! one statement writes them all. Before an update or upsert writes, the
//! rows it is about to change are locked and read whole: those are the
//! before-images a rollback restores. A delete returns the rows it removed.
//!
//! Should a statement fail (a value or constraint the checks could not
//! see), the batch is written again row by row, each under a savepoint,
//! and the refused rows are reported.

use super::batch::{agreed, begin, under_savepoint};
use super::checkpoint::{mark, Checkpoint};
use super::error::{db_error, describe_error, TargetError};
use super::table::quote;
use super::writer::{Insert, Operation, Writer, Written};
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
        let parts = Parts::of(writer);
        let before = format!(
            "SELECT s.n, to_jsonb(t)::text FROM {} JOIN {} t ON {} \
             FOR UPDATE OF t",
            parts.source, parts.qualified, parts.matches
        );
        let write = match writer.operation {
            Operation::Update => parts.update(),
            Operation::Upsert => parts.upsert(),
            Operation::Delete | Operation::Insert => parts.delete(),
        };
        Self { before, write }
    }
}

/// The pieces the statements of a keyed write are made of.
struct Parts<'a> {
    writer: &'a Writer,
    qualified: String,
    /// The batch as a relation `s` of (row number `n`, values `v0`...),
    /// from the statement's arrays.
    source: String,
    /// Matches a table row `t` to its batch row `s` by the key fields.
    matches: String,
    /// The key fields of `t`, as text.
    keys_out: String,
    /// Where the fields besides the key are among the targets.
    others: Vec<usize>,
    /// The fields besides the key, of `t`, as text.
    wrote: String,
}

impl<'a> Parts<'a> {
    fn of(writer: &'a Writer) -> Self {
        let width = writer.targets.len();
        let arrays: Vec<String> = (0..width).map(|i| format!("${}::text[]", i + 2)).collect();
        let names: Vec<String> = (0..width).map(|i| format!("v{i}")).collect();
        let source = format!(
            "(SELECT * FROM unnest($1::int8[], {}) AS u(n, {})) s",
            arrays.join(", "),
            names.join(", ")
        );
        let mut parts = Self {
            writer,
            qualified: writer.table.qualified(),
            source,
            matches: String::new(),
            keys_out: String::new(),
            others: (0..width)
                .filter(|i| !writer.key_positions.contains(i))
                .collect(),
            wrote: String::new(),
        };
        let matches: Vec<String> = writer
            .key_fields
            .iter()
            .zip(&writer.key_positions)
            .map(|(k, at)| format!("t.{} = {}", quote(k), parts.cast(*at)))
            .collect();
        parts.matches = matches.join(" AND ");
        let keys_out: Vec<String> = writer
            .key_fields
            .iter()
            .map(|k| format!("t.{}::text", quote(k)))
            .collect();
        parts.keys_out = keys_out.join(", ");
        let wrote: Vec<String> = parts
            .others
            .iter()
            .map(|i| format!("t.{}::text", quote(&writer.targets[*i])))
            .collect();
        parts.wrote = wrote.join(", ");
        parts
    }

    /// The batch's value `i`, cast to its column's type.
    fn cast(&self, i: usize) -> String {
        let target = &self.writer.targets[i];
        let sql_type = self
            .writer
            .table
            .column(target)
            .map(|c| c.sql_type.as_str())
            .unwrap_or("text");
        format!("s.v{i}::{sql_type}")
    }

    /// Sets `column` of a row `t` to `value`; a blank value (NULL) leaves
    /// it as it is when the job says so.
    fn set(&self, column: &str, value: &str) -> String {
        match self.writer.leave_blanks {
            true => format!("{column} = COALESCE({value}, t.{column})"),
            false => format!("{column} = {value}"),
        }
    }

    /// Updates the rows named by the keys: (row number, version, keys,
    /// columns written).
    fn update(&self) -> String {
        let Self {
            qualified,
            source,
            matches,
            keys_out,
            wrote,
            ..
        } = self;
        let sets: Vec<String> = self
            .others
            .iter()
            .map(|i| {
                let column = quote(&self.writer.targets[*i]);
                let value = self.cast(*i);
                self.set(&column, &value)
            })
            .collect();
        format!(
            "UPDATE {qualified} t SET {} FROM {source} WHERE {matches} \
                 RETURNING s.n, t.xmin::text, {keys_out}, {wrote}",
            sets.join(", ")
        )
    }

    /// Inserts the rows, or updates those whose keys exist: (row number,
    /// version, keys, whether the row is new, columns written).
    fn upsert(&self) -> String {
        let writer = self.writer;
        let Self {
            qualified, source, ..
        } = self;
        let columns: Vec<String> = writer.targets.iter().map(|t| quote(t)).collect();
        let casts: Vec<String> = (0..writer.targets.len()).map(|i| self.cast(i)).collect();
        let sets: Vec<String> = self
            .others
            .iter()
            .map(|i| {
                let column = quote(&writer.targets[*i]);
                self.set(&column, &format!("EXCLUDED.{column}"))
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
            .map(|(i, at)| format!("w.k{i} = {}", self.cast(*at)))
            .collect();
        let keys: Vec<String> = (0..writer.key_fields.len())
            .map(|i| format!("w.k{i}::text"))
            .collect();
        let wrote_as: Vec<String> = self
            .others
            .iter()
            .enumerate()
            .map(|(i, at)| format!("t.{}::text AS c{i}", quote(&writer.targets[*at])))
            .collect();
        let wrote_out: Vec<String> = (0..self.others.len()).map(|i| format!("w.c{i}")).collect();
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

    /// Deletes the rows named by the keys: (row number, an empty version,
    /// keys, the row removed).
    fn delete(&self) -> String {
        let Self {
            qualified,
            source,
            matches,
            keys_out,
            ..
        } = self;
        format!(
            "DELETE FROM {qualified} t USING {source} WHERE {matches} \
             RETURNING s.n, '', {keys_out}, to_jsonb(t)::text"
        )
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
    Ok(in_row_order(writer, rows, ok))
}

/// The changes in the order of the batch's rows; a row that changed
/// nothing is refused, its key naming no row.
fn in_row_order(writer: &Writer, rows: &[Insert], mut ok: HashMap<i64, Change>) -> Written {
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
    written
}

/// Writes a batch of an update, upsert or delete and records its
/// checkpoint, in one transaction; should the statement fail for a reason
/// of the data, the batch is written again row by row.
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
