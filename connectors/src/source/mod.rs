//! Sources stream rows: each row is a record of the source with its number
//! (1 for the first data row) and either its fields or the reason it cannot
//! be read, so one bad row never stops a run.
//!
//! A source hands each row to a [`RowSink`] as a [`Record`] that borrows
//! the source's buffer: reading a row allocates nothing. [`Row`] is the
//! owned form, for the few rows a preview keeps.
//!
//! `delimited` reads CSV (any encoding and delimiter), through `guard`,
//! which bounds a record's length; `sheet` reads Excel and ODS workbooks.

mod delimited;
mod guard;
mod sheet;

pub use delimited::CsvSource;
pub use sheet::read_sheet;

/// A row's fields as text, in one buffer.
pub use csv::StringRecord as Fields;

/// One row of a source, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// 1 for the first data row (the header is row 0).
    pub number: u64,
    pub fields: Result<Vec<String>, String>,
}

/// One row of a source as a sink receives it: its fields are borrowed for
/// the call.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// 1 for the first data row (the header is row 0).
    pub number: u64,
    pub fields: Result<&'a Fields, &'a str>,
}

impl Record<'_> {
    pub fn to_row(&self) -> Row {
        Row {
            number: self.number,
            fields: match self.fields {
                Ok(fields) => Ok(fields.iter().map(str::to_owned).collect()),
                Err(reason) => Err(reason.to_owned()),
            },
        }
    }
}

/// Why a source cannot be read at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SourceError {
    #[error("{0}")]
    Unreadable(String),
}

/// The largest record a CSV may hold: a longer one fails its row, and the
/// source goes on after it, rather than hold an endless field in memory.
pub const MAX_RECORD: usize = 8 * 1024 * 1024;

/// Receives a source's rows: the header first, then each row; either
/// returns `false` to stop reading.
pub trait RowSink {
    fn header(&mut self, header: Vec<String>) -> bool;
    fn row(&mut self, row: Record<'_>) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::CsvDialect;
    use std::io::Read;

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

    struct Collect(Vec<String>, Vec<Row>);
    impl RowSink for Collect {
        fn header(&mut self, header: Vec<String>) -> bool {
            self.0 = header;
            true
        }
        fn row(&mut self, row: Record<'_>) -> bool {
            self.1.push(row.to_row());
            true
        }
    }

    #[test]
    fn every_workbook_format_gives_its_rows() {
        use crate::detect::Format;
        for (name, format) in [
            ("contacts.xlsx", Format::Xlsx),
            ("contacts.xls", Format::Xls),
            ("contacts.ods", Format::Ods),
        ] {
            let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
            let bytes = std::fs::read(path).unwrap();
            let mut rows = Collect(Vec::new(), Vec::new());
            read_sheet(std::io::Cursor::new(&bytes), format, None, &mut rows).unwrap();
            assert_eq!(rows.0, ["Email", "First Name", "Amount"], "{name}");
            assert_eq!(rows.1.len(), 2, "{name}");
            assert_eq!(
                rows.1[0].fields,
                Ok(vec!["ada@example.com".into(), "Ada".into(), "12.5".into()]),
                "{name}"
            );
            assert_eq!(rows.1[1].fields.as_ref().unwrap()[2], "7", "{name}");
            assert_eq!(rows.1[1].number, 2);
            let mut notes = Collect(Vec::new(), Vec::new());
            read_sheet(
                std::io::Cursor::new(&bytes),
                format,
                Some("Notes"),
                &mut notes,
            )
            .unwrap();
            assert_eq!(notes.0, ["note"], "{name}");
            let missing = read_sheet(
                std::io::Cursor::new(&bytes),
                format,
                Some("Nope"),
                &mut notes,
            );
            assert!(missing.is_err(), "{name}");
        }
    }

    #[test]
    fn a_record_over_the_limit_fails_its_row_and_reading_goes_on() {
        let reason = |row: &Row| row.fields.as_ref().unwrap_err().clone();
        // A 50 MB quoted field, closed, between two good rows; then a long
        // unquoted one.
        let mut csv = b"id,note\n1,\"first\"\n2,\"".to_vec();
        csv.extend(std::iter::repeat_n(b'x', 50_000_000));
        csv.extend_from_slice(b"\"\"quoted\"\" and, more\nlines\"\n3,\"fine\"\n4,");
        csv.extend(std::iter::repeat_n(b'y', MAX_RECORD));
        csv.extend_from_slice(b"\r\n5,last\n");
        let rows: Vec<Row> = CsvSource::open(&csv[..], &dialect("UTF-8", ","))
            .unwrap()
            .collect();
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[0].fields, Ok(vec!["1".into(), "first".into()]));
        assert!(
            reason(&rows[1]).contains("longer than 8 MiB"),
            "{:?}",
            rows[1]
        );
        assert_eq!(rows[2].fields, Ok(vec!["3".into(), "fine".into()]));
        assert_eq!(rows[2].number, 3);
        assert!(reason(&rows[3]).contains("longer than 8 MiB"));
        assert_eq!(rows[4].fields, Ok(vec!["5".into(), "last".into()]));
        // A record of exactly the limit is read whole.
        let mut csv = b"note\n".to_vec();
        csv.extend(std::iter::repeat_n(b'z', MAX_RECORD));
        csv.extend_from_slice(b"\nnext\n");
        let rows: Vec<Row> = CsvSource::open(&csv[..], &dialect("UTF-8", ","))
            .unwrap()
            .collect();
        assert_eq!(rows[0].fields.as_ref().unwrap()[0].len(), MAX_RECORD);
        assert_eq!(rows[1].fields, Ok(vec!["next".into()]));
        // An unclosed quote: everything after it is the one failed row.
        let mut csv = b"id,note\n1,\"never closed\n".to_vec();
        csv.extend(std::iter::repeat_n(b'x', MAX_RECORD + 10));
        csv.extend_from_slice(b"\n2,fine\n");
        let rows: Vec<Row> = CsvSource::open(&csv[..], &dialect("UTF-8", ","))
            .unwrap()
            .collect();
        assert_eq!(rows.len(), 1);
        assert!(reason(&rows[0]).contains("longer than 8 MiB"));
        // Quoted line breaks within the limit are fine.
        let csv = b"id,note\n1,\"two\nlines\"\n2,x\n";
        let rows: Vec<Row> = CsvSource::open(&csv[..], &dialect("UTF-8", ","))
            .unwrap()
            .collect();
        assert_eq!(rows[0].fields, Ok(vec!["1".into(), "two\nlines".into()]));
        assert_eq!(rows.len(), 2);
        // A stray quote inside an unquoted field opens nothing, and doubled
        // quotes inside a quoted one are literal.
        let mut csv = b"id,note\n1,5\" screen\n2,\"say \"\"hi\"\"\"\n".to_vec();
        for i in 0..1_000_000 {
            csv.extend_from_slice(format!("{i},row\n").as_bytes());
        }
        assert!(csv.len() > MAX_RECORD);
        let rows: Vec<Row> = CsvSource::open(&csv[..], &dialect("UTF-8", ","))
            .unwrap()
            .collect();
        assert_eq!(rows.len(), 1_000_002);
        assert!(rows.iter().all(|r| r.fields.is_ok()));
        assert_eq!(rows[1].fields, Ok(vec!["2".into(), "say \"hi\"".into()]));
    }

