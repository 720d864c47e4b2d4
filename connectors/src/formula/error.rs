//! A formula's two kinds of error: one that keeps it from being saved, and
//! one that fails a row.

/// Why a formula's text is refused: where (the 1-based character position
/// in the formula) and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at position {position}: {message}")]
pub struct FormulaError {
    pub position: usize,
    pub message: String,
}

/// Why a formula has no value for one row: the column or the position in
/// the formula, and what was expected. It never quotes a cell's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub(super) String);
