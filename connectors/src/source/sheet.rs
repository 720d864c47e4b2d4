//! Workbooks (XLSX, XLS, ODS) read row by row, each cell as text.

use super::{Fields, Record, RowSink, SourceError};
use std::io::Read;

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
