//! Sources stream rows: each row is a record of the source with its number
//! (1 for the first data row) and either its fields or the reason it cannot
//! be read, so one bad row never stops a run.
//!
//! A source hands each row to a [`RowSink`] as a [`Record`] that borrows
//! the source's buffer: reading a row allocates nothing. [`Row`] is the
//! owned form, for the few rows a preview keeps.

use crate::detect::CsvDialect;
use encoding_rs::Encoding;
use std::io::Read;

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

/// Passes bytes through while counting those since the last record end. A
/// record longer than [`MAX_RECORD`] is cut there: the CSV reader is given
/// its end (closing an open quote), the rest of it is skipped, and `cut`
/// says so. Quotes are followed as the CSV reader reads them: a quote opens
/// a quoted field only at the start of a field, a doubled quote inside one
/// is a literal quote, and a line break inside one ends nothing.
struct RecordLimit<R> {
    inner: R,
    delimiter: u8,
    quote: QuoteState,
    at_field_start: bool,
    since_break: usize,
    /// Bytes read from `inner`, from `pos` to `len` not yet looked at.
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    /// The rest of a cut record is being skipped.
    skipping: bool,
    /// The end of a cut record, still to be given.
    pending: &'static [u8],
    /// A record was cut since the reader last looked.
    cut: bool,
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
    fn new(inner: R, delimiter: u8) -> Self {
        Self {
            inner,
            delimiter,
            quote: QuoteState::Unquoted,
            at_field_start: true,
            since_break: 0,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            pos: 0,
            len: 0,
            skipping: false,
            pending: b"",
            cut: false,
        }
    }

    fn separates(&self, b: u8) -> bool {
        b == self.delimiter || b == b'\n' || b == b'\r'
    }

    /// Takes `n` bytes at `pos` as part of the record: copied to `out` (at
    /// `*given`), or dropped while skipping. A record that reaches
    /// [`MAX_RECORD`] is cut there; the bytes after the cut are skipped.
    fn take(&mut self, n: usize, out: &mut [u8], given: &mut usize) {
        let mut n = n;
        if !self.skipping {
            let room = MAX_RECORD - self.since_break;
            let kept = n.min(room);
            out[*given..*given + kept].copy_from_slice(&self.buf[self.pos..self.pos + kept]);
            *given += kept;
            self.since_break += kept;
            self.pos += kept;
            n -= kept;
            if n == 0 {
                return;
            }
            // The record is too long: end it here for the reader.
            self.pending = if self.quote == QuoteState::Quoted {
                b"\"\n"
            } else {
                b"\n"
            };
            self.skipping = true;
            self.cut = true;
        }
        self.pos += n;
    }

    /// A record ended at the line break at `pos`.
    fn line_break(&mut self, out: &mut [u8], given: &mut usize) {
        if self.skipping {
            // The cut record's end was given already.
            self.skipping = false;
        } else {
            out[*given] = self.buf[self.pos];
            *given += 1;
        }
        self.pos += 1;
        self.since_break = 0;
        self.at_field_start = true;
    }
}

impl<R: Read> Read for RecordLimit<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let mut given = 0;
        while given < out.len() {
            if let Some((&b, rest)) = self.pending.split_first() {
                out[given] = b;
                given += 1;
                self.pending = rest;
                continue;
            }
            if self.pos == self.len {
                if given > 0 {
                    break;
                }
                self.len = self.inner.read(&mut self.buf)?;
                self.pos = 0;
                if self.len == 0 {
                    break;
                }
            }
            // Only quotes and line ends matter: the bytes between them are
            // taken in one step (at most what `out` has room for, unless
            // they are skipped).
            let end = if self.skipping {
                self.len
            } else {
                self.len.min(self.pos + out.len() - given)
            };
            let window = &self.buf[self.pos..end];
            match self.quote {
                QuoteState::Unquoted => match memchr::memchr3(b'"', b'\n', b'\r', window) {
                    None => {
                        let last = window[window.len() - 1];
                        self.take(window.len(), out, &mut given);
                        self.at_field_start = self.separates(last);
                    }
                    Some(0) if window[0] == b'"' => {
                        self.take(1, out, &mut given);
                        if self.at_field_start {
                            self.quote = QuoteState::Quoted;
                        }
                        self.at_field_start = false;
                    }
                    Some(0) => self.line_break(out, &mut given),
                    Some(offset) => {
                        let last = window[offset - 1];
                        self.take(offset, out, &mut given);
                        self.at_field_start = self.separates(last);
                    }
                },
                QuoteState::Quoted => match memchr::memchr(b'"', window) {
                    None => self.take(window.len(), out, &mut given),
                    Some(offset) => {
                        // The bytes before the quote, then the quote (either
                        // may be where a record is cut).
                        self.take(offset, out, &mut given);
                        self.take(1, out, &mut given);
                        self.quote = QuoteState::QuoteInQuoted;
                    }
                },
                QuoteState::QuoteInQuoted => {
                    if window[0] == b'"' {
                        self.take(1, out, &mut given);
                        self.quote = QuoteState::Quoted;
                    } else {
                        // The field closed: this byte is read unquoted.
                        self.quote = QuoteState::Unquoted;
                        self.at_field_start = false;
                    }
                }
            }
        }
        Ok(given)
    }
}

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

/// Receives a source's rows: the header first, then each row; either
/// returns `false` to stop reading.
pub trait RowSink {
    fn header(&mut self, header: Vec<String>) -> bool;
    fn row(&mut self, row: Record<'_>) -> bool;
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

/// The row of cells as text, padded to `width`, into `out`.
fn row_of(cells: &[calamine::Data], width: usize, out: &mut Fields) -> Result<(), String> {
    out.clear();
    for (i, cell) in cells.iter().enumerate() {
        let text = cell_text(cell)?;
        if i < width {
            out.push_field(&text);
        } else if !text.is_empty() {
            return Err(format!(
                "the row has {} cells where the header has {width}",
                cells.len()
            ));
        }
    }
    for _ in cells.len()..width {
        out.push_field("");
    }
    Ok(())
}

/// Gives a sheet's row to `sink`.
fn sheet_row(
    sink: &mut impl RowSink,
    number: u64,
    cells: &[calamine::Data],
    width: usize,
    record: &mut Fields,
) -> bool {
    let read = row_of(cells, width, record);
    sink.row(Record {
        number,
        fields: match &read {
            Ok(()) => Ok(record),
            Err(reason) => Err(reason),
        },
    })
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
            let mut record = Fields::new();
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
                        Some((first, width)) => {
                            sheet_row(sink, u64::from(at - first), &cells, width, &mut record)
                        }
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
    let mut record = Fields::new();
    if !sink.header(names) {
        return Ok(());
    }
    for (i, cells) in rows.enumerate() {
        if cells.iter().all(|c| matches!(c, Data::Empty)) {
            continue;
        }
        if !sheet_row(sink, i as u64 + 1, cells, width, &mut record) {
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
