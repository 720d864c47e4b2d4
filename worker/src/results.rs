//! A run's result files: `success.csv` (each row written, with the new
//! row's key), `skipped.csv` (each row the job's filter set aside, with
//! the reason) and `errors.csv` (each row refused, with the reason), all
//! with the source's columns, encrypted under the run's own data key.
//!
//! Each batch writes its piece of the three files before the batch commits
//! in the target, so a resumed run has the pieces of every committed batch
//! (and rewrites those of the batch it redoes). At the end the pieces are
//! joined into the three files (a rollback's skipped.csv has no rows).
//!
//! Every step of this is safe to repeat after a kill at any point:
//!
//! 1. **Join.** Each file is written to a staging name, forced to disk and
//!    renamed over its final name (and the directory forced to disk): under
//!    its final name a file is always whole, and an earlier one stays until
//!    a whole new one replaces it. A staging file a killed worker left is
//!    deleted first. The pieces are not touched, so a worker killed here
//!    joins them again, all of them.
//! 2. **Record the end.** Once the three files are in place, how the run ends
//!    (its status, counts and message: the `run.finished` to append, whose
//!    message is sealed under the subject key as it is appended), and the
//!    number of batches joined, are written the same way, encrypted under
//!    the run's key as the files are ([`Results::record_end`]). A worker
//!    that resumes the run and finds this record finishes the run as
//!    recorded: it neither works the run again nor joins the files again,
//!    so it never rebuilds a whole file from what pieces are left.
//! 3. **Delete the pieces** ([`Results::remove_pieces`]), only now that the
//!    files and the record are on disk. A run ended before skipped.csv
//!    existed has no pieces of it to delete. The journal stays (a rollback
//!    reads it), and so does the record, until the files expire.
//! 4. **Append `run.finished.v2`** (in the run's handler), with the processed
//!    marker: a redelivery after it is skipped, so nothing is left to do
//!    after it.
//!
//! The integration tests in `tests/it/phases.rs` kill a worker at each of
//! these phases (see [`crate::crash`]), for an import and for a rollback.
//!
//! The pieces are not forced to disk one by one (that cost more than the
//! import itself): a worker process that dies leaves them whole in the
//! operating system's care, but a machine that loses power mid-run may lose
//! the last ones. A piece that does not decrypt whole is left out, and
//! errors.csv says which batch's rows are missing from the files; the rows
//! themselves were imported all the same (or, for skipped.csv, skipped
//! all the same). Cells that a spreadsheet would run as a
//! formula (starting with `=`, `+`, `-`, `@`, tab or carriage return) are
//! prefixed with `'`.

mod end;
mod files;
mod pieces;

use sluice_connectors::source::Fields;
use sluice_events::event::RunFinished;
use sluice_schema::ids::{AccountId, RunId};
use sluice_vault::{owner, FileKey, FileStore};
use std::sync::Arc;

/// The store's directory for result files.
pub const KIND: &str = "results";

pub const SUCCESS: &str = "success";
/// The rows the job's filter set aside.
pub const SKIPPED: &str = "skipped";
pub const ERRORS: &str = "errors";
/// The result files, in the order they are joined (errors.csv last: it
/// names the pieces of the others that were lost).
pub const FILES: [&str; 3] = [SUCCESS, SKIPPED, ERRORS];
/// A batch's journal of what it changed (kept as pieces until the result
/// files expire: a rollback reads them).
pub const CHANGES: &str = "changes";
/// A batch's before-images, kept while the batch is written to a target
/// without transactions.
pub const BEFORE: &str = "before";
/// The record that the three files are whole and how the run ends (see
/// [`Results::record_end`]).
pub const ENDED: &str = "ended";

/// How a run ends, recorded once its files are whole.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ended {
    /// The batches the files were joined from.
    pub batches: i64,
    /// The run's last event, as it is to be appended, but for its message
    /// (in clear here, under the run's key): that is sealed under the
    /// account's subject key as it is appended. A record written before
    /// messages were sealed has this same shape.
    pub finished: RunFinished,
}

pub struct Results {
    pub store: FileStore,
    pub key: Arc<FileKey>,
    pub account: AccountId,
    pub run: RunId,
    /// The source's columns.
    pub header: Vec<String>,
}

