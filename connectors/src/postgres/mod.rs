//! PostgreSQL as a target: connecting with a stored connection's settings,
//! describing a table, validating values against its columns, and writing
//! batches with COPY, each batch committed together with its checkpoint
//! marker in the target database, so that a run resumed after a crash never
//! writes a batch twice.
//!
//! The checkpoint markers live in `_sluice_checkpoints`, created beside the
//! target table (in its schema) on the first run.

use futures_util::SinkExt;
use std::future::Future;
use std::sync::Arc;
use tokio_postgres::types::Type;
pub use tokio_postgres::Client;
use uuid::Uuid;

use crate::journal::{Action, Change};

mod connect;
mod lookup;
mod query;
mod revert;
pub mod tls;
mod write;

pub use connect::{
    connect, test_connection, ConnectFailure, FailureKind, PgParams, CONNECT_TIMEOUT,
};
pub use lookup::Lookups;
pub use query::{
    describe_query, normalize_query, query_dialect, stream_query, QueryReader, MAX_QUERY,
};
pub use revert::{own_versions, revert_batch, Reverted, Undo};
pub use tls::{SslMode, MAX_CA_CERT};

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The database cannot be reached or refused the credentials.
    #[error("{0}")]
    Connect(String),
    /// The table or the mapping does not fit.
    #[error("{0}")]
    Invalid(String),
    /// A statement failed for a reason other than the data.
    #[error("{0}")]
    Database(String),
    /// The caller's own step before the commit failed; nothing was committed.
    #[error("{0}")]
    Aborted(String),
}

/// A failure of a statement that carries no row of its own (a batch, a
/// lookup, a query); it ends a run, so its message goes to an event.
fn db_error(e: tokio_postgres::Error) -> TargetError {
    TargetError::Database(message_without_values(&e))
}

/// The server's message without anything that can quote a value: no
/// detail, and for a data error (SQLSTATE class 22, such as `invalid input
/// syntax for type integer: "abc"`) its quoted parts blanked out.
pub(crate) fn message_without_values(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) if db.code().code().starts_with("22") => blank_quoted(db.message()),
        Some(db) => db.message().to_owned(),
        None => e.to_string(),
    }
}

/// `text` with every double-quoted part replaced by `"…"`.
fn blank_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, part) in text.split('"').enumerate() {
        if i > 0 {
            out.push('"');
        }
        out.push_str(if i % 2 == 1 { "…" } else { part });
    }
    out
}

/// A row's database error as a user can act on it: its message, detail and
/// column. The detail can quote the row's values: it goes to the run's
/// encrypted errors.csv, never to an event or a log.
pub fn describe_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = db.message().to_owned();
            if let Some(column) = db.column() {
                text = format!("{column}: {text}");
            }
            if let Some(detail) = db.detail() {
                text.push_str(" (");
                text.push_str(detail);
                text.push(')');
            }
            text
        }
        None => e.to_string(),
    }
}

/// A column of the target table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// The type's name (`int4`, `text`, `timestamptz`...).
    pub type_name: String,
    /// The type as SQL writes it, without its length or precision
    /// (`integer`, `character varying`, `crm.mood`...): text is cast to it,
    /// and the column's own limits are then enforced on assignment.
    pub sql_type: String,
    pub nullable: bool,
    pub has_default: bool,
    /// For `varchar(n)` and `char(n)`.
    pub max_length: Option<i32>,
}

/// What a run needs to know of its target table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub schema: String,
    pub name: String,
    pub columns: Vec<Column>,
    /// The primary key's columns.
    pub primary_key: Vec<String>,
    /// The sequence behind a one-column primary key, if it has one.
    pub key_sequence: Option<String>,
    /// The column sets of every unique constraint and index (the primary
    /// key's among them).
    pub unique_keys: Vec<Vec<String>>,
}

impl Table {
    /// `"schema"."name"`, quoted.
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote(&self.schema), quote(&self.name))
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The one-column primary key, if the table has one.
    pub fn single_key(&self) -> Option<&str> {
        match self.primary_key.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// Whether `fields` are exactly the columns of a unique constraint or
    /// index, so that they name at most one row.
    pub fn is_unique(&self, fields: &[String]) -> bool {
        let wanted: std::collections::BTreeSet<&str> = fields.iter().map(String::as_str).collect();
        wanted.len() == fields.len()
            && self.unique_keys.iter().any(|key| {
                key.len() == wanted.len() && key.iter().all(|c| wanted.contains(c.as_str()))
            })
    }
}

