//! A result file written: its rows as CSV (cells never run as formulas),
//! encrypted under the run's key to a staging name and renamed over its
//! final name once whole; and a file read back.

use super::{file_id, safe_cell, Note, Outcome, Results, KIND, SKIPPED, SUCCESS};
use sluice_vault::owner;
use std::io::{BufWriter, Write};
use zeroize::Zeroizing;

impl Results {
    fn columns(&self, name: &'static str) -> Vec<String> {
        let lead: &[&str] = match name {
            SUCCESS => &["ROW", "ID", "STATUS"],
            SKIPPED => &["ROW", "REASON"],
            _ => &["ROW", "ERROR"],
        };
        lead.iter()
            .map(|s| (*s).to_owned())
            // Column names come from the customer's file like the cells do.
            .chain(self.header.iter().map(|h| safe_cell(h).into_owned()))
            .collect()
    }

    /// Writes `rows` as CSV to `out`, after the header row if `header`.
    pub(super) fn write_rows(
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
    pub(super) fn write_file(
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

    /// The run's file `name` (a batch's piece of it, with `part`),
    /// decrypted; `None` if it is not there or does not decrypt whole.
    pub(super) fn read_file(
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
}
