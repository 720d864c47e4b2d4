//! Sources and targets of imports: recognising an uploaded file and reading
//! its shape, streaming its rows, mapping them, and writing them to a
//! PostgreSQL table or a Salesforce org; a file in Dropbox as a source.

pub mod bounds;
pub mod detect;
pub mod dropbox;
pub mod formula;
pub mod journal;
pub mod mapping;
pub mod postgres;
pub mod salesforce;
pub mod source;
pub mod tokens;

pub use detect::{DetectError, Format, Shape};
