//! A run's result files: `success.csv` (each row written, with the new
//! row's key) and `errors.csv` (each row refused, with the reason), both
//! with the source's columns, encrypted under the run's own data key.
//!
//! Each batch writes its piece of both files before the batch commits in
//! the target, so a resumed run has the pieces of every committed batch
//! (and rewrites those of the batch it redoes). At the end the pieces are
//! joined into the two files, which are forced to disk.
//!
//! The pieces are not forced to disk one by one (that cost more than the
//! import itself): a worker process that dies leaves them whole in the
//! operating system's care, but a machine that loses power mid-run may lose
//! the last ones. A piece that does not decrypt whole is left out, and
//! errors.csv says which batch's rows are missing from the files; the rows
//! themselves were imported all the same. Cells that a spreadsheet would run as a
//! formula (starting with `=`, `+`, `-`, `@`, tab or carriage return) are
//! prefixed with `'`.

use sluice_connectors::journal::{self, Change};
use sluice_connectors::source::Fields;
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

    fn write_rows(
        &self,
        name: &'static str,
        part: Option<i64>,
        header: bool,
        rows: &[Outcome<'_>],
        then: impl FnOnce(
            &mut sluice_vault::EncryptWriter<BufWriter<std::fs::File>>,
        ) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let durable = part.is_none();
        let id = file_id(self.run, name, part);
        self.store.remove(KIND, &id)?;
        let (staged, file) = self.store.stage(KIND, &id)?;
        let file_owner = owner::result_file(self.account, self.run, name, part);
        let mut encrypted = self
            .key
            .writer(&file_owner, BufWriter::with_capacity(256 * 1024, file))
            .map_err(std::io::Error::other)?;
        {
            let mut csv = csv::WriterBuilder::new()
                .flexible(true)
                .from_writer(&mut encrypted);
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
            csv.flush()?;
        }
        then(&mut encrypted)?;
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
        self.write_rows(SUCCESS, Some(batch), false, success, |_| Ok(()))?;
        self.write_rows(ERRORS, Some(batch), false, errors, |_| Ok(()))
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
        match self.read_piece(CHANGES, batch)? {
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
        self.read_piece(BEFORE, batch)
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
        let id = file_id(self.run, name, Some(batch));
        self.store.remove(KIND, &id)?;
        let (staged, file) = self.store.stage(KIND, &id)?;
        let file_owner = owner::result_file(self.account, self.run, name, Some(batch));
        let mut encrypted = self
            .key
            .writer(&file_owner, BufWriter::with_capacity(256 * 1024, file))
            .map_err(std::io::Error::other)?;
        write(&mut encrypted)?;
        let (buffered, _) = encrypted.finish().map_err(std::io::Error::other)?;
        drop(buffered.into_inner().map_err(|e| e.into_error())?);
        self.store.commit_unsynced(staged, KIND, &id).map(drop)
    }

    /// One of a batch's pieces, decrypted; `None` if it is not there or
    /// does not decrypt whole.
    fn read_piece(
        &self,
        name: &'static str,
        batch: i64,
    ) -> std::io::Result<Option<Zeroizing<Vec<u8>>>> {
        let id = file_id(self.run, name, Some(batch));
        let piece = match self.store.open_file(KIND, &id) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let piece_owner = owner::result_file(self.account, self.run, name, Some(batch));
        let mut plain = Zeroizing::new(Vec::new());
        if self
            .key
            .decrypt(&piece_owner, std::io::BufReader::new(piece), &mut *plain)
            .is_err()
        {
            return Ok(None);
        }
        Ok(Some(plain))
    }

    /// Joins the pieces of batches `1..=batches` into the two files, then
    /// deletes the pieces.
    pub fn assemble(&self, batches: i64) -> std::io::Result<()> {
        let mut lost: Vec<i64> = Vec::new();
        for name in [SUCCESS, ERRORS] {
            self.write_rows(name, None, true, &[], |out| {
                for batch in 1..=batches {
                    let id = file_id(self.run, name, Some(batch));
                    let piece = match self.store.open_file(KIND, &id) {
                        Ok(file) => file,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            if !lost.contains(&batch) {
                                lost.push(batch);
                            }
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    // A piece goes in whole or not at all.
                    let piece_owner =
                        owner::result_file(self.account, self.run, name, Some(batch));
                    let mut plain = zeroize::Zeroizing::new(Vec::new());
                    match self.key.decrypt(
                        &piece_owner,
                        std::io::BufReader::new(piece),
                        &mut *plain,
                    ) {
                        Ok(_) => out.write_all(&plain)?,
                        Err(_) => {
                            if !lost.contains(&batch) {
                                lost.push(batch);
                            }
                        }
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
            for batch in 1..=batches {
                self.store
                    .remove(KIND, &file_id(self.run, name, Some(batch)))?;
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
            2,
            "only the two files are left"
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
