//! The bounds an uploaded file's header and cells must keep, checked when
//! the file is received, before anything about it is recorded.
//!
//! A header row becomes the upload's column list, which is sealed into an
//! event and shown in every mapping; a cell of a spreadsheet is read whole
//! into memory by the spreadsheet reader. Neither may be as large as the
//! file allows.

use std::io::Read;

/// The most columns a header row may name.
pub const MAX_COLUMNS: usize = 4_096;

/// The longest column name, in characters.
pub const MAX_COLUMN_NAME_CHARS: usize = 1_024;

/// The largest header row, in bytes of UTF-8 over all its names.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The longest text of one spreadsheet cell, in characters: Excel's own
/// limit, so that no file Excel writes is refused.
pub const MAX_CELL_CHARS: usize = 32_767;

/// The most bytes of XML one cell's text may take in a package: each
/// character may be written as a character reference of up to ten bytes
/// (`&#x10FFFF;`), so no cell within [`MAX_CELL_CHARS`] is longer.
const MAX_CELL_XML_BYTES: u64 = MAX_CELL_CHARS as u64 * 10;

/// Checks a header row against [`MAX_COLUMNS`], [`MAX_COLUMN_NAME_CHARS`]
/// and [`MAX_HEADER_BYTES`]; the error says which bound, never the names.
pub fn check_header(columns: &[String]) -> Result<(), String> {
    if columns.len() > MAX_COLUMNS {
        return Err(format!(
            "the header row has {} columns; at most {MAX_COLUMNS} are accepted",
            columns.len()
        ));
    }
    if let Some(at) = columns
        .iter()
        .position(|c| c.chars().count() > MAX_COLUMN_NAME_CHARS)
    {
        return Err(format!(
            "column {} of the header row is longer than {MAX_COLUMN_NAME_CHARS} characters",
            at + 1
        ));
    }
    let total: usize = columns.iter().map(String::len).sum();
    if total > MAX_HEADER_BYTES {
        return Err(format!(
            "the header row is longer than {} KiB",
            MAX_HEADER_BYTES / 1024
        ));
    }
    Ok(())
}

/// Where a cell starts in a spreadsheet package's XML: a shared string
/// (`si`), a worksheet cell (`c`) or an inline string (`is`) of XLSX, or an
/// OpenDocument table cell. Text is counted from the last such tag.
fn starts_cell(name: &[u8]) -> bool {
    matches!(
        name,
        b"si" | b"c" | b"is" | b"table:table-cell" | b"table:covered-table-cell"
    )
}

/// Reads one XML part of a package and refuses it if a cell's text is
/// longer than [`MAX_CELL_CHARS`] could be, without holding more than a
/// buffer of it. Text split into runs (rich text) counts as one cell.
pub fn check_cells(mut part: impl Read) -> Result<(), String> {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut in_tag = false;
    let mut name = Vec::with_capacity(32);
    let mut naming = false;
    let mut cell_bytes = 0u64;
    loop {
        let n = part
            .read(&mut buffer)
            .map_err(|e| format!("the package cannot be read: {e}"))?;
        if n == 0 {
            return Ok(());
        }
        for &b in &buffer[..n] {
            if in_tag {
                if b == b'>' {
                    in_tag = false;
                    if naming && starts_cell(&name) {
                        cell_bytes = 0;
                    }
                    naming = false;
                } else if naming {
                    if b.is_ascii_whitespace() || b == b'/' {
                        naming = false;
                        if starts_cell(&name) {
                            cell_bytes = 0;
                        }
                    } else if name.len() < 32 {
                        name.push(b);
                    } else {
                        naming = false;
                    }
                }
            } else if b == b'<' {
                in_tag = true;
                naming = true;
                name.clear();
            } else {
                cell_bytes += 1;
                if cell_bytes > MAX_CELL_XML_BYTES {
                    return Err(format!(
                        "a cell holds more than {MAX_CELL_CHARS} characters, \
                         the most a spreadsheet cell may hold"
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_rows_are_bounded_by_columns_name_and_size() {
        assert!(check_header(&["Email".into(), "Name".into()]).is_ok());
        let many: Vec<String> = (0..=MAX_COLUMNS).map(|i| format!("c{i}")).collect();
        assert!(check_header(&many).unwrap_err().contains("at most 4096"));
        let long = vec!["x".repeat(MAX_COLUMN_NAME_CHARS + 1)];
        assert!(check_header(&long).unwrap_err().contains("column 1"));
        let wide = vec!["é".repeat(1_000); 40];
        assert!(check_header(&wide).unwrap_err().contains("64 KiB"));
    }

    #[test]
    fn a_cell_past_excels_limit_is_refused_however_it_is_split() {
        let fits = format!("<sst><si><t>{}</t></si></sst>", "a".repeat(MAX_CELL_CHARS));
        assert!(check_cells(fits.as_bytes()).is_ok());
        let many_cells = format!(
            "<sst>{}</sst>",
            format!("<si><t>{}</t></si>", "b".repeat(200_000)).repeat(20)
        );
        assert!(check_cells(many_cells.as_bytes()).is_ok());
        let huge = format!("<sst><si><t>{}</t></si></sst>", "a".repeat(400_000));
        assert!(check_cells(huge.as_bytes()).is_err());
        let runs = format!(
            "<sst><si>{}</si></sst>",
            format!(
                "<r><t xml:space=\"preserve\">{}</t></r>",
                "r".repeat(100_000)
            )
            .repeat(4)
        );
        assert!(
            check_cells(runs.as_bytes()).is_err(),
            "rich text runs add up"
        );
        let inline = format!(
            "<row><c r=\"A1\" t=\"inlineStr\"><is><t>{}</t></is></c></row>",
            "i".repeat(400_000)
        );
        assert!(check_cells(inline.as_bytes()).is_err());
        let ods = format!(
            "<table:table-cell office:value-type=\"string\"><text:p>{}</text:p></table:table-cell>",
            "o".repeat(400_000)
        );
        assert!(check_cells(ods.as_bytes()).is_err());
    }
}
