//! A run's result files: `success.csv` (each row written, with the new
//! row's key) and `errors.csv` (each row refused, with the reason), both
//! with the source's columns, encrypted under the run's own data key.
//!
//! Each batch writes its piece of both files before the batch commits in
//! the target, so a resumed run has the pieces of every committed batch
//! (and rewrites those of the batch it redoes). At the end the pieces are
//! joined into the two files.
//!
//! Every step of this is safe to repeat after a kill at any point:
//!
//! 1. **Join.** Each file is written to a staging name, forced to disk and
//!    renamed over its final name (and the directory forced to disk): under
//!    its final name a file is always whole, and an earlier one stays until
//!    a whole new one replaces it. A staging file a killed worker left is
//!    deleted first. The pieces are not touched, so a worker killed here
//!    joins them again, all of them.
//! 2. **Record the end.** Once both files are in place, how the run ends
//!    (its status, counts and message: the `run.finished` to append, whose
//!    message is sealed under the subject key as it is appended), and the
//!    number of batches joined, are written the same way, encrypted under
//!    the run's key as the files are ([`Results::record_end`]). A worker
//!    that resumes the run and finds this record finishes the run as
//!    recorded: it neither works the run again nor joins the files again,
//!    so it never rebuilds a whole file from what pieces are left.
//! 3. **Delete the pieces** ([`Results::remove_pieces`]), only now that the
//!    files and the record are on disk. The journal stays (a rollback
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
//! themselves were imported all the same. Cells that a spreadsheet would run as a
//! formula (starting with `=`, `+`, `-`, `@`, tab or carriage return) are
//! prefixed with `'`.

use crate::crash::{self, Phase};
use sluice_connectors::journal::{self, Change};
use sluice_connectors::source::Fields;
use sluice_events::event::RunFinished;
use sluice_schema::ids::{AccountId, RunId};
use sluice_vault::{owner, FileKey, FileStore};
use std::io::{BufWriter, Write};
use std::sync::Arc;
use zeroize::Zeroizing;

/// The store's directory for result files.
pub const KIND: &str = "results";

pub const SUCCESS: &str = "success";
pub const ERRORS: &str = "errors";
/// A batch's journal of what it changed (kept as pieces until the result
/// files expire: a rollback reads them).
pub const CHANGES: &str = "changes";
/// A batch's before-images, kept while the batch is written to a target
/// without transactions.
pub const BEFORE: &str = "before";
/// The record that both files are whole and how the run ends (see
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
    /// Text as it is: why the row was refused (errors), or a key already
    /// joined.
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

/// A cell as a spreadsheet will show it, never as a formula.
pub fn safe_cell(value: &str) -> std::borrow::Cow<'_, str> {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}").into(),
        _ => value.into(),
    }
}

impl Results {
    fn columns(&self, name: &'static str) -> Vec<String> {
        let lead: &[&str] = if name == SUCCESS {
            &["ROW", "ID", "STATUS"]
        } else {
            &["ROW", "ERROR"]
        };
        lead.iter()
            .map(|s| (*s).to_owned())
            // Column names come from the customer's file like the cells do.
            .chain(self.header.iter().map(|h| safe_cell(h).into_owned()))
            .collect()
    }

