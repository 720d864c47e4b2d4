//! What can go wrong with a target, and how a database error is told: to
//! an event or a log without any value of a row, to a run's encrypted
//! errors.csv with its detail.

/// Why a target could not be reached, read or written.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The database cannot be reached or refused the credentials.
    #[error("{0}")]
    Connect(String),
    /// The table or the mapping does not fit.
    #[error("{0}")]
    Invalid(String),
    /// A statement failed for a reason other than the data.
    #[error("{0}")]
    Database(String),
    /// The caller's own step before the commit failed; nothing was committed.
    #[error("{0}")]
    Aborted(String),
}

/// A failure of a statement that carries no row of its own (a batch, a
/// lookup, a query); it ends a run, so its message goes to an event.
pub(super) fn db_error(e: tokio_postgres::Error) -> TargetError {
    TargetError::Database(message_without_values(&e))
}

/// The server's message without anything that can quote a value: no
/// detail, and for a data error (SQLSTATE class 22, such as `invalid input
/// syntax for type integer: "abc"`) its quoted parts blanked out.
pub(crate) fn message_without_values(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) if db.code().code().starts_with("22") => blank_quoted(db.message()),
        Some(db) => db.message().to_owned(),
        None => e.to_string(),
    }
}

/// `text` with every double-quoted part replaced by `"…"`.
fn blank_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, part) in text.split('"').enumerate() {
        if i > 0 {
            out.push('"');
        }
        out.push_str(if i % 2 == 1 { "…" } else { part });
    }
    out
}

/// A row's database error as a user can act on it: its message, detail and
/// column. The detail can quote the row's values: it goes to the run's
/// encrypted errors.csv, never to an event or a log.
pub fn describe_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = db.message().to_owned();
            if let Some(column) = db.column() {
                text = format!("{column}: {text}");
            }
            if let Some(detail) = db.detail() {
                text.push_str(" (");
                text.push_str(detail);
                text.push(')');
            }
            text
        }
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_blanked_out_of_data_errors() {
        assert_eq!(
            blank_quoted("invalid input syntax for type integer: \"4111 1111\""),
            "invalid input syntax for type integer: \"…\""
        );
        assert_eq!(blank_quoted("a \"b\" c \"d\" e"), "a \"…\" c \"…\" e");
        assert_eq!(blank_quoted("no quotes"), "no quotes");
    }
}