/// An identifier, quoted for SQL.
pub fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// Describes `object` (`table` in `public`, or `schema.table`).
pub async fn describe(client: &Client, object: &str) -> Result<Table, TargetError> {
    let (schema, name) = match object.split_once('.') {
        Some((schema, name)) => (schema.to_owned(), name.to_owned()),
        None => ("public".to_owned(), object.to_owned()),
    };
    let rows = client
        .query(
            "SELECT a.attname::text, t.typname::text, NOT a.attnotnull, a.atthasdef OR a.attidentity <> '', \
                    CASE WHEN a.atttypmod > 4 AND t.typname IN ('varchar', 'bpchar') THEN a.atttypmod - 4 END, \
                    format_type(a.atttypid, NULL) \
             FROM pg_attribute a \
             JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_type t ON t.oid = a.atttypid \
             WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') \
               AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' \
             ORDER BY a.attnum",
            &[&schema, &name],
        )
        .await
        .map_err(db_error)?;
    if rows.is_empty() {
        return Err(TargetError::Invalid(format!(
            "the database has no table {schema}.{name} (or this user cannot see it)"
        )));
    }
    let columns = rows
        .iter()
        .map(|r| Column {
            name: r.get(0),
            type_name: r.get(1),
            nullable: r.get(2),
            has_default: r.get(3),
            max_length: r.get(4),
            sql_type: r.get(5),
        })
        .collect();
    let key_rows = client
        .query(
            "SELECT a.attname::text FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) \
             WHERE n.nspname = $1 AND c.relname = $2 AND i.indisprimary \
             ORDER BY array_position(i.indkey, a.attnum)",
            &[&schema, &name],
        )
        .await
        .map_err(db_error)?;
    let primary_key: Vec<String> = key_rows.iter().map(|r| r.get(0)).collect();
    let unique_rows = client
        .query(
            "SELECT array_agg(a.attname::text ORDER BY k.n) FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum \
             WHERE n.nspname = $1 AND c.relname = $2 AND i.indisunique \
               AND i.indpred IS NULL AND i.indexprs IS NULL \
             GROUP BY i.indexrelid",
            &[&schema, &name],
        )
        .await
        .map_err(db_error)?;
    let unique_keys = unique_rows.iter().map(|r| r.get(0)).collect();
    let key_sequence = match primary_key.as_slice() {
        [one] => client
            .query_one(
                "SELECT pg_get_serial_sequence($1, $2)",
                &[&format!("{}.{}", quote(&schema), quote(&name)), one],
            )
            .await
            .map_err(db_error)?
            .get::<_, Option<String>>(0),
        _ => None,
    };
    Ok(Table {
        schema,
        name,
        columns,
        primary_key,
        key_sequence,
        unique_keys,
    })
}

/// Checks one value against its column; the message says what is wrong.
pub fn check_value(column: &Column, value: Option<&str>) -> Result<(), String> {
    let Some(value) = value else {
        return if column.nullable || column.has_default {
            Ok(())
        } else {
            Err(format!("{}: a value is required", column.name))
        };
    };
    let fits = match column.type_name.as_str() {
        "int2" => value.trim().parse::<i16>().is_ok(),
        "int4" => value.trim().parse::<i32>().is_ok(),
        "int8" => value.trim().parse::<i64>().is_ok(),
        "float4" | "float8" => value.trim().parse::<f64>().is_ok(),
        "numeric" => {
            let v = value.trim().trim_start_matches(['-', '+']);
            !v.is_empty()
                && v.matches('.').count() <= 1
                && v.chars().all(|c| c.is_ascii_digit() || c == '.')
        }
        "bool" => matches!(
            value.trim().to_ascii_lowercase().as_str(),
            "t" | "f" | "true" | "false" | "yes" | "no" | "y" | "n" | "1" | "0" | "on" | "off"
        ),
        "uuid" => Uuid::parse_str(value.trim()).is_ok(),
        "date" => is_iso_date(value.trim()),
        _ => true,
    };
    if !fits {
        return Err(format!(
            "{}: \"{}\" is not a valid {}",
            column.name,
            value.chars().take(40).collect::<String>(),
            type_label(&column.type_name)
        ));
    }
    if let Some(max) = column.max_length {
        let n = value.chars().count();
        if n > usize::try_from(max).unwrap_or(usize::MAX) {
            return Err(format!(
                "{}: {n} characters, more than the {max} allowed",
                column.name
            ));
        }
    }
    if value.contains('\0') {
        return Err(format!(
            "{}: the value contains a NUL character",
            column.name
        ));
    }
    Ok(())
}

