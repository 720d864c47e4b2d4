//! One Bulk job's records, as the CSV uploaded: a row's cells as Bulk
//! wants them, and the upload kept within its limit.
//!
//! The rows are kept to match results back, all in one buffer (a cell's
//! end and whether it had a value a row), not a `String` a cell: a job of
//! a million rows would otherwise hold millions of small allocations.

use crate::salesforce::{Operation, SalesforceError};

/// The most CSV one job takes (Salesforce allows 150 MB once encoded).
pub const MAX_UPLOAD: usize = 100 * 1024 * 1024;

/// What Bulk API 2.0 writes for "set this field to null".
const NULL: &str = "#N/A";

/// Marks a cell's end as that of a cell without a value.
const UNSET: u32 = 1 << 31;

/// One job's records, as CSV.
pub struct BulkBatch {
    pub(super) operation: Operation,
    pub(super) columns: usize,
    csv: csv::Writer<Vec<u8>>,
    /// Every row's values, one after another.
    text: String,
    /// Each cell's end in `text`, [`UNSET`] added for a cell without a
    /// value.
    ends: Vec<u32>,
    /// Each row's first cell in `ends`, and one past the last row's.
    starts: Vec<u32>,
    /// The column that names a row's record, and whether it holds record
    /// ids (see [`BulkBatch::keyed_by`]).
    pub(super) key: Option<(usize, bool)>,
    /// What a cell without a value is: empty (the field is left as it is,
    /// and an insert leaves it unset) or `#N/A` (cleared).
    blank: &'static str,
    header: Vec<String>,
    /// The CSV's size so far, at most (quoting included).
    size: usize,
    limit: usize,
}

impl BulkBatch {
    /// A batch of records with the CSV `header` (field names; a reference
    /// set by an external id as `Account.External_Id__c`).
    pub fn new(operation: Operation, header: &[String]) -> Result<Self, SalesforceError> {
        Self::with_limit(operation, header, MAX_UPLOAD)
    }

    pub fn with_limit(
        operation: Operation,
        header: &[String],
        limit: usize,
    ) -> Result<Self, SalesforceError> {
        let mut csv = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        csv.write_record(header).map_err(unwritable)?;
        Ok(Self {
            operation,
            columns: header.len(),
            csv,
            text: String::new(),
            ends: Vec::new(),
            starts: vec![0],
            key: None,
            blank: match operation {
                Operation::Insert => "",
                _ => NULL,
            },
            header: header.to_vec(),
            size: header.iter().map(|h| cell_size(h)).sum(),
            limit,
        })
    }

    /// Names the column (by its header) that identifies each row's record:
    /// `Id` for an update or a delete, the external id for an upsert. A
    /// result whose other values Salesforce echoes differently from the
    /// upload is then matched by it.
    pub fn keyed_by(mut self, column: Option<&str>) -> Self {
        self.key = column.and_then(|name| {
            let at = self
                .header
                .iter()
                .position(|h| h.eq_ignore_ascii_case(name))?;
            Some((at, name.eq_ignore_ascii_case("Id")))
        });
        self
    }

