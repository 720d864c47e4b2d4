//! What an uploaded file is, judged by its content and not by its name,
//! and its shape.
//!
//! A file is accepted only when its name's extension and its content agree:
//! a spreadsheet renamed `.csv`, or a PDF renamed `.xlsx`, is refused. CSV
//! is text in any encoding the `chardetng` detector recognises (or that a
//! byte-order mark names); XLSX and ODS are ZIP packages with their
//! formats' marker entries; XLS is an OLE compound file. Spreadsheets are
//! read with calamine.

use crate::bounds;
use calamine::{Data, Ods, Reader, Xls, Xlsx};
use encoding_rs::Encoding;
use serde::Serialize;
use std::io::{Read, Seek};

/// Bytes of a file's start that [`sniff`] and [`csv_shape`] look at.
pub const HEAD: usize = 1024 * 1024;

/// Largest uncompressed size a spreadsheet package may declare: beyond it,
/// the file is treated as a compression bomb.
pub const MAX_EXPANDED: u64 = 2 * 1024 * 1024 * 1024;

/// Largest expansion of a spreadsheet package (uncompressed over compressed).
const MAX_RATIO: u64 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Xlsx,
    Xls,
    Ods,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Xlsx => "xlsx",
            Self::Xls => "xls",
            Self::Ods => "ods",
        }
    }

    /// The format a file name promises, by its extension.
    pub fn from_name(name: &str) -> Option<Self> {
        let (_, ext) = name.rsplit_once('.')?;
        match ext.to_ascii_lowercase().as_str() {
            "csv" | "tsv" | "txt" => Some(Self::Csv),
            "xlsx" | "xlsm" => Some(Self::Xlsx),
            "xls" => Some(Self::Xls),
            "ods" => Some(Self::Ods),
            _ => None,
        }
    }
}

/// The extensions accepted, for messages.
pub const ACCEPTED: &str = ".csv, .tsv, .txt, .xlsx, .xlsm, .xls or .ods";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DetectError {
    /// The content is not a supported format, or not the one the name says.
    #[error("{0}")]
    Unsupported(String),
    /// The content is of the right kind but cannot be used (empty, broken).
    #[error("{0}")]
    Invalid(String),
}

/// What the start of a file says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// A ZIP package (XLSX, ODS, or something else zipped).
    Zip,
    /// An OLE compound file (XLS, or an old Word document...).
    Compound,
    /// Text.
    Text,
    /// Some other binary format, named where it is recognised.
    Binary(Option<&'static str>),
}

/// Judges the content by its first bytes.
pub fn sniff(head: &[u8]) -> Content {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Content::Zip;
    }
    if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return Content::Compound;
    }
    if Encoding::for_bom(head).is_some() {
        return Content::Text;
    }
    if let Some(kind) = infer::get(head) {
        if kind.matcher_type() != infer::MatcherType::Text {
            return Content::Binary(Some(kind.mime_type()));
        }
    }
    // Text in an ASCII-compatible encoding has no NUL bytes nor most
    // control characters.
    let control = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C))
        .count();
    if head.contains(&0) || control * 100 > head.len().max(1) {
        return Content::Binary(None);
    }
    Content::Text
}

/// Checks that the content is what the name promises; the format.
pub fn check(promised: Format, content: Content) -> Result<Format, DetectError> {
    let found = match content {
        Content::Text => "text (CSV)",
        Content::Zip => "a ZIP package",
        Content::Compound => "an OLE compound file",
        Content::Binary(Some(mime)) => mime,
        Content::Binary(None) => "binary data",
    };
    let fits = matches!(
        (promised, content),
        (Format::Csv, Content::Text)
            | (Format::Xlsx | Format::Ods, Content::Zip)
            | (Format::Xls, Content::Compound)
    );
    if fits {
        Ok(promised)
    } else {
        Err(DetectError::Unsupported(format!(
            "the file is named as {} but its content is {found}",
            promised.as_str().to_uppercase()
        )))
    }
}

/// A file's shape, as shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shape {
    /// The header of the CSV, or of the first sheet.
    pub columns: Vec<String>,
    /// Sheet names, in the workbook's order (none for CSV).
    pub sheets: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csv: Option<CsvDialect>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CsvDialect {
    /// The encoding's WHATWG name (`UTF-8`, `windows-1252`, `UTF-16LE`...).
    pub encoding: String,
    pub delimiter: String,
}