/// Whether `value` is a date written `YYYY-MM-DD` (checked without a
/// format parser: every row's dates pass through here).
fn is_iso_date(value: &str) -> bool {
    let b = value.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(0..4) {
        return false;
    }
    if !digits(5..7) || !digits(8..10) {
        return false;
    }
    let number =
        |r: std::ops::Range<usize>| b[r].iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    let year = i32::try_from(number(0..4)).unwrap_or_default();
    chrono::NaiveDate::from_ymd_opt(year, number(5..7), number(8..10)).is_some()
}

fn type_label(type_name: &str) -> &str {
    match type_name {
        "int2" | "int4" | "int8" => "whole number",
        "float4" | "float8" | "numeric" => "number",
        "bool" => "true/false value",
        "date" => "date (YYYY-MM-DD)",
        other => other,
    }
}

/// The last batch committed for a run: `(batch, rows written, rows failed)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checkpoint {
    pub batch: i64,
    pub rows_ok: i64,
    pub rows_failed: i64,
}

impl Checkpoint {
    /// The checkpoint of the next batch, which wrote `ok` rows and failed
    /// `failed`.
    pub fn next(self, ok: i64, failed: i64) -> Self {
        Self {
            batch: self.batch + 1,
            rows_ok: self.rows_ok + ok,
            rows_failed: self.rows_failed + failed,
        }
    }
}

/// What a batch follows: the checkpoint of the batch before it, once that
/// batch has committed (an error if it did not).
pub type After = std::pin::Pin<Box<dyn Future<Output = Result<Checkpoint, TargetError>> + Send>>;

/// A batch that follows `checkpoint`, already committed.
pub fn after(checkpoint: Checkpoint) -> After {
    Box::pin(std::future::ready(Ok(checkpoint)))
}

/// The advisory lock under which the checkpoint table is created.
const CHECKPOINTS_LOCK: i64 = 0x511c_e000_0001;

fn checkpoints(table: &Table) -> String {
    format!("{}.\"_sluice_checkpoints\"", quote(&table.schema))
}

/// Creates the checkpoint table if needed and reads the run's last marker.
pub async fn last_checkpoint(
    client: &Client,
    table: &Table,
    run: Uuid,
) -> Result<Checkpoint, TargetError> {
    let markers = checkpoints(table);
    // Runs that start together on a new target would race to create the
    // table (`IF NOT EXISTS` does not stop two creations at once): they take
    // turns under a transaction-scoped advisory lock.
    let created = client
        .batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({CHECKPOINTS_LOCK}); \
             CREATE TABLE IF NOT EXISTS {markers} (\
                run_id UUID NOT NULL, batch BIGINT NOT NULL, rows_ok BIGINT NOT NULL, \
                rows_failed BIGINT NOT NULL, committed_at TIMESTAMPTZ NOT NULL DEFAULT now(), \
                PRIMARY KEY (run_id, batch)); \
             COMMIT"
        ))
        .await;
    if let Err(e) = created {
        let _ = client.batch_execute("ROLLBACK").await;
        return Err(TargetError::Invalid(format!(
            "Sluice keeps its progress in {markers} and could not create it: {}",
            describe_error(&e)
        )));
    }
    let row = client
        .query_opt(
            &format!("SELECT batch, rows_ok, rows_failed FROM {markers} WHERE run_id = $1 ORDER BY batch DESC LIMIT 1"),
            &[&run],
        )
        .await
        .map_err(db_error)?;
    Ok(row
        .map(|r| Checkpoint {
            batch: r.get(0),
            rows_ok: r.get(1),
            rows_failed: r.get(2),
        })
        .unwrap_or_default())
}

/// A batch's transaction. Its commit does not wait for the disk: should
/// the server crash, the batch and its checkpoint are lost together and the
/// run redoes them; [`flush`] makes everything durable at the end.
async fn begin(client: &mut Client) -> Result<tokio_postgres::Transaction<'_>, TargetError> {
    let transaction = client.transaction().await.map_err(db_error)?;
    transaction
        .batch_execute("SET LOCAL synchronous_commit TO off")
        .await
        .map_err(db_error)?;
    Ok(transaction)
}

