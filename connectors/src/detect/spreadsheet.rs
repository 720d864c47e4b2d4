//! The shape of a spreadsheet, read with calamine: its sheets and the first
//! sheet's header row.

use super::package::check_package;
use super::{DetectError, Format, Shape};
use crate::bounds;
use calamine::{Data, Ods, Reader, Xls, Xlsx};
use std::io::{Read, Seek};

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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::detect::{check, sniff};

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