/// The shape of a CSV from its first bytes; `complete` when `head` is the
/// whole file.
pub fn csv_shape(head: &[u8], complete: bool) -> Result<Shape, DetectError> {
    let (encoding, bom) = match Encoding::for_bom(head) {
        Some((encoding, bom)) => (encoding, bom),
        None => {
            let mut detector =
                chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
            detector.feed(head, complete);
            (detector.guess(None, chardetng::Utf8Detection::Allow), 0)
        }
    };
    let (text, _) = encoding.decode_without_bom_handling(&head[bom..]);
    let text = if complete {
        &text[..]
    } else {
        // Only whole lines: the last one may be cut short.
        match text.rfind('\n') {
            Some(end) => &text[..end],
            None => {
                return Err(DetectError::Unsupported(format!(
                    "the first line is longer than {} KiB; this does not look like a CSV file",
                    HEAD / 1024
                )))
            }
        }
    };
    let header = first_line(text);
    if header.trim().is_empty() {
        return Err(DetectError::Invalid(
            "the file is empty: a CSV needs a header line naming its columns".into(),
        ));
    }
    let delimiter = delimiter(header);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let record = match reader.records().next() {
        Some(Ok(record)) => record,
        Some(Err(e)) => {
            return Err(DetectError::Invalid(format!(
                "the header line cannot be read: {e}"
            )))
        }
        None => return Err(DetectError::Invalid("the file has no header line".into())),
    };
    let columns: Vec<String> = record.iter().map(|c| c.trim().to_owned()).collect();
    bounds::check_header(&columns).map_err(DetectError::Invalid)?;
    Ok(Shape {
        columns,
        sheets: Vec::new(),
        csv: Some(CsvDialect {
            encoding: encoding.name().to_owned(),
            delimiter: char::from(delimiter).to_string(),
        }),
    })
}

/// The first line, ignoring line breaks inside quotes.
fn first_line(text: &str) -> &str {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '\n' | '\r' if !quoted => return &text[..i],
            _ => {}
        }
    }
    text
}

/// The delimiter of a header line: the most frequent of comma, semicolon,
/// tab and pipe outside quotes (comma on a tie or when there is none).
fn delimiter(header: &str) -> u8 {
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0), (b'|', 0)];
    let mut quoted = false;
    for b in header.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted {
            for (d, n) in counts.iter_mut() {
                if *d == b {
                    *n += 1;
                }
            }
        }
    }
    counts
        .iter()
        .fold(
            (b',', 0),
            |best, &(d, n)| if n > best.1 { (d, n) } else { best },
        )
        .0
}

/// The shape of a spreadsheet: its sheets and the first sheet's header row.
/// ZIP packages are checked against compression bombs before anything is
/// expanded, and must carry their format's marker entries.
pub fn spreadsheet_shape<R: Read + Seek>(
    format: Format,
    mut file: R,
) -> Result<Shape, DetectError> {
    let broken = |e: &dyn std::fmt::Display| {
        DetectError::Invalid(format!(
            "the {} file cannot be read: {e}",
            format.as_str().to_uppercase()
        ))
    };
    if matches!(format, Format::Xlsx | Format::Ods) {
        check_package(format, &mut file)?;
        file.rewind().map_err(|e| broken(&e))?;
    }
    let (sheets, columns) = match format {
        Format::Xlsx => {
            let mut book: Xlsx<_> = Xlsx::new(file).map_err(|e| broken(&e))?;
            let sheets = book.sheet_names();
            let columns = match sheets.first() {
                Some(first) => {
                    let mut cells = book.worksheet_cells_reader(first).map_err(|e| broken(&e))?;
                    let mut row = Vec::new();
                    while let Some(cell) = cells.next_cell().map_err(|e| broken(&e))? {
                        let (r, c) = cell.get_position();
                        if r > 0 {
                            break;
                        }
                        place(
                            &mut row,
                            c,
                            Data::from(cell.get_value().clone()).to_string(),
                        );
                    }
                    row
                }
                None => Vec::new(),
            };
            (sheets, columns)
        }
        Format::Xls => {
            let mut book: Xls<_> = Xls::new(file).map_err(|e| broken(&e))?;
            let sheets = book.sheet_names();
            let columns = match sheets.first() {
                Some(first) => header(&book.worksheet_range(first).map_err(|e| broken(&e))?),
                None => Vec::new(),
            };
            (sheets, columns)
        }
        Format::Ods => {
            let mut book: Ods<_> = Ods::new(file).map_err(|e| broken(&e))?;
            let sheets = book.sheet_names();
            let columns = match sheets.first() {
                Some(first) => header(&book.worksheet_range(first).map_err(|e| broken(&e))?),
                None => Vec::new(),
            };
            (sheets, columns)
        }
        Format::Csv => {
            return Err(DetectError::Unsupported(
                "a CSV is not a spreadsheet".into(),
            ))
        }
    };
    if sheets.is_empty() {
        return Err(DetectError::Invalid("the workbook has no sheets".into()));
    }
    bounds::check_header(&columns).map_err(DetectError::Invalid)?;
    Ok(Shape {
        columns,
        sheets,
        csv: None,
    })
}