/// Makes every batch of the run durable: a committed transaction that waits
/// for the disk also flushes all that were committed before it.
pub async fn flush(
    client: &Client,
    table: &Table,
    run: Uuid,
    checkpoint: Checkpoint,
) -> Result<(), TargetError> {
    client
        .execute(
            &format!(
                "UPDATE {} SET committed_at = now() WHERE run_id = $1 AND batch = $2",
                checkpoints(table)
            ),
            &[&run, &checkpoint.batch],
        )
        .await
        .map_err(db_error)?;
    Ok(())
}

/// One row to write: its source row number and its values, in the order
/// of the writer's fields.
pub struct Insert {
    pub number: u64,
    pub values: Vec<Option<String>>,
}

/// What happened to a batch's rows.
#[derive(Debug, Default)]
pub struct Written {
    /// The rows written, as the run's journal records them.
    pub ok: Vec<Change>,
    /// Source row number and why it was refused.
    pub failed: Vec<(u64, String)>,
}

/// What a run does to its target's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Insert,
    /// Changes the rows named by the key fields.
    Update,
    /// Changes the rows named by the key fields, inserting those missing.
    Upsert,
    /// Deletes the rows named by the key fields.
    Delete,
}

impl Operation {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "insert" => Some(Self::Insert),
            "update" => Some(Self::Update),
            "upsert" => Some(Self::Upsert),
            "delete" => Some(Self::Delete),
            _ => None,
        }
    }
}

/// A run's writes to its table: the operation, the mapped fields and the
/// key fields, checked against the table before any row.
#[derive(Debug, Clone)]
pub struct Writer {
    table: Table,
    operation: Operation,
    targets: Vec<String>,
    key_fields: Vec<String>,
    /// Where each key field is among the targets.
    key_positions: Vec<usize>,
}

