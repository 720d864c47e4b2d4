//! The formula language as a user meets it: what a formula gives for a
//! row, and what is refused, where, and why.

mod bounds;
mod errors;
mod functions;
mod language;

use super::{EvalContext, Formula, FormulaError, Value};
use chrono::{TimeZone, Utc};

const HEADER: [&str; 9] = [
    "Email",
    "Name",
    "Amount",
    "Country",
    "Joined",
    "Price ]net",
    "Active",
    "Qty",
    "Phone",
];

fn header() -> Vec<String> {
    HEADER.map(String::from).to_vec()
}

/// 23:30 UTC on 3 December 2026: already 4 December in Berlin.
fn context() -> EvalContext {
    EvalContext {
        now: Utc.with_ymd_and_hms(2026, 12, 3, 23, 30, 0).unwrap(),
        time_zone: chrono_tz::Europe::Berlin,
    }
}

fn formula(text: &str) -> Formula {
    Formula::parse(text, &header()).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The formula's value for a row with `cells` (by column name; others
/// blank), as the text written to a target.
fn run(text: &str, cells: &[(&str, &str)]) -> Result<Option<String>, String> {
    let formula = formula(text);
    let row: Vec<&str> = HEADER
        .iter()
        .map(|h| cells.iter().find(|(c, _)| c == h).map_or("", |(_, v)| *v))
        .collect();
    formula
        .eval(|i| row.get(i).copied(), &context())
        .map(|v| v.into_text().map(|t| t.into_owned()))
        .map_err(|e| e.to_string())
}

/// The text a formula over no cells gives.
fn text(formula: &str) -> String {
    run(formula, &[]).unwrap().unwrap_or_default()
}

fn refused(text: &str) -> FormulaError {
    match Formula::parse(text, &header()) {
        Ok(_) => panic!("{text} was accepted"),
        Err(e) => e,
    }
}

fn value_of<'a>(formula: &'a Formula, row: &'a [&'a str]) -> Value<'a> {
    formula.eval(|i| row.get(i).copied(), &context()).unwrap()
}
