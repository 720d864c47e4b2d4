//! A run's writer: the operation and the mapped fields, checked against
//! the table once, then a batch at a time handed to COPY (an insert) or to
//! the keyed statements (update, upsert, delete).

use super::batch::{agreed, begin};
use super::checkpoint::{mark, After, Checkpoint};
use super::copy_text::CopyText;
use super::error::{db_error, TargetError};
use super::insert::insert_batch;
use super::table::Table;
use super::write;
use crate::journal::Change;
pub use sluice_schema::job::Operation;
use std::future::Future;
use std::sync::Arc;
use tokio_postgres::Client;
use uuid::Uuid;

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
    /// When COPY wrote the rows: their text, row `i` for `ok[i]`, which
    /// the journal keeps as the values written (their `wrote` is `None`:
    /// the text is not read back into values unless a rollback needs them).
    pub copied: Option<Arc<CopyText>>,
}

/// A run's writes to its table: the operation, the mapped fields and the
/// key fields, checked against the table before any row.
#[derive(Debug, Clone)]
pub struct Writer {
    pub(super) table: Table,
    pub(super) operation: Operation,
    /// The mapped fields, in the order of a row's values.
    pub(super) targets: Vec<String>,
    pub(super) key_fields: Vec<String>,
    /// Where each key field is among the targets.
    pub(super) key_positions: Vec<usize>,
    /// Whether a blank value leaves its field as it is when a row is
    /// changed (an update, an upsert of a row that exists), instead of
    /// setting it to NULL.
    pub(super) leave_blanks: bool,
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
            leave_blanks: false,
        })
    }

    /// The same, with blank values leaving the fields a write changes as
    /// they are (`leave`), or setting them to NULL (as by default).
    pub fn leaving_blanks(mut self, leave: bool) -> Self {
        self.leave_blanks = leave;
        self
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
