//! One Bulk job's records, as the CSV uploaded: a row's cells as Bulk
//! wants them, and the upload kept within its limit.

use crate::salesforce::{Operation, SalesforceError};

/// The most CSV one job takes (Salesforce allows 150 MB once encoded).
pub const MAX_UPLOAD: usize = 100 * 1024 * 1024;

/// What Bulk API 2.0 writes for "set this field to null".
const NULL: &str = "#N/A";

/// One job's records, as CSV.
pub struct BulkBatch {
    pub(super) operation: Operation,
    pub(super) columns: usize,
    csv: csv::Writer<Vec<u8>>,
    /// Each row's values as uploaded, to match results back.
    pub(super) rows: Vec<Vec<String>>,
    /// The column that names a row's record, and whether it holds record
    /// ids (see [`BulkBatch::keyed_by`]).
    pub(super) key: Option<(usize, bool)>,
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
            rows: Vec::new(),
            key: None,
            header: header.to_vec(),
            size: csv_size(header),
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

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// A value as the upload writes it.
    fn cell(&self, value: Option<&str>) -> String {
        match value {
            Some(text) => text.to_owned(),
            // An insert leaves a field without a value unset; other
            // writes clear it.
            None if self.operation == Operation::Insert => String::new(),
            None => NULL.to_owned(),
        }
    }

    /// Whether `rows` (one value a column each) fit in the upload with
    /// what it holds.
    pub fn fits<'a>(&self, rows: impl IntoIterator<Item = &'a [Option<String>]>) -> bool {
        let size: usize = rows
            .into_iter()
            .map(|row| {
                let cells: Vec<String> = row
                    .iter()
                    .take(self.columns)
                    .map(|v| self.cell(v.as_deref()))
                    .collect();
                csv_size(&cells)
            })
            .sum();
        self.size + size <= self.limit
    }

    /// Adds a row (one value a column, `None` for no value); false, and
    /// nothing added, when the row would take the upload past its limit.
    pub fn push(&mut self, values: &[Option<&str>]) -> Result<bool, SalesforceError> {
        let row: Vec<String> = values
            .iter()
            .take(self.columns)
            .map(|v| self.cell(*v))
            .collect();
        let size = csv_size(&row);
        if !self.rows.is_empty() && self.size + size > self.limit {
            return Ok(false);
        }
        self.csv.write_record(&row).map_err(unwritable)?;
        self.size += size;
        self.rows.push(row);
        Ok(true)
    }

    /// The CSV written, taken out of the batch (up to 100 MB: not copied).
    pub(super) fn body(&mut self) -> Result<Vec<u8>, SalesforceError> {
        let taken = std::mem::replace(&mut self.csv, csv::Writer::from_writer(Vec::new()));
        taken.into_inner().map_err(|e| unwritable(e.error()))
    }
}

/// A record's size in CSV, at most: each value quoted, its quotes doubled,
/// a separator after each.
fn csv_size(values: &[String]) -> usize {
    values
        .iter()
        .map(|v| v.len() + 3 + v.bytes().filter(|b| *b == b'"').count())
        .sum()
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
}
