//! An earlier run's result files, read back: a retry's rows are the rows
//! of the retried run's errors.csv (its source's columns, each cell as
//! [`read_cell`] gives it back, numbered as the first run numbered them),
//! and the rest of a trial leaves the rows of the trial's success.csv.
//! Both are read from the kept result files, never from the source, so a
//! retry works once the upload has expired.

use super::Source;
use crate::results::{read_cell, ERRORS, KIND, SUCCESS};
use crate::runs::{RunHandler, Stop};
use sluice_connectors::source::{Fields, Record, RowSink, SourceError};
use sluice_events::event::MAX_SAMPLE_ROWS;
use sluice_schema::ids::{AccountId, RunId};
use sluice_schema::repo::jobs;
use sluice_vault::{owner, DecryptReader};
use std::collections::HashSet;
use std::io::BufReader;

/// A result file opened for reading, decrypted as it goes.
type ResultReader = BufReader<DecryptReader<std::fs::File>>;

/// The rows of a run's errors.csv, as a source.
pub(in crate::runs) struct Failed(ResultReader);

impl Source for Failed {
    /// `ROW, ERROR`, then the source's columns; then the failed rows, the
    /// lines without a number (a crash's note of lost rows) left out. The
    /// file is Sluice's own, each row as long as the source's guard let
    /// through.
    fn read(self, sink: &mut impl RowSink) -> Result<(), SourceError> {
        let unreadable =
            |e: csv::Error| SourceError::Unreadable(format!("the failed rows cannot be read: {e}"));
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(self.0);
        let mut record = csv::StringRecord::new();
        if !csv.read_record(&mut record).map_err(unreadable)? {
            return Err(SourceError::Unreadable("errors.csv has no header".into()));
        }
        let header: Vec<String> = record
            .iter()
            .skip(2)
            .map(|c| read_cell(c).to_owned())
            .collect();
        let columns = header.len();
        if !sink.header(header) {
            return Ok(());
        }
        let mut fields = Fields::new();
        while csv.read_record(&mut record).map_err(unreadable)? {
            let Some(number) = record.get(0).and_then(|n| n.parse::<u64>().ok()) else {
                continue;
            };
            let reason = record.get(1).map_or("", read_cell);
            // A row that could not be read has no fields: it fails again,
            // with its reason.
            let row = if record.len() <= 2 && columns > 0 {
                Record {
                    number,
                    fields: Err(reason),
                }
            } else {
                fields.clear();
                for cell in record.iter().skip(2) {
                    fields.push_field(read_cell(cell));
                }
                Record {
                    number,
                    fields: Ok(&fields),
                }
            };
            if !sink.row(row) {
                break;
            }
        }
        Ok(())
    }
}

impl RunHandler {
    /// Run `run`'s result file `name`, decrypting as it is read; the run
    /// fails if the files have expired.
    async fn open_result(
        &self,
        account: AccountId,
        run: RunId,
        name: &'static str,
    ) -> Result<ResultReader, Stop> {
        let (row, key) = self
            .db(move |c| {
                Ok((
                    jobs::run(c, account, run)?,
                    jobs::result_key(c, account, run)?,
                ))
            })
            .await?;
        let now = self.platform.clock.now();
        let live = row.is_some_and(|r| {
            r.results_removed_at.is_none() && r.results_expire_at.is_some_and(|at| at > now)
        });
        let (version, wrapped) = key.filter(|_| live).ok_or_else(|| {
            Stop::Fail(format!(
                "the result files of run {run} expired and are deleted"
            ))
        })?;
        let key = self
            .keyring
            .file_key(&owner::result_key(account, run), version.get(), &wrapped)
            .map_err(|e| Stop::Retry(format!("result key: {e}")))?;
        let store = self.store.clone();
        let file_owner = owner::result_file(account, run, name, None);
        let id = owner::result_file_id(run, name, None);
        tokio::task::spawn_blocking(move || store.reader(KIND, &id, &key, &file_owner))
            .await
            .map_err(|e| Stop::Retry(format!("result file: {e}")))?
            .map(|reader| BufReader::with_capacity(256 * 1024, reader))
            .map_err(|e| Stop::Fail(format!("the result files of run {run} cannot be read: {e}")))
    }

    /// The failed rows of run `run`, for a retry.
    pub(super) async fn open_failed(&self, account: AccountId, run: RunId) -> Result<Failed, Stop> {
        Ok(Failed(self.open_result(account, run, ERRORS).await?))
    }

    /// The numbers of the rows trial `trial` wrote (its success.csv), for
    /// its rest. The rest fails if a crash lost some of the trial's result
    /// rows: which rows it wrote is then not known.
    pub(super) async fn written_rows(
        &self,
        account: AccountId,
        trial: RunId,
    ) -> Result<HashSet<u64>, Stop> {
        let success = self.open_result(account, trial, SUCCESS).await?;
        let errors = self.open_result(account, trial, ERRORS).await?;
        tokio::task::spawn_blocking(move || {
            let lost = numbers(errors, usize::MAX)?.1;
            if lost {
                return Err(Stop::Fail(
                    "a crash lost some of the trial's result rows, so which rows it wrote is not \
                     known: run the job in full instead"
                        .into(),
                ));
            }
            Ok(numbers(success, MAX_SAMPLE_ROWS as usize)?.0)
        })
        .await
        .map_err(|e| Stop::Retry(format!("result file: {e}")))?
    }
}

/// The row numbers of a result file (at most `most` of them kept), and
/// whether it has a line without one (a crash's note of lost rows).
fn numbers(file: ResultReader, most: usize) -> Result<(HashSet<u64>, bool), Stop> {
    let unreadable = |e: csv::Error| Stop::Fail(format!("a result file cannot be read: {e}"));
    let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(file);
    let mut record = csv::ByteRecord::new();
    let mut rows = HashSet::new();
    let mut unnumbered = false;
    while csv.read_byte_record(&mut record).map_err(unreadable)? {
        match std::str::from_utf8(record.get(0).unwrap_or_default()).map(str::parse::<u64>) {
            Ok(Ok(number)) if rows.len() < most => {
                rows.insert(number);
            }
            Ok(Ok(_)) => {
                return Err(Stop::Fail(format!(
                    "the trial wrote more than {most} rows, more than a trial may"
                )))
            }
            _ => unnumbered = true,
        }
    }
    Ok((rows, unnumbered))
}
