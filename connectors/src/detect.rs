//! What an uploaded file is, judged by its content and not by its name,
//! and its shape.
//!
//! A file is accepted only when its name's extension and its content agree:
//! a spreadsheet renamed `.csv`, or a PDF renamed `.xlsx`, is refused. CSV
//! is text in any encoding the `chardetng` detector recognises (or that a
//! byte-order mark names); XLSX and ODS are ZIP packages with their
//! formats' marker entries; XLS is an OLE compound file. Spreadsheets are
//! read with calamine.

mod package;
mod spreadsheet;
mod text;

pub(crate) use package::check_package;
pub use spreadsheet::spreadsheet_shape;
pub use text::csv_shape;

use encoding_rs::Encoding;
use serde::Serialize;

/// Bytes of a file's start that [`sniff`] and [`csv_shape`] look at.
pub const HEAD: usize = 1024 * 1024;

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CsvDialect {
    /// The encoding's WHATWG name (`UTF-8`, `windows-1252`, `UTF-16LE`...).
    pub encoding: String,
    pub delimiter: String,
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
}
