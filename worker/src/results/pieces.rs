//! A batch's pieces: its part of the three result files, its journal of what it
//! changed, and the before-images kept while it is written to a target
//! without transactions.

use super::{file_id, Outcome, Results, BEFORE, CHANGES, ERRORS, KIND, SKIPPED, SUCCESS};
use sluice_connectors::journal::{self, Change};
use std::io::Write;
use zeroize::Zeroizing;

impl Results {
    /// Writes a batch's pieces of the three files.
    pub fn write_part(
        &self,
        batch: i64,
        success: &[Outcome<'_>],
        skipped: &[Outcome<'_>],
        errors: &[Outcome<'_>],
    ) -> std::io::Result<()> {
        for (name, rows) in [(SUCCESS, success), (SKIPPED, skipped), (ERRORS, errors)] {
            self.write_file(name, Some(batch), false, |out| {
                self.write_rows(out, name, false, rows)
            })?;
        }
        Ok(())
    }

    /// Writes a batch's journal; with `copied`, the changes' written
    /// values are its rows (see [`journal::write`]).
    pub fn write_changes(
        &self,
        batch: i64,
        columns: &journal::Columns,
        changes: &[Change],
        copied: Option<&sluice_connectors::postgres::CopyText>,
    ) -> std::io::Result<()> {
        self.write_piece(CHANGES, batch, |out| {
            journal::write(out, columns, changes, copied)
        })
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
}
