//! The shape of a CSV: its encoding (by byte-order mark or detection), its
//! delimiter, and its header line.

use super::{CsvDialect, DetectError, Shape, HEAD};
use crate::bounds;
use encoding_rs::Encoding;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