impl Writer {
    /// Checks that the mapped fields (`targets`) and `key_fields` fit the
    /// table and the operation: each field exists and is mapped once; an
    /// insert or upsert gives every column that needs a value one; an
    /// update, upsert or delete names its rows by key fields that are
    /// mapped and unique in the table.
    pub fn new(
        table: Table,
        operation: Operation,
        targets: &[&str],
        key_fields: &[String],
    ) -> Result<Self, TargetError> {
        let invalid = |m: String| Err(TargetError::Invalid(m));
        let mut seen = std::collections::BTreeSet::new();
        for target in targets {
            if table.column(target).is_none() {
                return invalid(format!("{} has no column \"{target}\"", table.name));
            }
            if !seen.insert(*target) {
                return invalid(format!("\"{target}\" is mapped twice"));
            }
        }
        if matches!(operation, Operation::Insert | Operation::Upsert) {
            let missing: Vec<&str> = table
                .columns
                .iter()
                .filter(|c| !c.nullable && !c.has_default && !seen.contains(c.name.as_str()))
                .map(|c| c.name.as_str())
                .collect();
            if !missing.is_empty() {
                return invalid(format!(
                    "{} needs a value for {}: map them",
                    table.name,
                    missing.join(", ")
                ));
            }
        }
        let mut key_positions = Vec::with_capacity(key_fields.len());
        if operation == Operation::Insert {
            if !key_fields.is_empty() {
                return invalid("an insert takes no key fields".into());
            }
        } else {
            if key_fields.is_empty() {
                return invalid(
                    "give key_fields: the fields that name the rows to change, such as email"
                        .into(),
                );
            }
            for key in key_fields {
                match targets.iter().position(|t| t == key) {
                    Some(at) => key_positions.push(at),
                    None => return invalid(format!("the key field \"{key}\" is not mapped")),
                }
            }
            if !table.is_unique(key_fields) {
                return invalid(format!(
                    "{} has no unique constraint or index on exactly {}, so a key could name \
                     several rows: add one, or choose other key fields",
                    table.name,
                    key_fields.join(", ")
                ));
            }
            let others = targets.len() - key_fields.len();
            match operation {
                Operation::Delete if others > 0 => {
                    return invalid("a delete maps only its key fields".into())
                }
                Operation::Update | Operation::Upsert if others == 0 => {
                    return invalid("map at least one field besides the key fields".into())
                }
                _ => {}
            }
        }
        Ok(Self {
            table,
            operation,
            targets: targets.iter().map(|t| (*t).to_owned()).collect(),
            key_fields: key_fields.to_vec(),
            key_positions,
        })
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// Where the key fields are in a row's values (none for an insert).
    pub fn key_positions(&self) -> &[usize] {
        &self.key_positions
    }

    /// The columns that name a row in the run's journal: the primary key
    /// for an insert, the key fields otherwise.
    pub fn journal_key(&self) -> &[String] {
        match self.operation {
            Operation::Insert => &self.table.primary_key,
            _ => &self.key_fields,
        }
    }

    /// Writes a batch and records its checkpoint, in one transaction: the
    /// batch's checkpoint, which it returns with what it wrote.
    ///
    /// The batch commits only once `after` gives the checkpoint of the batch
    /// before it, so batches commit in order; an insert writes its rows
    /// while it waits, so that two batches on two connections overlap.
    ///
    /// `refused` counts the batch's rows already refused before writing
    /// (they count in the checkpoint's failed rows). `before_commit` gets
    /// what is about to be committed and can still stop it (an error aborts
    /// the batch). An insert calls it while COPY runs, so that the two
    /// overlap, and calls it again with the final outcome should COPY fail.
    /// `copy_text`, the rows already in COPY's format, spares an insert
    /// building it.
    #[expect(clippy::too_many_arguments, reason = "the batch's whole context")]
    pub async fn write<H, F>(
        &self,
        client: &mut Client,
        rows: Vec<Insert>,
        copy_text: Option<CopyText>,
        refused: i64,
        run: Uuid,
        after: After,
        before_commit: H,
    ) -> Result<(Arc<Written>, Checkpoint), TargetError>
    where
        H: Fn(Arc<Written>) -> F,
        F: Future<Output = Result<(), String>>,
    {
        let targets: Vec<&str> = self.targets.iter().map(String::as_str).collect();
        if rows.is_empty() {
            let next = after.await?.next(0, refused);
            let transaction = begin(client).await?;
            mark(&transaction, &self.table, run, next).await?;
            let written = Arc::new(Written::default());
            agreed(before_commit(written.clone())).await?;
            transaction.commit().await.map_err(db_error)?;
            return Ok((written, next));
        }
        match self.operation {
            Operation::Insert => {
                insert_batch(
                    client,
                    &self.table,
                    &targets,
                    rows,
                    copy_text,
                    refused,
                    run,
                    after,
                    before_commit,
                )
                .await
            }
            _ => {
                let previous = after.await?;
                write::keyed_batch(self, client, rows, refused, run, previous, before_commit).await
            }
        }
    }
}

/// Inserts a batch with COPY and records its checkpoint, in one
/// transaction. Without the one-column key mapped, keys are taken from its
/// sequence first, so every new row's key is known. Should COPY fail, it is
/// tried once more after the batch before has committed (a row may refer
/// to one of that batch); should it fail again (a constraint the checks
/// could not see), the batch is written row by row, each under a
/// savepoint, and the refused rows are reported.
#[expect(clippy::too_many_arguments, reason = "the batch's whole context")]
async fn insert_batch<H, F>(
    client: &mut Client,
    table: &Table,
    targets: &[&str],
    rows: Vec<Insert>,
    copy_text: Option<CopyText>,
    refused: i64,
    run: Uuid,
    after: After,
    before_commit: H,
) -> Result<(Arc<Written>, Checkpoint), TargetError>
where
    H: Fn(Arc<Written>) -> F,
    F: Future<Output = Result<(), String>>,
{
    let mut columns: Vec<String> = targets.iter().map(|t| quote(t)).collect();
    let key = table.single_key();
    let key_index = key.and_then(|k| targets.iter().position(|t| *t == k));
    let mut keys: Vec<i64> = Vec::new();
    let generated = key_index.is_none() && key.is_some() && table.key_sequence.is_some();
    let transaction = begin(client).await?;
    // The rows COPY writes carry the transaction's id as their version.
    let version: String;
    if let (true, Some(key), Some(sequence)) = (generated, key, &table.key_sequence) {
        // One row holding every key, in binary: far cheaper to send and
        // read than a row per key. The sequence's name is looked up once
        // (OFFSET 0 keeps the planner from doing it for every key).
        let n = i64::try_from(rows.len()).unwrap_or(i64::MAX);
        let taken = transaction
            .query_one(
                "SELECT array_agg(nextval(q.sequence)), (txid_current() % 4294967296)::text \
                 FROM (SELECT $1::text::regclass AS sequence OFFSET 0) q, \
                      generate_series(1, $2::int8)",
                &[sequence, &n],
            )
            .await
            .map_err(db_error)?;
        keys = taken.get(0);
        version = taken.get(1);
        columns.push(quote(key));
    } else {
        version = transaction_version(&transaction).await?;
    }
    // COPY takes a generated key first, so that it is put before each
    // row's text as it is.
    let copy_columns: Vec<&str> = if keys.is_empty() {
        columns.iter().map(String::as_str).collect()
    } else {
        columns
            .last()
            .into_iter()
            .chain(&columns[..columns.len() - 1])
            .map(String::as_str)
            .collect()
    };
    let copy = format!(
        "COPY {} ({}) FROM STDIN",
        table.qualified(),
        copy_columns.join(", ")
    );
    let identity = Identity::of(table, targets, !keys.is_empty());
    let mut rows = rows;
    let text = match copy_text {
        Some(text) if text.ends.len() == rows.len() => {
            // The rows came as COPY's text alone; the values of a mapped
            // key are read back from it.
            if identity.reads_values() {
                fill_values(&mut rows, &text);
            }
            text
        }
        _ => {
            let mut text = CopyText::default();
            for row in &rows {
                text.push_row(&row.values);
            }
            text
        }
    };
    let buffer = if keys.is_empty() {
        text.text.clone()
    } else {
        let mut buffer = Vec::with_capacity(text.text.len() + keys.len() * 12);
        let mut start = 0;
        let mut number = itoa::Buffer::new();
        for (key, &end) in keys.iter().zip(&text.ends) {
            buffer.extend_from_slice(number.format(*key).as_bytes());
            buffer.push(b'\t');
            buffer.extend_from_slice(&text.text[start..end]);
            start = end;
        }
        buffer
    };
    // The journal keeps the values sent (a rollback compares them in the
    // column's type), so rows that came as COPY's text alone get theirs.
    if rows.iter().any(|r| r.values.len() != targets.len()) {
        fill_values(&mut rows, &text);
    }
    let written_as = |version: &str| {
        let ok = rows
            .iter()
            .enumerate()
            .map(|(i, r)| Change {
                number: r.number,
                action: Action::Created,
                key: identity.key_with(i, r, &keys),
                version: version.to_owned(),
                before: None,
                wrote: Some(sent(&r.values)),
            })
            .collect();
        Arc::new(Written {
            ok,
            failed: Vec::new(),
        })
    };
    let payload = bytes::Bytes::from(buffer);
    let count = rows.len() as i64;

    let written = written_as(&version);
    let copied = copy_attempt(
        transaction,
        &copy,
        payload.clone(),
        &written,
        &before_commit,
    );
    if let Some(transaction) = copied.await? {
        let next = after.await?.next(count, refused);
        mark(&transaction, table, run, next).await?;
        transaction.commit().await.map_err(db_error)?;
        return Ok((written, next));
    }
    let previous = after.await?;
    // Rows may refer (by a foreign key) to rows of the batch before, which
    // COPY could not see until that batch committed: now it has, COPY once
    // more before writing row by row.
    let transaction = begin(client).await?;
    let written = written_as(&transaction_version(&transaction).await?);
    let copied = copy_attempt(transaction, &copy, payload, &written, &before_commit);
    if let Some(transaction) = copied.await? {
        let next = previous.next(count, refused);
        mark(&transaction, table, run, next).await?;
        transaction.commit().await.map_err(db_error)?;
        return Ok((written, next));
    }
    if rows.iter().any(|r| r.values.len() != targets.len()) {
        fill_values(&mut rows, &text);
    }
    one_by_one(
        client,
        table,
        &columns,
        &rows,
        &keys,
        &identity,
        refused,
        run,
        previous,
        before_commit,
    )
    .await
}

/// Sends a batch's rows to `COPY ... FROM STDIN` while `before_commit`
/// writes what is about to be committed: the transaction back, to commit,
/// or `None` (rolled back) if COPY refused the rows.
async fn copy_attempt<'a, H, F>(
    transaction: tokio_postgres::Transaction<'a>,
    copy: &str,
    payload: bytes::Bytes,
    written: &Arc<Written>,
    before_commit: &H,
) -> Result<Option<tokio_postgres::Transaction<'a>>, TargetError>
where
    H: Fn(Arc<Written>) -> F,
    F: Future<Output = Result<(), String>>,
{
    let copy_rows = async {
        let sink = transaction.copy_in(copy).await?;
        futures_util::pin_mut!(sink);
        sink.send(payload).await?;
        sink.finish().await
    };
    let (copied, agreed_to) = futures_util::join!(copy_rows, before_commit(written.clone()));
    if copied.is_err() {
        transaction.rollback().await.map_err(db_error)?;
        return Ok(None);
    }
    agreed_to.map_err(TargetError::Aborted)?;
    Ok(Some(transaction))
}

