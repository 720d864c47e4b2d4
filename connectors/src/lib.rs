//! Sources and targets of imports. For now: recognising an uploaded file
//! (CSV, XLSX, XLS, ODS) from its content, and reading its shape (columns,
//! sheets, and for CSV the encoding and delimiter).

pub mod detect;

pub use detect::{DetectError, Format, Shape};
