//! Sources stream rows: each [`Row`] is a record of the source with its
//! number (1 for the first data row) and either its fields or the reason it
//! cannot be read, so one bad row never stops a run.

use crate::detect::CsvDialect;
use encoding_rs::Encoding;
use std::io::Read;

/// One row of a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// 1 for the first data row (the header is row 0).
    pub number: u64,
    pub fields: Result<Vec<String>, String>,
}

/// Why a source cannot be read at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SourceError {
    #[error("{0}")]
    Unreadable(String),
}

/// A CSV file read as a stream, in its detected encoding and delimiter.
pub struct CsvSource<R: Read> {
    reader: csv::Reader<encoding_rs_io::DecodeReaderBytes<R, Vec<u8>>>,
    header: Vec<String>,
    number: u64,
    record: csv::ByteRecord,
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
            .from_reader(decoded);
        let mut first = csv::ByteRecord::new();
        match reader.read_byte_record(&mut first) {
            Ok(true) => {}
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
            record: csv::ByteRecord::new(),
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
}

impl<R: Read> Iterator for CsvSource<R> {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        if self.ended {
            return None;
        }
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => {
                self.number += 1;
                let width = self.header.len();
                let fields = if self.record.len() != width {
                    Err(format!(
                        "the row has {} fields where the header has {width}",
                        self.record.len()
                    ))
                } else {
                    self.record
                        .iter()
                        .map(|f| {
                            std::str::from_utf8(f).map(str::to_owned).map_err(|_| {
                                "the row is not valid text in the file's encoding".to_owned()
                            })
                        })
                        .collect()
                };
                Some(Row {
                    number: self.number,
                    fields,
                })
            }
            Err(e) => {
                self.number += 1;
                let message = if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    self.ended = true;
                    format!("the file could not be read further: {e}")
                } else {
                    format!("the row cannot be read: {e}")
                };
                Some(Row {
                    number: self.number,
                    fields: Err(message),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialect(encoding: &str, delimiter: &str) -> CsvDialect {
        CsvDialect {
            encoding: encoding.into(),
            delimiter: delimiter.into(),
        }
    }

    #[test]
    fn rows_stream_with_their_numbers_and_errors() {
        let csv = b"id,name\n1,Ada\n2,Bob,extra\n3,\"Car\nol\"\n4,\xFF\n";
        let mut source = CsvSource::open(&csv[..], &dialect("UTF-8", ",")).unwrap();
        assert_eq!(source.header(), ["id", "name"]);
        let rows: Vec<Row> = source.by_ref().collect();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].fields, Ok(vec!["1".into(), "Ada".into()]));
        assert!(rows[1].fields.as_ref().unwrap_err().contains("3 fields"));
        assert_eq!(rows[2].fields, Ok(vec!["3".into(), "Car\nol".into()]));
        assert_eq!(rows[2].number, 3);
        assert!(rows[3]
            .fields
            .as_ref()
            .unwrap_err()
            .contains("not valid text"));
    }

    #[test]
    fn legacy_encodings_and_boms_are_decoded() {
        let latin = b"Stra\xDFe;Ort\nHauptstra\xDFe;K\xF6ln\n";
        let rows: Vec<Row> = CsvSource::open(&latin[..], &dialect("windows-1252", ";"))
            .unwrap()
            .collect();
        assert_eq!(
            rows[0].fields,
            Ok(vec!["Hauptstraße".into(), "Köln".into()])
        );
        let bom = b"\xEF\xBB\xBFid\n7\n";
        let mut source = CsvSource::open(&bom[..], &dialect("UTF-8", ",")).unwrap();
        assert_eq!(source.header(), ["id"]);
        assert_eq!(source.next().unwrap().fields, Ok(vec!["7".into()]));
    }
}