    /// The same, with cells without a value left empty (the fields are
    /// left as they are) in every write, not only an insert.
    pub fn leaving_blanks(mut self, leave: bool) -> Self {
        if leave {
            self.blank = "";
        }
        self
    }

    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A row's size in CSV, at most.
    fn row_size<'a>(&self, values: impl IntoIterator<Item = Option<&'a str>>) -> usize {
        values
            .into_iter()
            .take(self.columns)
            .map(|v| cell_size(v.unwrap_or(self.blank)))
            .sum()
    }

    /// Whether `rows` (one value a column each) fit in the upload with
    /// what it holds.
    pub fn fits<'a, R>(&self, rows: impl IntoIterator<Item = R>) -> bool
    where
        R: IntoIterator<Item = Option<&'a str>>,
    {
        let size: usize = rows.into_iter().map(|row| self.row_size(row)).sum();
        self.size + size <= self.limit
    }

    /// Adds a row (one value a column, `None` for no value); false, and
    /// nothing added, when the row would take the upload past its limit.
    pub fn push(&mut self, values: &[Option<&str>]) -> Result<bool, SalesforceError> {
        let values = &values[..values.len().min(self.columns)];
        let size = self.row_size(values.iter().copied());
        if !self.is_empty() && self.size + size > self.limit {
            return Ok(false);
        }
        let grown = self.text.len() + values.iter().flatten().map(|v| v.len()).sum::<usize>();
        if grown >= UNSET as usize || self.ends.len() + values.len() >= UNSET as usize {
            return Err(unwritable("the rows take more than 2 GiB"));
        }
        let blank = self.blank;
        self.csv
            .write_record(values.iter().map(|v| v.unwrap_or(blank)))
            .map_err(unwritable)?;
        self.size += size;
        for value in values {
            // Below `UNSET`, checked above.
            let end = match value {
                Some(text) => {
                    self.text.push_str(text);
                    self.text.len() as u32
                }
                None => self.text.len() as u32 | UNSET,
            };
            self.ends.push(end);
        }
        self.starts.push(self.ends.len() as u32);
        Ok(true)
    }

    /// Row `at`'s values as pushed (`None` for no value).
    pub fn values(&self, at: usize) -> impl ExactSizeIterator<Item = Option<&str>> + Clone + '_ {
        let (first, last) = (self.starts[at] as usize, self.starts[at + 1] as usize);
        let mut start = match first {
            0 => 0,
            _ => (self.ends[first - 1] & !UNSET) as usize,
        };
        self.ends[first..last].iter().map(move |end| {
            let stop = (end & !UNSET) as usize;
            let value = (end & UNSET == 0).then(|| self.text.get(start..stop).unwrap_or_default());
            start = stop;
            value
        })
    }

    /// Row `at`'s cells as uploaded.
    pub(super) fn row(&self, at: usize) -> impl ExactSizeIterator<Item = &str> + Clone + '_ {
        self.values(at).map(|v| v.unwrap_or(self.blank))
    }

    /// The CSV written, taken out of the batch (up to 100 MB: not copied).
    pub(super) fn body(&mut self) -> Result<Vec<u8>, SalesforceError> {
        let taken = std::mem::replace(&mut self.csv, csv::Writer::from_writer(Vec::new()));
        taken.into_inner().map_err(|e| unwritable(e.error()))
    }
}

/// A value's size in CSV, at most: quoted, its quotes doubled, a separator
/// after it.
fn cell_size(value: &str) -> usize {
    value.len() + 3 + value.bytes().filter(|b| *b == b'"').count()
}

fn unwritable(e: impl std::fmt::Display) -> SalesforceError {
    SalesforceError::Unreachable(format!("the upload could not be written: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_stops_at_its_limit_and_writes_nulls_as_bulk_wants() {
        let header = ["LastName".to_owned(), "Email".to_owned()];
        let mut batch = BulkBatch::with_limit(Operation::Update, &header, 40).unwrap();
        assert!(batch.push(&[Some("Ada"), None]).unwrap());
        assert!(!batch
            .push(&[Some("Bob with a long name"), Some("b@example.com")])
            .unwrap());
        assert_eq!(batch.len(), 1);
        assert_eq!(batch.body().unwrap(), b"LastName,Email\nAda,#N/A\n");
    }

    #[test]
    fn a_batch_gives_back_each_rows_values_and_cells_as_uploaded() {
        let header = [
            "LastName".to_owned(),
            "Email".to_owned(),
            "Title".to_owned(),
        ];
        let mut batch = BulkBatch::new(Operation::Upsert, &header).unwrap();
        assert!(batch.push(&[Some("Ada"), None, Some("")]).unwrap());
        assert!(batch.push(&[None, Some("b@x"), Some("Dr \"B\"")]).unwrap());
        let values: Vec<Vec<Option<&str>>> = (0..2).map(|at| batch.values(at).collect()).collect();
        assert_eq!(values[0], [Some("Ada"), None, Some("")]);
        assert_eq!(values[1], [None, Some("b@x"), Some("Dr \"B\"")]);
        assert_eq!(
            batch.row(1).collect::<Vec<_>>(),
            ["#N/A", "b@x", "Dr \"B\""]
        );
        let more = [[Some("x".repeat(40)), None, None]];
        assert!(batch.fits(more.iter().map(|r| r.iter().map(Option::as_deref))));
        let body = String::from_utf8(batch.body().unwrap()).unwrap();
        assert_eq!(
            body,
            "LastName,Email,Title\nAda,#N/A,\n#N/A,b@x,\"Dr \"\"B\"\"\"\n"
        );
    }
}