/// The transaction's id as its rows' `xmin` shows it.
async fn transaction_version(
    transaction: &tokio_postgres::Transaction<'_>,
) -> Result<String, TargetError> {
    Ok(transaction
        .query_one("SELECT (txid_current() % 4294967296)::text", &[])
        .await
        .map_err(db_error)?
        .get(0))
}

/// How an inserted row's primary key is known: from its mapped values, or
/// from the keys taken from the sequence.
struct Identity {
    /// Where each primary-key column is among the values; `None` for a key
    /// taken from the sequence.
    positions: Option<Vec<Option<usize>>>,
}

impl Identity {
    fn of(table: &Table, targets: &[&str], generated: bool) -> Self {
        let positions: Option<Vec<Option<usize>>> = table
            .primary_key
            .iter()
            .map(|k| match targets.iter().position(|t| t == k) {
                Some(at) => Some(Some(at)),
                None if generated => Some(None),
                None => None,
            })
            .collect();
        Self {
            positions: positions.filter(|p| !p.is_empty()),
        }
    }

    /// Whether the key is read from the rows' values.
    fn reads_values(&self) -> bool {
        self.positions
            .as_ref()
            .is_some_and(|p| p.iter().any(Option::is_some))
    }

    /// Row `i`'s key (taken from `generated` where the sequence made it);
    /// empty when it is not known.
    fn key_with(&self, i: usize, row: &Insert, generated: &[i64]) -> Vec<String> {
        let Some(positions) = &self.positions else {
            return Vec::new();
        };
        positions
            .iter()
            .map(|at| match at {
                Some(at) => row.values.get(*at).cloned().flatten().unwrap_or_default(),
                None => generated.get(i).map(i64::to_string).unwrap_or_default(),
            })
            .collect()
    }
}