/// A row of a result file: its number in the source, what happened, and
/// the row as read (empty if it could not be read).
pub struct Outcome<'a> {
    pub number: u64,
    pub note: Note<'a>,
    /// What was done to the row (success): created, updated, deleted...
    pub status: &'static str,
    pub fields: RowFields<'a>,
}

/// The second cell of a result row.
#[derive(Clone, Copy)]
pub enum Note<'a> {
    /// The row's key in the target (success), its values joined by commas.
    Key(&'a [String]),
    /// Text as it is: why the row was refused (errors) or skipped
    /// (skipped), or a key already joined.
    Text(&'a str),
}

/// A batch's rows as read, one after another in one record: a batch of
/// rows costs a couple of buffers, not a few strings a row.
#[derive(Default)]
pub struct SourceRows {
    fields: Fields,
    /// Each row's number (ascending) and where its fields start.
    rows: Vec<(u64, usize)>,
}

impl SourceRows {
    pub fn with_capacity(rows: usize) -> Self {
        Self {
            fields: Fields::new(),
            rows: Vec::with_capacity(rows),
        }
    }

    /// Adds a row: its fields, or none if it could not be read.
    pub fn push(&mut self, number: u64, fields: Option<&Fields>) {
        self.rows.push((number, self.fields.len()));
        for field in fields.into_iter().flatten() {
            self.fields.push_field(field);
        }
    }

    /// How many rows there are.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The size of the rows' fields, in bytes.
    pub fn bytes(&self) -> usize {
        self.fields.as_slice().len()
    }

    /// Row `number`'s fields (none if it is not here).
    pub fn get(&self, number: u64) -> RowFields<'_> {
        let found = self.rows.binary_search_by_key(&number, |(n, _)| *n).ok();
        let range = found.map_or(0..0, |i| {
            let start = self.rows[i].1;
            let end = self
                .rows
                .get(i + 1)
                .map_or(self.fields.len(), |(_, next)| *next);
            start..end
        });
        RowFields {
            all: Some(&self.fields),
            range,
        }
    }
}

/// One row's fields among a batch's.
#[derive(Clone)]
pub struct RowFields<'a> {
    all: Option<&'a Fields>,
    range: std::ops::Range<usize>,
}

impl<'a> RowFields<'a> {
    /// No fields: a row that is not at hand.
    pub const NONE: Self = Self {
        all: None,
        range: 0..0,
    };

    pub fn iter(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.range
            .clone()
            .filter_map(|i| self.all.and_then(|all| all.get(i)))
    }
}

fn file_id(run: RunId, name: &str, part: Option<i64>) -> String {
    owner::result_file_id(run, name, part)
}

/// A cell as a spreadsheet will show it, never as a formula: a value that
/// starts with `=`, `+`, `-`, `@`, tab or carriage return gets a leading
/// `'`, and so does one that starts with `'` already, so that the value
/// reads back exactly by removing one leading `'` ([`read_cell`]).
pub fn safe_cell(value: &str) -> std::borrow::Cow<'_, str> {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\'') => format!("'{value}").into(),
        _ => value.into(),
    }
}

/// A cell of a result file as it was before [`safe_cell`] wrote it: one
/// leading `'` removed. (A file written before apostrophes were doubled
/// reads a value that began with one `'` without it.)
pub fn read_cell(cell: &str) -> &str {
    cell.strip_prefix('\'').unwrap_or(cell)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused() {
        assert_eq!(safe_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(safe_cell("+1"), "'+1");
        assert_eq!(safe_cell("-2"), "'-2");
        assert_eq!(safe_cell("@SUM"), "'@SUM");
        assert_eq!(safe_cell("plain"), "plain");
        assert_eq!(safe_cell(""), "");
        assert_eq!(safe_cell("'quoted"), "''quoted");
    }

    #[test]
    fn every_cell_reads_back_exactly() {
        for value in [
            "=1+1", "+1", "-2", "@SUM", "\tx", "\rx", "'", "''", "'=1", "'-", "plain", "", "a'b",
            "-'",
        ] {
            assert_eq!(read_cell(&safe_cell(value)), value, "{value:?}");
        }
    }
}
