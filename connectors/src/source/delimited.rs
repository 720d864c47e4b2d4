//! A CSV file read as a stream of records, in its detected encoding and
//! delimiter.

use super::guard::RecordLimit;
use super::{Fields, Record, Row, RowSink, SourceError, MAX_RECORD};
use crate::detect::CsvDialect;
use encoding_rs::Encoding;
use std::io::Read;

/// A CSV file read as a stream, in its detected encoding and delimiter.
pub struct CsvSource<R: Read> {
    reader: csv::Reader<RecordLimit<encoding_rs_io::DecodeReaderBytes<R, Vec<u8>>>>,
    header: Vec<String>,
    number: u64,
    /// The row under way.
    record: Fields,
    /// Whether the row under way cannot be read, and why.
    failed: bool,
    reason: String,
    /// Set once the input itself failed: nothing further can be read.
    ended: bool,
}

impl<R: Read> CsvSource<R> {
    /// Opens `input` with the dialect detected at upload; reads the header.
    pub fn open(input: R, dialect: &CsvDialect) -> Result<Self, SourceError> {
        let encoding =
            Encoding::for_label(dialect.encoding.as_bytes()).unwrap_or(encoding_rs::UTF_8);
        // UTF-8 passes through untouched, so that invalid bytes show as
        // row errors instead of silently becoming replacement characters; a
        // byte-order mark is dropped (or, for UTF-16, decoded).
        let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
            .encoding((encoding != encoding_rs::UTF_8).then_some(encoding))
            .bom_override(true)
            .strip_bom(true)
            .build(input);
        let delimiter = dialect.delimiter.bytes().next().unwrap_or(b',');
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(RecordLimit::new(decoded, delimiter));
        let mut first = csv::ByteRecord::new();
        match reader.read_byte_record(&mut first) {
            Ok(true) if !reader.get_ref().cut => {}
            Ok(true) => {
                return Err(SourceError::Unreadable(format!(
                    "the header line is longer than {} MiB",
                    MAX_RECORD / (1024 * 1024)
                )))
            }
            Ok(false) => {
                return Err(SourceError::Unreadable(
                    "the file has no header line".into(),
                ))
            }
            Err(e) => {
                return Err(SourceError::Unreadable(format!(
                    "the header line cannot be read: {e}"
                )))
            }
        }
        let header = first
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_owned())
            .collect();
        Ok(Self {
            reader,
            header,
            number: 0,
            record: Fields::new(),
            failed: false,
            reason: String::new(),
            ended: false,
        })
    }

    /// Opens `input`, detecting its encoding and delimiter from its first
    /// bytes as an upload's are.
    pub fn detect(mut input: R) -> Result<Self, SourceError>
    where
        R: std::io::Seek,
    {
        use crate::detect::{csv_shape, HEAD};
        use std::io::SeekFrom;
        let unreadable =
            |e: std::io::Error| SourceError::Unreadable(format!("the file cannot be read: {e}"));
        let mut head = Vec::with_capacity(64 * 1024);
        let n = input
            .by_ref()
            .take(HEAD as u64)
            .read_to_end(&mut head)
            .map_err(unreadable)?;
        let shape =
            csv_shape(&head, n < HEAD).map_err(|e| SourceError::Unreadable(e.to_string()))?;
        let dialect = shape
            .csv
            .ok_or_else(|| SourceError::Unreadable("the file is not a CSV file".into()))?;
        drop(head);
        input.seek(SeekFrom::Start(0)).map_err(unreadable)?;
        Self::open(input, &dialect)
    }

    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The next row, borrowed until the next call; `None` at the end.
    pub fn next_record(&mut self) -> Option<Record<'_>> {
        self.advance().then(|| self.current())
    }

    /// Reads the next row into `record`, or why it cannot be read into
    /// `reason`; false at the end.
    fn advance(&mut self) -> bool {
        if self.ended {
            return false;
        }
        // Read into the same record each time: nothing is allocated.
        let read = self.reader.read_record(&mut self.record);
        let cut = std::mem::take(&mut self.reader.get_mut().cut);
        let failure = match read {
            Ok(false) => return false,
            Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => {
                self.ended = true;
                Some(format!("the file could not be read further: {e}"))
            }
            _ if cut => Some(format!(
                "the row is longer than {} MiB (an unclosed quote?) and was skipped",
                MAX_RECORD / (1024 * 1024)
            )),
            Ok(true) if self.record.len() != self.header.len() => Some(format!(
                "the row has {} fields where the header has {}",
                self.record.len(),
                self.header.len()
            )),
            Ok(true) => None,
            Err(e) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => {
                Some("the row is not valid text in the file's encoding".to_owned())
            }
            Err(e) => Some(format!("the row cannot be read: {e}")),
        };
        self.number += 1;
        self.failed = failure.is_some();
        if let Some(reason) = failure {
            self.reason = reason;
        }
        true
    }

    /// The row read last.
    fn current(&self) -> Record<'_> {
        Record {
            number: self.number,
            fields: if self.failed {
                Err(&self.reason)
            } else {
                Ok(&self.record)
            },
        }
    }
}

impl<R: Read> Iterator for CsvSource<R> {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        self.next_record().map(|record| record.to_row())
    }
}

impl<R: Read> CsvSource<R> {
    /// Feeds the header and every row to `sink`. Should the file itself
    /// fail part-way (an I/O error), the rows before are fed and the
    /// failure is the error.
    pub fn feed(mut self, sink: &mut impl RowSink) -> Result<(), SourceError> {
        if !sink.header(self.header.clone()) {
            return Ok(());
        }
        while self.advance() {
            if self.ended {
                return Err(SourceError::Unreadable(format!(
                    "row {}: {}; nothing after it was read",
                    self.number, self.reason
                )));
            }
            if !sink.row(self.current()) {
                return Ok(());
            }
        }
        Ok(())
    }
}