    /// Writes `rows` as CSV to `out`, after the header row if `header`.
    fn write_rows(
        &self,
        out: &mut dyn Write,
        name: &'static str,
        header: bool,
        rows: &[Outcome<'_>],
    ) -> std::io::Result<()> {
        let mut csv = csv::WriterBuilder::new().flexible(true).from_writer(out);
        if header {
            csv.write_record(self.columns(name))?;
        }
        // Buffers shared by every row: nothing is allocated a row.
        let mut number = itoa::Buffer::new();
        let mut joined = String::new();
        for row in rows {
            csv.write_field(number.format(row.number))?;
            let note = match row.note {
                Note::Text(reason) => reason,
                Note::Key([one]) => one.as_str(),
                Note::Key(values) => {
                    joined.clear();
                    for (i, value) in values.iter().enumerate() {
                        if i > 0 {
                            joined.push(',');
                        }
                        joined.push_str(value);
                    }
                    joined.as_str()
                }
            };
            csv.write_field(safe_cell(note).as_bytes())?;
            if name == SUCCESS {
                csv.write_field(row.status)?;
            }
            for field in row.fields.iter() {
                csv.write_field(safe_cell(field).as_bytes())?;
            }
            csv.write_record(None::<&[u8]>)?;
        }
        csv.flush()
    }

    /// Writes the run's file `name` (a batch's piece of it, with `part`),
    /// encrypted, to a staging file that is renamed over any earlier one
    /// once whole: under its final name a file is always whole, and an
    /// earlier one stays until the new one replaces it. `durable` forces the
    /// file and its directory to disk before and after the rename.
    fn write_file(
        &self,
        name: &'static str,
        part: Option<i64>,
        durable: bool,
        write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let id = file_id(self.run, name, part);
        // What a writer killed part-way left.
        self.store.remove_staging(KIND, &id)?;
        let (staged, file) = self.store.stage(KIND, &id)?;
        let file_owner = owner::result_file(self.account, self.run, name, part);
        let mut encrypted = self
            .key
            .writer(&file_owner, BufWriter::with_capacity(256 * 1024, file))
            .map_err(std::io::Error::other)?;
        write(&mut encrypted)?;
        let (buffered, _) = encrypted.finish().map_err(std::io::Error::other)?;
        let file = buffered.into_inner().map_err(|e| e.into_error())?;
        if durable {
            file.sync_all()?;
            self.store.commit(staged, KIND, &id)?;
        } else {
            drop(file);
            self.store.commit_unsynced(staged, KIND, &id)?;
        }
        Ok(())
    }

    /// Writes a batch's pieces of both files.
    pub fn write_part(
        &self,
        batch: i64,
        success: &[Outcome<'_>],
        errors: &[Outcome<'_>],
    ) -> std::io::Result<()> {
        self.write_file(SUCCESS, Some(batch), false, |out| {
            self.write_rows(out, SUCCESS, false, success)
        })?;
        self.write_file(ERRORS, Some(batch), false, |out| {
            self.write_rows(out, ERRORS, false, errors)
        })
    }

    /// Writes a batch's journal.
    pub fn write_changes(
        &self,
        batch: i64,
        columns: &journal::Columns,
        changes: &[Change],
    ) -> std::io::Result<()> {
        self.write_piece(CHANGES, batch, |out| journal::write(out, columns, changes))
    }

    /// Reads a batch's journal back; `None` if it is not there (lost in a
    /// crash) or does not decrypt whole.
    pub fn read_changes(
        &self,
        batch: i64,
    ) -> std::io::Result<Option<(journal::Columns, Vec<Change>)>> {
        match self.read_file(CHANGES, Some(batch))? {
            Some(plain) => journal::read(plain.as_slice())
                .map(Some)
                .map_err(std::io::Error::other),
            None => Ok(None),
        }
    }

    /// Keeps the before-images a write to a target without transactions
    /// read just before it (JSON), until the batch's journal has them: a
    /// worker that resumes the batch must not read them again from records
    /// the first attempt may have changed already.
    pub fn write_before(&self, batch: i64, images: &[u8]) -> std::io::Result<()> {
        self.write_piece(BEFORE, batch, |out| out.write_all(images))
    }

    pub fn read_before(&self, batch: i64) -> std::io::Result<Option<Zeroizing<Vec<u8>>>> {
        self.read_file(BEFORE, Some(batch))
    }

    pub fn remove_before(&self, batch: i64) -> std::io::Result<()> {
        self.store
            .remove(KIND, &file_id(self.run, BEFORE, Some(batch)))
            .map(drop)
    }

    /// Writes one of a batch's pieces, encrypted, not forced to disk.
    fn write_piece(
        &self,
        name: &'static str,
        batch: i64,
        write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.write_file(name, Some(batch), false, write)
    }

    /// The run's file `name` (a batch's piece of it, with `part`),
    /// decrypted; `None` if it is not there or does not decrypt whole.
    fn read_file(
        &self,
        name: &'static str,
        part: Option<i64>,
    ) -> std::io::Result<Option<Zeroizing<Vec<u8>>>> {
        let id = file_id(self.run, name, part);
        let file = match self.store.open_file(KIND, &id) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let file_owner = owner::result_file(self.account, self.run, name, part);
        let mut plain = Zeroizing::new(Vec::new());
        if self
            .key
            .decrypt(&file_owner, std::io::BufReader::new(file), &mut *plain)
            .is_err()
        {
            return Ok(None);
        }
        Ok(Some(plain))
    }

    /// Joins the pieces of batches `1..=batches` into the two files, each
    /// forced to disk and only then renamed over any earlier one. The
    /// pieces stay: they go once the run's end is in the event log
    /// ([`Results::remove_pieces`]), so a worker killed here joins them again
    /// from all of them.
    pub fn assemble(&self, batches: i64) -> std::io::Result<()> {
        let mut lost: Vec<i64> = Vec::new();
        for name in [SUCCESS, ERRORS] {
            self.write_file(name, None, true, |out| {
                self.write_rows(out, name, true, &[])?;
                for batch in 1..=batches {
                    // A piece goes in whole or not at all.
                    match self.read_file(name, Some(batch))? {
                        Some(plain) => out.write_all(&plain)?,
                        None if !lost.contains(&batch) => lost.push(batch),
                        None => {}
                    }
                    if name == SUCCESS && batch == 1 {
                        crash::at(Phase::Joining);
                    }
                }
                if name == ERRORS {
                    let mut csv = csv::WriterBuilder::new().flexible(true).from_writer(out);
                    for batch in &lost {
                        csv.write_record([
                            "",
                            &format!(
                                "the result rows of batch {batch} were lost in a crash; its rows were imported"
                            ),
                        ])?;
                    }
                    csv.flush()?;
                }
                Ok(())
            })?;
            if name == SUCCESS {
                crash::at(Phase::SuccessJoined);
            }
        }
        Ok(())
    }

    /// Records, forced to disk, that both files are whole for `ended.batches`
    /// batches and how the run ends: written once the files are in place,
    /// so a worker that finds it finishes the run as recorded and does not
    /// join the files again.
    pub fn record_end(&self, ended: &Ended) -> std::io::Result<()> {
        let json = serde_json::to_vec(ended).map_err(std::io::Error::other)?;
        self.write_file(ENDED, None, true, |out| out.write_all(&json))
    }

    /// The record of the run's end, if the files are whole; `None` if there
    /// is none (or one that does not decrypt whole, as if there were none).
    pub fn ended(&self) -> std::io::Result<Option<Ended>> {
        Ok(self
            .read_file(ENDED, None)?
            .and_then(|json| serde_json::from_slice(&json).ok()))
    }

    /// Deletes the pieces of both files, once the record of the run's end
    /// is written ([`Results::record_end`]): a worker that resumes the run
    /// after this does not join them again. The journal stays (a rollback
    /// reads it), and so does the record, until the files expire.
    pub fn remove_pieces(&self, batches: i64) -> std::io::Result<()> {
        for batch in 1..=batches {
            for name in [SUCCESS, ERRORS] {
                self.store
                    .remove(KIND, &file_id(self.run, name, Some(batch)))?;
            }
            if batch == 1 {
                crash::at(Phase::DeletingPieces);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(results: &Results, name: &'static str) -> String {
        let file = results
            .store
            .open_file(KIND, &file_id(results.run, name, None))
            .unwrap();
        let owner = owner::result_file(results.account, results.run, name, None);
        let mut plain = Vec::new();
        results.key.decrypt(&owner, file, &mut plain).unwrap();
        String::from_utf8(plain).unwrap()
    }

    #[test]
    fn pieces_join_and_a_lost_piece_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let results = Results {
            store: FileStore::open(dir.path()).unwrap(),
            key: Arc::new(FileKey::generate()),
            account: AccountId(uuid::Uuid::now_v7()),
            run: RunId(uuid::Uuid::now_v7()),
            header: vec!["Email".into()],
        };
        let mut source = SourceRows::with_capacity(4);
        for (number, email) in [(1, "a@example.com"), (2, "=cmd"), (3, "c@example.com")] {
            source.push(number, Some(&Fields::from(vec![email])));
        }
        source.push(4, None);
        let keys = [vec!["10".to_owned(), "a".to_owned()], vec!["11".to_owned()]];
        let created = |number: u64, key| Outcome {
            number,
            note: Note::Key(key),
            status: "created",
            fields: source.get(number),
        };
        let refused = |number: u64, reason| Outcome {
            number,
            note: Note::Text(reason),
            status: "",
            fields: source.get(number),
        };
        results
            .write_part(
                1,
                &[created(1, &keys[0])],
                &[refused(2, "bad"), refused(4, "unreadable")],
            )
            .unwrap();
        results.write_part(2, &[created(3, &keys[1])], &[]).unwrap();
        // A power cut left batch 2's success piece cut short.
        let piece = results
            .store
            .path(KIND, &file_id(results.run, SUCCESS, Some(2)));
        let bytes = std::fs::read(&piece).unwrap();
        std::fs::write(&piece, &bytes[..bytes.len() - 5]).unwrap();
        results.assemble(2).unwrap();
        assert_eq!(
            read(&results, SUCCESS),
            "ROW,ID,STATUS,Email\n1,\"10,a\",created,a@example.com\n"
        );
        let errors = read(&results, ERRORS);
        assert!(
            errors.starts_with("ROW,ERROR,Email\n2,bad,'=cmd\n4,unreadable\n"),
            "{errors}"
        );
        assert!(errors.contains("batch 2 were lost"), "{errors}");
        assert_eq!(
            results.store.list(KIND).unwrap().len(),
            6,
            "the pieces stay until the run's end is recorded"
        );
        let ended = Ended {
            batches: 2,
            finished: RunFinished {
                status: sluice_schema::kinds::RunStatus::Succeeded,
                rows_total: 4,
                rows_ok: 2,
                rows_failed: 2,
                message: None,
                results_expire_at: None,
                api_calls: None,
            },
        };
        assert_eq!(results.ended().unwrap(), None);
        results.record_end(&ended).unwrap();
        assert_eq!(results.ended().unwrap(), Some(ended));
        results.remove_pieces(2).unwrap();
        let mut left: Vec<String> = results
            .store
            .list(KIND)
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        left.sort();
        let run = results.run;
        assert_eq!(
            left,
            [
                format!("{run}.ended"),
                format!("{run}.errors"),
                format!("{run}.success")
            ],
            "the two files and the record are left"
        );
    }

    #[test]
    fn formulas_are_defused() {
        assert_eq!(safe_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(safe_cell("+1"), "'+1");
        assert_eq!(safe_cell("-2"), "'-2");
        assert_eq!(safe_cell("@SUM"), "'@SUM");
        assert_eq!(safe_cell("plain"), "plain");
        assert_eq!(safe_cell(""), "");
    }
}
