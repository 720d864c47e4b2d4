//! What a rollback undoes, and the guards its statements carry: a row is
//! undone only while every column the run wrote still holds what the run
//! wrote there (see [`super::revert`] for the rules), and a row the guard
//! refused is told apart from a row that is gone.

use super::table::quote;
use super::table::Table;
use crate::journal::Change;
use tokio_postgres::types::ToSql;
use tokio_postgres::Transaction;

/// What a rollback undoes, and how.
pub struct Undo<'a> {
    pub table: &'a Table,
    /// The columns that name a row in the journal.
    pub key_columns: &'a [String],
    /// The columns the run wrote besides the key: what an update restores.
    pub written: &'a [String],
    /// Undo rows changed since the run all the same.
    pub force: bool,
    /// Row versions that this rollback's own earlier batches left: a row
    /// the run changed twice is restored once per change.
    pub own_versions: &'a [String],
}

pub(super) type Param<'p> = &'p (dyn ToSql + Sync);

impl<'a> Undo<'a> {
    pub(super) fn sql_type(&self, column: &str) -> &str {
        self.table
            .column(column)
            .map(|c| c.sql_type.as_str())
            .unwrap_or("text")
    }

    /// Matches the row by its key, whose values are the next parameters.
    pub(super) fn key_match<'p>(&self, change: &'p Change, params: &mut Vec<Param<'p>>) -> String {
        self.key_columns
            .iter()
            .zip(&change.key)
            .map(|(k, value)| {
                params.push(value);
                format!(
                    "t.{} = ${}::text::{}",
                    quote(k),
                    params.len(),
                    self.sql_type(k)
                )
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// Whether column `i` of those the run wrote holds what it wrote.
    fn holds<'p>(
        &self,
        i: usize,
        value: &'p Option<Written<'p>>,
        params: &mut Vec<Param<'p>>,
    ) -> String {
        params.push(value);
        let column = &self.written[i];
        format!(
            "t.{}::text IS NOT DISTINCT FROM (${}::text::{})::text",
            quote(column),
            params.len(),
            self.sql_type(column)
        )
    }

    /// The guard that the row is as the run left it: every column the run
    /// wrote holds what it wrote (or, for a journal without the values,
    /// the row's version is the one the run or this rollback left).
    pub(super) fn unchanged<'p>(
        &'p self,
        change: &'p Change,
        wrote: &'p Option<Vec<Option<Written<'p>>>>,
        params: &mut Vec<Param<'p>>,
    ) -> String
    where
        'a: 'p,
    {
        if self.force {
            return "TRUE".into();
        }
        match wrote {
            Some(values) if values.is_empty() => "TRUE".into(),
            Some(values) => values
                .iter()
                .enumerate()
                .map(|(i, value)| self.holds(i, value, params))
                .collect::<Vec<_>>()
                .join(" AND "),
            None => {
                params.push(&change.version);
                params.push(&self.own_versions);
                format!(
                    "(t.xmin::text = ${}::text OR t.xmin::text = ANY(${}::text[]))",
                    params.len() - 1,
                    params.len()
                )
            }
        }
    }
}

/// A value the run wrote, as text: borrowed from the journal where it
/// holds text.
pub(super) type Written<'c> = std::borrow::Cow<'c, str>;

/// A change's written values as text (`None` for a NULL).
pub(super) fn written_text(change: &Change) -> Option<Vec<Option<Written<'_>>>> {
    change.wrote.as_ref().map(|values| {
        values
            .iter()
            .map(|v| match v {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some(Written::Borrowed(s.as_str())),
                other => Some(Written::Owned(other.to_string())),
            })
            .collect()
    })
}

/// Why a row the guard refused was left as it is: `None` if it is gone,
/// else the columns the run wrote that hold something else now (empty
/// when the journal has no written values: the row's version moved).
pub(super) async fn why_changed(
    transaction: &Transaction<'_>,
    undo: &Undo<'_>,
    change: &Change,
    wrote: &Option<Vec<Option<Written<'_>>>>,
) -> Result<Option<Vec<String>>, tokio_postgres::Error> {
    let mut params: Vec<Param<'_>> = Vec::new();
    let matched = undo.key_match(change, &mut params);
    let checks: Vec<String> = match wrote {
        Some(values) => values
            .iter()
            .enumerate()
            .map(|(i, value)| undo.holds(i, value, &mut params))
            .collect(),
        None => Vec::new(),
    };
    let sql = format!(
        "SELECT ARRAY[{}]::bool[] FROM {} t WHERE {matched}",
        checks.join(", "),
        undo.table.qualified()
    );
    let Some(row) = transaction.query_opt(&sql, &params).await? else {
        return Ok(None);
    };
    let holding: Vec<bool> = row.get(0);
    Ok(Some(
        undo.written
            .iter()
            .zip(holding)
            .filter(|(_, holds)| !holds)
            .map(|(column, _)| column.clone())
            .collect(),
    ))
}

/// The reason given for a row changed since the run.
pub(super) fn changed_since(columns: &[String], forced_does: &str) -> String {
    if columns.is_empty() {
        return format!(
            "changed since the run, so it was left as it is (a forced rollback {forced_does} it)"
        );
    }
    let named: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    format!(
        "changed since the run: {} no longer {} what the run wrote, so it was left as it is \
         (a forced rollback {forced_does} it)",
        named.join(", "),
        if columns.len() == 1 { "holds" } else { "hold" }
    )
}
