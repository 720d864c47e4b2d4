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

/// The largest record a CSV may hold: beyond it, reading stops with an
/// error rather than hold an endless field in memory.
pub const MAX_RECORD: usize = 8 * 1024 * 1024;

/// Passes bytes through while counting those since the last record end; a
/// record longer than [`MAX_RECORD`] is an error. Quotes are followed as the
/// CSV reader reads them: a quote opens a quoted field only at the start of
/// a field, and a doubled quote inside one is a literal quote.
struct RecordLimit<R> {
    inner: R,
    delimiter: u8,
    quote: QuoteState,
    at_field_start: bool,
    since_break: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum QuoteState {
    Unquoted,
    Quoted,
    /// A quote seen inside a quoted field: it closes the field unless the
    /// next byte is a quote too.
    QuoteInQuoted,
}

impl<R> RecordLimit<R> {
    /// Counts `n` bytes of the record under way.
    fn count(&mut self, n: usize) -> std::io::Result<()> {
        self.since_break += n;
        if self.since_break > MAX_RECORD {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "a record is longer than {} MiB (an unclosed quote?)",
                    MAX_RECORD / (1024 * 1024)
                ),
            ));
        }
        Ok(())
    }

    fn separates(&self, b: u8) -> bool {
        b == self.delimiter || b == b'\n' || b == b'\r'
    }
}

impl<R: Read> Read for RecordLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let data = &buf[..n];
        let mut i = 0;
        // Only quotes and line ends matter: the bytes between them are
        // counted in one step.
        while i < n {
            match self.quote {
                QuoteState::Unquoted => match memchr::memchr2(b'"', b'\n', &data[i..]) {
                    None => {
                        self.count(n - i)?;
                        self.at_field_start = self.separates(data[n - 1]);
                        i = n;
                    }
                    Some(offset) => {
                        let at = i + offset;
                        if data[at] == b'\n' {
                            self.count(offset)?;
                            self.since_break = 0;
                            self.at_field_start = true;
                        } else {
                            let field_start = if at == i {
                                self.at_field_start
                            } else {
                                self.separates(data[at - 1])
                            };
                            self.count(offset + 1)?;
                            if field_start {
                                self.quote = QuoteState::Quoted;
                            }
                            self.at_field_start = false;
                        }
                        i = at + 1;
                    }
                },
                QuoteState::Quoted => match memchr::memchr(b'"', &data[i..]) {
                    None => {
                        self.count(n - i)?;
                        i = n;
                    }
                    Some(offset) => {
                        self.count(offset + 1)?;
                        self.quote = QuoteState::QuoteInQuoted;
                        i += offset + 1;
                    }
                },
                QuoteState::QuoteInQuoted => {
                    if data[i] == b'"' {
                        self.count(1)?;
                        self.quote = QuoteState::Quoted;
                        i += 1;
                    } else {
                        // The field closed: this byte is read unquoted.
                        self.quote = QuoteState::Unquoted;
                        self.at_field_start = false;
                    }
                }
            }
        }
        Ok(n)
    }
}