/// A row's values as its journal keeps them.
fn sent(values: &[Option<String>]) -> Vec<serde_json::Value> {
    values
        .iter()
        .map(|v| {
            v.as_ref().map_or(serde_json::Value::Null, |v| {
                serde_json::Value::String(v.clone())
            })
        })
        .collect()
}

/// Gives rows that came as COPY's text alone their values back.
fn fill_values(rows: &mut [Insert], text: &CopyText) {
    for (row, values) in rows.iter_mut().zip(text.values()) {
        row.values = values;
    }
}

#[expect(clippy::too_many_arguments, reason = "the batch's whole context")]
async fn one_by_one<H, F>(
    client: &mut Client,
    table: &Table,
    columns: &[String],
    rows: &[Insert],
    keys: &[i64],
    identity: &Identity,
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
    let insert = transaction
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
        .map_err(db_error)?;
    let mut written = Written::default();
    for (i, row) in rows.iter().enumerate() {
        let mut values: Vec<Option<String>> = row.values.clone();
        if let Some(key) = keys.get(i) {
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
                key: identity.key_with(i, row, keys),
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
    mark(&transaction, table, run, next).await?;
    let written = Arc::new(written);
    agreed(before_commit(written.clone())).await?;
    transaction.commit().await.map_err(db_error)?;
    Ok((written, next))
}

/// Waits for the caller's step before a commit; its failure aborts.
async fn agreed(step: impl Future<Output = Result<(), String>>) -> Result<(), TargetError> {
    step.await.map_err(TargetError::Aborted)
}

/// Runs a row's statements under a savepoint. A failure of the data (an
/// error from the server) undoes them and is given back; any other failure
/// ends the batch.
async fn under_savepoint<T>(
    transaction: &tokio_postgres::Transaction<'_>,
    step: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<Result<T, tokio_postgres::Error>, TargetError> {
    transaction
        .batch_execute("SAVEPOINT row")
        .await
        .map_err(db_error)?;
    match step.await {
        Ok(done) => {
            transaction
                .batch_execute("RELEASE SAVEPOINT row")
                .await
                .map_err(db_error)?;
            Ok(Ok(done))
        }
        Err(e) if e.as_db_error().is_some() => {
            transaction
                .batch_execute("ROLLBACK TO SAVEPOINT row")
                .await
                .map_err(db_error)?;
            Ok(Err(e))
        }
        Err(e) => Err(db_error(e)),
    }
}

/// Records a batch's checkpoint marker; the row version of the
/// transaction's own writes (`xmin`) is returned.
async fn mark(
    transaction: &tokio_postgres::Transaction<'_>,
    table: &Table,
    run: Uuid,
    next: Checkpoint,
) -> Result<String, TargetError> {
    let row = transaction
        .query_one(
            &format!(
                "INSERT INTO {} (run_id, batch, rows_ok, rows_failed) VALUES ($1, $2, $3, $4) \
                 RETURNING xmin::text",
                checkpoints(table)
            ),
            &[&run, &next.batch, &next.rows_ok, &next.rows_failed],
        )
        .await
        .map_err(db_error)?;
    Ok(row.get(0))
}

/// Rows in COPY's text format, built as rows are read (on the reading
/// thread) so that a batch's COPY can start at once.
#[derive(Debug, Default)]
pub struct CopyText {
    text: Vec<u8>,
    /// Where each row ends in `text`.
    ends: Vec<usize>,
}

impl CopyText {
    pub fn with_capacity(rows: usize) -> Self {
        Self {
            text: Vec::with_capacity(rows * 64),
            ends: Vec::with_capacity(rows),
        }
    }

    /// Adds a row's values (in the writer's field order).
    pub fn push_row<S: AsRef<str>>(&mut self, values: &[Option<S>]) {
        for (j, value) in values.iter().enumerate() {
            if j > 0 {
                self.text.push(b'\t');
            }
            match value {
                None => self.text.extend_from_slice(b"\\N"),
                Some(v) => escape_copy(v.as_ref(), &mut self.text),
            }
        }
        self.text.push(b'\n');
        self.ends.push(self.text.len());
    }

    /// The rows' values read back, for the rare writes that need them as
    /// values (a row at a time, a key among them).
    fn values(&self) -> Vec<Vec<Option<String>>> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let line = &self.text[start..end.saturating_sub(1).max(start)];
                start = end;
                line.split(|b| *b == b'\t')
                    .map(|field| (field != b"\\N").then(|| unescape_copy(field)))
                    .collect()
            })
            .collect()
    }
}