/// Puts a header cell at its column, leaving blanks for missing cells.
fn place(row: &mut Vec<String>, column: u32, value: String) {
    let at = column as usize;
    if at > 16_384 {
        return;
    }
    if row.len() <= at {
        row.resize(at + 1, String::new());
    }
    row[at] = value.trim().to_owned();
}

/// The first row of a range, as text.
fn header(range: &calamine::Range<Data>) -> Vec<String> {
    range
        .rows()
        .next()
        .map(|row| {
            row.iter()
                .map(|c| c.to_string().trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Checks a ZIP package: its declared sizes (against compression bombs)
/// and that it is the format promised, not another zipped document.
pub(crate) fn check_package<R: Read + Seek>(
    format: Format,
    file: &mut R,
) -> Result<(), DetectError> {
    let mut archive = zip::ZipArchive::new(&mut *file).map_err(|e| {
        DetectError::Invalid(format!("the file is not a readable ZIP package: {e}"))
    })?;
    let (mut compressed, mut expanded) = (0u64, 0u64);
    let mut names = Vec::with_capacity(archive.len().min(10_000));
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| DetectError::Invalid(format!("the ZIP package is damaged: {e}")))?;
        compressed = compressed.saturating_add(entry.compressed_size());
        expanded = expanded.saturating_add(entry.size());
        if names.len() < 10_000 {
            if let Ok(name) = entry.name() {
                names.push(name.into_owned());
            }
        }
    }
    if expanded > MAX_EXPANDED || expanded > compressed.saturating_mul(MAX_RATIO).max(1 << 20) {
        return Err(DetectError::Invalid(
            "the file expands to far more than its size (a compression bomb?); it is refused"
                .into(),
        ));
    }
    for name in names.iter().filter(|n| holds_cells(format, n)) {
        let part = archive
            .by_name(name)
            .map_err(|e| DetectError::Invalid(format!("the ZIP package is damaged: {e}")))?;
        bounds::check_cells(part).map_err(DetectError::Invalid)?;
    }
    let has = |name: &str| names.iter().any(|n| n == name);
    let fits = match format {
        Format::Xlsx => has("xl/workbook.xml") || has("xl/workbook.bin"),
        Format::Ods => {
            let mut mimetype = String::new();
            match archive.by_name("mimetype") {
                Ok(entry) => {
                    let _ = entry.take(200).read_to_string(&mut mimetype);
                }
                Err(_) => return Err(not_a(format)),
            }
            mimetype.trim() == "application/vnd.oasis.opendocument.spreadsheet"
        }
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(not_a(format))
    }
}

/// Whether a package's part holds cells whose size [`bounds::check_cells`]
/// checks: XLSX worksheets and shared strings, ODS content.
fn holds_cells(format: Format, name: &str) -> bool {
    match format {
        Format::Xlsx => {
            let name = name.to_ascii_lowercase();
            name == "xl/sharedstrings.xml"
                || (name.starts_with("xl/worksheets/") && name.ends_with(".xml"))
        }
        Format::Ods => name == "content.xml",
        _ => false,
    }
}

/// A ZIP package that is not the spreadsheet its name says.
fn not_a(format: Format) -> DetectError {
    let what = match format {
        Format::Ods => "an OpenDocument spreadsheet",
        _ => "an Excel workbook",
    };
    DetectError::Unsupported(format!(
        "the file is named as {} but it is not {what}: it is another kind of ZIP package",
        format.as_str().to_uppercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_promise_formats() {
        assert_eq!(Format::from_name("contacts.CSV"), Some(Format::Csv));
        assert_eq!(Format::from_name("a.b.xlsx"), Some(Format::Xlsx));
        assert_eq!(Format::from_name("old.xls"), Some(Format::Xls));
        assert_eq!(Format::from_name("calc.ods"), Some(Format::Ods));
        assert_eq!(Format::from_name("report.pdf"), None);
        assert_eq!(Format::from_name("no-extension"), None);
    }

    #[test]
    fn content_is_judged_by_its_bytes() {
        assert_eq!(sniff(b"id,name\n1,Ada\n"), Content::Text);
        assert_eq!(sniff(b"PK\x03\x04rest"), Content::Zip);
        assert_eq!(
            sniff(b"%PDF-1.7\n%\xE2\xE3"),
            Content::Binary(Some("application/pdf"))
        );
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Content::Binary(Some("image/png"))
        );
        assert_eq!(sniff(b"ab\0cd"), Content::Binary(None));
        assert_eq!(sniff(b"\xFF\xFEi\0d\0"), Content::Text, "UTF-16 with a BOM");
        assert!(check(Format::Csv, Content::Zip).is_err());
        assert!(check(Format::Xlsx, Content::Text).is_err());
        assert_eq!(check(Format::Xls, Content::Compound), Ok(Format::Xls));
    }

    #[test]
    fn csv_headers_in_any_delimiter_and_encoding() {
        let shape = csv_shape(b"id;name;\"city; town\"\n1;Ada;London\n", true).unwrap();
        assert_eq!(shape.columns, ["id", "name", "city; town"]);
        assert_eq!(shape.csv.as_ref().unwrap().delimiter, ";");
        let shape = csv_shape(b"a\tb\n1\t2\n", true).unwrap();
        assert_eq!(shape.columns, ["a", "b"]);
        // "Straße,Größe" in windows-1252.
        let latin = b"Stra\xDFe,Gr\xF6\xDFe\nA,B\n";
        let shape = csv_shape(latin, true).unwrap();
        assert_eq!(shape.columns, ["Straße", "Größe"]);
        assert_eq!(shape.csv.unwrap().encoding, "windows-1252");
        let mut utf16 = vec![0xFF, 0xFE];
        for unit in "x,y\n1,2\n".encode_utf16() {
            utf16.extend_from_slice(&unit.to_le_bytes());
        }
        let shape = csv_shape(&utf16, true).unwrap();
        assert_eq!(shape.columns, ["x", "y"]);
        assert_eq!(shape.csv.unwrap().encoding, "UTF-16LE");
        let bom = csv_shape(b"\xEF\xBB\xBFid,name\n", true).unwrap();
        assert_eq!(bom.columns, ["id", "name"]);
    }

    #[test]
    fn empty_and_endless_first_lines_are_refused() {
        assert!(matches!(csv_shape(b"", true), Err(DetectError::Invalid(_))));
        assert!(matches!(
            csv_shape(b"\n\n", true),
            Err(DetectError::Invalid(_))
        ));
        let long = vec![b'a'; 4096];
        assert!(matches!(
            csv_shape(&long, false),
            Err(DetectError::Unsupported(_))
        ));
    }

    fn fixture(name: &str) -> std::io::Cursor<Vec<u8>> {
        let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::io::Cursor::new(std::fs::read(path).unwrap())
    }

    #[test]
    fn spreadsheets_give_their_sheets_and_header() {
        for (name, format) in [
            ("contacts.xlsx", Format::Xlsx),
            ("contacts.xls", Format::Xls),
            ("contacts.ods", Format::Ods),
        ] {
            let file = fixture(name);
            assert_eq!(
                check(Format::from_name(name).unwrap(), sniff(file.get_ref())),
                Ok(format)
            );
            let shape = spreadsheet_shape(format, file).unwrap();
            assert_eq!(shape.sheets, ["Contacts", "Notes"], "{name}");
            assert_eq!(shape.columns, ["Email", "First Name", "Amount"], "{name}");
        }
    }

    #[test]
    fn other_packages_and_bombs_are_refused() {
        assert!(matches!(
            spreadsheet_shape(Format::Xlsx, fixture("letter.docx")),
            Err(DetectError::Unsupported(_))
        ));
        assert!(matches!(
            spreadsheet_shape(Format::Ods, fixture("contacts.xlsx")),
            Err(DetectError::Unsupported(_))
        ));
        let refused = spreadsheet_shape(Format::Xlsx, fixture("bomb.xlsx")).unwrap_err();
        assert!(
            refused.to_string().contains("compression bomb"),
            "{refused}"
        );
        assert!(matches!(
            spreadsheet_shape(Format::Xls, fixture("contacts.xlsx")),
            Err(DetectError::Invalid(_))
        ));
    }
}