/// A CSV file read as a stream, in its detected encoding and delimiter.
pub struct CsvSource<R: Read> {
    reader: csv::Reader<RecordLimit<encoding_rs_io::DecodeReaderBytes<R, Vec<u8>>>>,
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
            .from_reader(RecordLimit {
                inner: decoded,
                delimiter,
                quote: QuoteState::Unquoted,
                at_field_start: true,
                since_break: 0,
            });
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

/// Receives a source's rows: the header first, then each row; either
/// returns `false` to stop reading.
pub trait RowSink {
    fn header(&mut self, header: Vec<String>) -> bool;
    fn row(&mut self, row: Row) -> bool;
}

impl<R: Read> CsvSource<R> {
    /// Feeds the header and every row to `sink`. Should the file itself
    /// fail part-way (an endless record, an I/O error), the rows before are
    /// fed and the failure is the error.
    pub fn feed(mut self, sink: &mut impl RowSink) -> Result<(), SourceError> {
        if !sink.header(self.header.clone()) {
            return Ok(());
        }
        while let Some(row) = self.next() {
            if self.ended {
                let reason = row.fields.err().unwrap_or_default();
                return Err(SourceError::Unreadable(format!(
                    "row {}: {reason}; nothing after it was read",
                    row.number
                )));
            }
            if !sink.row(row) {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// A spreadsheet cell as text: whole numbers without a fraction, dates as
/// `YYYY-MM-DD` (with ` HH:MM:SS` when they have a time), booleans as
/// `true`/`false`. An error cell (`#DIV/0!`...) makes the row fail.
fn cell_text(cell: &calamine::Data) -> Result<String, String> {
    use calamine::{Data, DataType};
    Ok(match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{f:.0}")
            } else {
                f.to_string()
            }
        }
        Data::Bool(b) => b.to_string(),
        Data::DateTime(_) => match cell.as_datetime() {
            Some(at) if at.time() == chrono::NaiveTime::MIN => at.format("%Y-%m-%d").to_string(),
            Some(at) => at.format("%Y-%m-%d %H:%M:%S").to_string(),
            None => return Err("a date cell cannot be read".into()),
        },
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => return Err(format!("a cell holds the spreadsheet error {e}")),
    })
}

/// The row of cells as text, padded to `width`.
fn row_of(cells: &[calamine::Data], width: usize) -> Result<Vec<String>, String> {
    let mut out = cells.iter().map(cell_text).collect::<Result<Vec<_>, _>>()?;
    if out.len() > width && out[width..].iter().any(|c| !c.is_empty()) {
        return Err(format!(
            "the row has {} cells where the header has {width}",
            out.len()
        ));
    }
    out.resize(width, String::new());
    Ok(out)
}

/// Reads sheet `sheet` (or the first) of a workbook: its first row is the
/// header. XLSX is read cell by cell as it streams; XLS and ODS a sheet at
/// a time (their files are small by nature). A ZIP package is checked
/// against compression bombs first.
pub fn read_sheet<R: Read + std::io::Seek>(
    mut input: R,
    format: crate::detect::Format,
    sheet: Option<&str>,
    sink: &mut impl RowSink,
) -> Result<(), SourceError> {
    use crate::detect::Format;
    use calamine::{Data, Ods, Reader, Xls, Xlsx};
    let broken = |e: &dyn std::fmt::Display| {
        SourceError::Unreadable(format!(
            "the {} file cannot be read: {e}",
            format.as_str().to_uppercase()
        ))
    };
    if matches!(format, Format::Xlsx | Format::Ods) {
        crate::detect::check_package(format, &mut input)
            .map_err(|e| SourceError::Unreadable(e.to_string()))?;
        input.rewind().map_err(|e| broken(&e))?;
    }
    let choose = |names: Vec<String>| -> Result<String, SourceError> {
        match sheet {
            Some(wanted) => names.into_iter().find(|n| n == wanted).ok_or_else(|| {
                SourceError::Unreadable(format!("the workbook has no sheet \"{wanted}\""))
            }),
            None => names
                .into_iter()
                .next()
                .ok_or_else(|| SourceError::Unreadable("the workbook has no sheets".into())),
        }
    };
    let range = match format {
        Format::Xlsx => {
            let mut book: Xlsx<_> = Xlsx::new(input).map_err(|e| broken(&e))?;
            let name = choose(book.sheet_names())?;
            let mut cells = book.worksheet_cells_reader(&name).map_err(|e| broken(&e))?;
            let mut current: Option<u32> = None;
            let mut header: Option<(u32, usize)> = None;
            let mut row: Vec<Data> = Vec::new();
            let mut flush =
                |at: u32, row: &mut Vec<Data>, header: &mut Option<(u32, usize)>| -> bool {
                    let cells = std::mem::take(row);
                    match *header {
                        None => {
                            let names: Vec<String> = cells
                                .iter()
                                .map(|c| cell_text(c).unwrap_or_default().trim().to_owned())
                                .collect();
                            *header = Some((at, names.len()));
                            sink.header(names)
                        }
                        Some((first, width)) => sink.row(Row {
                            number: u64::from(at - first),
                            fields: row_of(&cells, width),
                        }),
                    }
                };
            while let Some(cell) = cells.next_cell().map_err(|e| broken(&e))? {
                let (r, c) = cell.get_position();
                if current.is_some_and(|at| at != r) {
                    if let Some(at) = current {
                        if !flush(at, &mut row, &mut header) {
                            return Ok(());
                        }
                    }
                }
                current = Some(r);
                let c = c as usize;
                if c > 16_384 {
                    continue;
                }
                if row.len() <= c {
                    row.resize(c + 1, Data::Empty);
                }
                row[c] = Data::from(cell.get_value().clone());
            }
            if let Some(at) = current {
                flush(at, &mut row, &mut header);
            }
            if header.is_none() {
                return Err(SourceError::Unreadable(format!(
                    "the sheet \"{name}\" is empty"
                )));
            }
            return Ok(());
        }
        Format::Xls => {
            let mut book: Xls<_> = Xls::new(input).map_err(|e| broken(&e))?;
            let name = choose(book.sheet_names())?;
            book.worksheet_range(&name).map_err(|e| broken(&e))?
        }
        Format::Ods => {
            let mut book: Ods<_> = Ods::new(input).map_err(|e| broken(&e))?;
            let name = choose(book.sheet_names())?;
            book.worksheet_range(&name).map_err(|e| broken(&e))?
        }
        Format::Csv => return Err(SourceError::Unreadable("a CSV is not a workbook".into())),
    };
    let mut rows = range.rows();
    let Some(first) = rows.next() else {
        return Err(SourceError::Unreadable("the sheet is empty".into()));
    };
    let names: Vec<String> = first
        .iter()
        .map(|c| cell_text(c).unwrap_or_default().trim().to_owned())
        .collect();
    let width = names.len();
    if !sink.header(names) {
        return Ok(());
    }
    for (i, cells) in rows.enumerate() {
        if cells.iter().all(|c| matches!(c, Data::Empty)) {
            continue;
        }
        let row = Row {
            number: i as u64 + 1,
            fields: row_of(cells, width),
        };
        if !sink.row(row) {
            break;
        }
    }
    Ok(())
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

    struct Collect(Vec<String>, Vec<Row>);
    impl RowSink for Collect {
        fn header(&mut self, header: Vec<String>) -> bool {
            self.0 = header;
            true
        }
        fn row(&mut self, row: Row) -> bool {
            self.1.push(row);
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
    fn an_endless_field_stops_the_file_with_a_clear_error() {
        // An unclosed quote: everything after it would be one field.
        let mut csv = b"id,note\n1,\"never closed\n".to_vec();
        csv.extend(std::iter::repeat_n(b'x', MAX_RECORD + 10));
        csv.extend_from_slice(b"\n2,fine\n");
        let rows: Vec<Row> = CsvSource::open(&csv[..], &dialect("UTF-8", ","))
            .unwrap()
            .collect();
        assert_eq!(rows.len(), 1, "reading stops");
        let error = rows[0].fields.as_ref().unwrap_err();
        assert!(error.contains("longer than 8 MiB"), "{error}");
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
        let mut endless = b"id,note\n1,\"open".to_vec();
        endless.extend(std::iter::repeat_n(b'x', MAX_RECORD));
        let rows: Vec<Row> = CsvSource::open(Trickle(&endless), &dialect("UTF-8", ","))
            .unwrap()
            .collect();
        let error = rows[0].fields.as_ref().unwrap_err();
        assert!(error.contains("longer than 8 MiB"), "{error}");
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
