//! Salesforce's messages without what could quote a record's values, a
//! query or a URL: what may go into an error, a log line or a result file.

/// A request-level message of Salesforce's without what could quote a
/// record's values or a query: the last line only (a query error repeats
/// the query above it), its quoted parts blanked, and no text at all for a
/// value its parser could not read (`JSON_PARSER_ERROR` names it unquoted).
pub fn without_values(code: &str, message: &str) -> String {
    if code == "JSON_PARSER_ERROR" {
        return "a value in the request does not fit its field's type".into();
    }
    let last = message
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let mut out = String::with_capacity(last.len());
    let mut quote: Option<char> = None;
    for c in last.chars() {
        match quote {
            Some(q) if c == q => {
                out.push('…');
                out.push(c);
                quote = None;
            }
            Some(_) => {}
            None => {
                out.push(c);
                if c == '\'' || c == '"' {
                    quote = Some(c);
                }
            }
        }
    }
    if quote.is_some() {
        out.push('…');
    }
    out
}

/// A transport error's text without its URL (which can carry record ids
/// or a query's values).
pub(super) fn without_url(e: reqwest::Error) -> String {
    e.without_url().to_string()
}