    /// Gives its bytes one read call at a time.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((b, rest)), Some(slot)) => {
                    *slot = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    /// Gives its bytes in large reads, but one byte a read in `slow`.
    struct SlowAround<'a> {
        data: &'a [u8],
        at: usize,
        slow: std::ops::Range<usize>,
    }
    impl Read for SlowAround<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let limit = if self.slow.contains(&self.at) {
                1
            } else if self.at < self.slow.start {
                self.slow.start - self.at
            } else {
                usize::MAX
            };
            let n = buf.len().min(limit).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    #[test]
    fn quotes_are_followed_across_reads() {
        let csv = b"id,note\n1,5\" screen\n2,\"say \"\"hi\"\"\"\n3,\"a,\nb\"\n4,\"\"\n";
        let whole: Vec<Row> = CsvSource::open(&csv[..], &dialect("UTF-8", ","))
            .unwrap()
            .collect();
        let trickled: Vec<Row> = CsvSource::open(Trickle(csv), &dialect("UTF-8", ","))
            .unwrap()
            .collect();
        assert_eq!(whole.len(), 4);
        assert_eq!(
            whole.iter().map(|r| &r.fields).collect::<Vec<_>>(),
            trickled.iter().map(|r| &r.fields).collect::<Vec<_>>()
        );
        assert_eq!(whole[2].fields, Ok(vec!["3".into(), "a,\nb".into()]));
        // A record cut at the limit, read one byte at a time around the
        // cut: inside a quoted field, at a quote in it, and just after one.
        for (xs, tail) in [
            (MAX_RECORD - 2, &b""[..]),
            (MAX_RECORD - 7, b"\"\"yy"),
            (MAX_RECORD - 8, b"\"\"yy"),
        ] {
            let mut long = b"id,note\n1,\"open".to_vec();
            long.extend(std::iter::repeat_n(b'x', xs));
            long.extend_from_slice(tail);
            long.extend_from_slice(b"\"\n2,\"b\"\n");
            let around = MAX_RECORD - 64..MAX_RECORD + 64;
            let slow = SlowAround {
                data: &long,
                at: 0,
                slow: around,
            };
            let rows: Vec<Row> = CsvSource::open(slow, &dialect("UTF-8", ","))
                .unwrap()
                .collect();
            assert!(rows[0].fields.as_ref().unwrap_err().contains("8 MiB"));
            assert_eq!(rows[1].fields, Ok(vec!["2".into(), "b".into()]));
            assert_eq!(rows.len(), 2);
        }
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
