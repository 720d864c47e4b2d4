//! A spreadsheet's ZIP package checked before anything is expanded: its
//! declared sizes (against compression bombs), the size of its cells, and
//! the marker entries of the format its name promises.

use super::{DetectError, Format};
use crate::bounds;
use std::io::{Read, Seek};

/// Largest uncompressed size a spreadsheet package may declare: beyond it,
/// the file is treated as a compression bomb.
pub const MAX_EXPANDED: u64 = 2 * 1024 * 1024 * 1024;

/// Largest expansion of a spreadsheet package (uncompressed over compressed).
const MAX_RATIO: u64 = 200;

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