/// A value back from COPY's text format.
fn unescape_copy(field: &[u8]) -> String {
    let mut out = Vec::with_capacity(field.len());
    let mut bytes = field.iter();
    while let Some(&b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b't') => out.push(b'\t'),
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(&other) => out.push(other),
            None => out.push(b'\\'),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A value in COPY's text format.
fn escape_copy(value: &str, out: &mut Vec<u8>) {
    let plain = !value
        .bytes()
        .any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r'));
    if plain {
        out.extend_from_slice(value.as_bytes());
        return;
    }
    for b in value.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_blanked_out_of_data_errors() {
        assert_eq!(
            blank_quoted("invalid input syntax for type integer: \"4111 1111\""),
            "invalid input syntax for type integer: \"…\""
        );
        assert_eq!(blank_quoted("a \"b\" c \"d\" e"), "a \"…\" c \"…\" e");
        assert_eq!(blank_quoted("no quotes"), "no quotes");
    }

    #[test]
    fn copy_values_are_escaped() {
        let mut out = Vec::new();
        escape_copy("a\tb\\c\nd\re", &mut out);
        assert_eq!(out, b"a\\tb\\\\c\\nd\\re");
    }

    #[test]
    fn copy_text_reads_back_as_its_values() {
        let rows: Vec<Vec<Option<String>>> = vec![
            vec![Some("a\tb\\c\nd\re".into()), None, Some(String::new())],
            vec![Some("\\N".into()), Some("plain".into()), None],
        ];
        let mut text = CopyText::default();
        for row in &rows {
            text.push_row(row);
        }
        assert_eq!(text.values(), rows);
    }

    #[test]
    fn values_are_checked_against_their_column() {
        let column = |type_name: &str, nullable: bool| Column {
            name: "c".into(),
            type_name: type_name.into(),
            nullable,
            has_default: false,
            max_length: None,
            sql_type: type_name.into(),
        };
        assert!(check_value(&column("int4", false), Some("42")).is_ok());
        assert!(check_value(&column("int4", false), Some("4.2")).is_err());
        assert!(check_value(&column("int4", false), None)
            .unwrap_err()
            .contains("required"));
        assert!(check_value(&column("int4", true), None).is_ok());
        assert!(check_value(&column("date", true), Some("2025-13-01")).is_err());
        assert!(check_value(&column("date", true), Some("2024-02-29")).is_ok());
        assert!(check_value(&column("date", true), Some("2025-02-29")).is_err());
        assert!(check_value(&column("date", true), Some("2025-1-01")).is_err());
        assert!(check_value(&column("bool", true), Some("yes")).is_ok());
        let short = Column {
            max_length: Some(3),
            ..column("varchar", true)
        };
        assert!(check_value(&short, Some("abcd"))
            .unwrap_err()
            .contains("more than the 3"));
    }
}
