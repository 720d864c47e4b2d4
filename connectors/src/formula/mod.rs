//! The formula language: a field's value computed from the row's columns,
//! such as `IF([Country] = "DE", "Germany", UPPER(TRIM([Country])))`.
//!
//! A formula is parsed and checked once, against the source's header, when
//! a job is saved ([`Formula::parse`]); a mistake is refused with its
//! position and what was expected there. It is then evaluated for each row
//! ([`Formula::eval`]); an error there (a division by zero, a cell that is
//! not a number) fails that row only, and names the column or the position
//! in the formula, never the cell's value.
//!
//! | Written                               | Means                                                                       |
//! |---------------------------------------|-----------------------------------------------------------------------------|
//! | `[Email]`, `[Price ]]net]`            | a column by its header (`]]` for a `]` in the name); blank when empty       |
//! | `"text"`, `"say ""hi"""`              | text (`""` for a quote)                                                     |
//! | `12`, `1.5`, `TRUE`, `FALSE`          | a number, true and false                                                    |
//! | `a & b`                               | `a` and `b` joined as text                                                  |
//! | `a + b`                               | joins when either side is text written in quotes or made by a text function (`LEFT`, `RIGHT`, `MID`, `TRIM`, `UPPER`, `LOWER`, `REPLACE`, `REGEX_REPLACE`, `SPLIT`, `CONCAT`, `MAP`, `&`); adds numbers otherwise |
//! | `- * /`, prefix `-`                   | arithmetic; a column's text is read as a plain number (`-1234.5`)           |
//! | `date ± n`, `date - date`             | a date `n` days later or earlier; the days between two dates               |
//! | `= <> < <= > >=`                      | comparison: as numbers when either side is a number (a literal, a calculation, `NUMBER`), as dates when either is a date, else as text (case matters; two columns compare as text) |
//! | `AND`, `OR`, `NOT` (and as functions) | logic; blank and 0 count as false; text `true`/`false`/`1`/`0` is read           |
//! | `IF(cond, a, b)`                      | `a` when `cond` holds, else `b` (blank when `b` is left out)               |
//! | `LEFT(t, n)`, `RIGHT(t, n)`, `MID(t, start, n)`, `LEN(t)` | characters, not bytes; `MID` counts from 1              |
//! | `TRIM(t)`, `UPPER(t)`, `LOWER(t)`     | white space off both ends; case                                             |
//! | `REPLACE(t, find, with)`              | every `find` replaced                                                       |
//! | `REGEX_REPLACE(t, "pattern", with)`, `REGEX_MATCH(t, "pattern")` | `regex` crate syntax; `$1` in `with` for a group |
//! | `SPLIT(t, sep, n)`                    | the `n`th part (from 1; `-1` the last); blank past the end                  |
//! | `CONCAT(a, ...)`, `COALESCE(a, ...)`, `ISBLANK(a)` | join all; the first that is not blank; whether blank           |
//! | `MAP(v, {"a": "x", ...}, default)`    | `v` looked up; `default` (or `v` itself) when absent                        |
//! | `DATE(t, "%d.%m.%Y", "Europe/Berlin")`| a date or time read as chrono reads the format; a local time in the zone (the run's zone when left out) |
//! | `NUMBER(t, "de")`                     | a number written as the locale writes them (`en` when left out)             |
//! | `TODAY()`, `NOW()`                    | the run's date (in its zone) and time, the same for every row               |
//!
//! Operators, loosest first: `OR`; `AND`; `NOT`; the comparisons (one per
//! pair: `a = b = c` is refused); `&`; `+ -`; `* /`; prefix `-`. `AND`,
//! `OR`, `IF` and `COALESCE` evaluate only the operands they need.
//! Function names may be written in any case. Blank (an empty cell) is
//! empty text to text functions, makes arithmetic blank, equals only blank,
//! and is written as no value. A pattern, a format, a zone, a locale and a
//! `MAP` table (its keys and values text in quotes) are written in the
//! formula itself, so that they are checked and compiled once.
//!
//! A value is written to a target as text: numbers with a point and without
//! trailing zeros (`2.5`), `true`/`false`, dates and times in ISO 8601
//! ([`Value::into_text`]).
//!
//! A formula can never run code, read files or reach the network: there is
//! no function that does, and no way to name one. A pathological formula is
//! refused when it is saved ([`MAX_CHARS`], [`MAX_DEPTH`], [`MAX_NODES`],
//! [`MAX_REGEX_BYTES`]) or stopped for the row at run time
//! ([`MAX_TEXT_BYTES`]); regular expressions match in linear time.

mod arithmetic;
mod check;
mod compare;
mod error;
mod eval;
mod functions;
mod syntax;
mod value;

#[cfg(test)]
mod tests;

pub use error::{EvalError, FormulaError};
pub use value::Value;

use chrono::{DateTime, Utc};

/// The longest formula, in characters.
pub const MAX_CHARS: usize = 4_096;

/// The deepest a formula may nest: at most this many brackets, function
/// calls and prefix operators open at once, and at most this many levels
/// in its tree (a value is one; each function or operator over it adds one;
/// a run of `&`, `AND` or `OR` is one). Deeper nesting is refused as it is
/// read, so that no formula can exhaust the stack, parsed or evaluated.
pub const MAX_DEPTH: usize = 32;

/// The most values, operators and function calls in one formula: a bound
/// on the work one row costs.
pub const MAX_NODES: usize = 1_000;

/// The largest compiled regular expression (and the largest lazy DFA cache)
/// one pattern may take, in bytes.
pub const MAX_REGEX_BYTES: usize = 1 << 20;

/// The longest text a formula may make for one row, in bytes of UTF-8: a
/// longer result (joining huge cells, a replacement that multiplies) fails
/// the row before it is built.
pub const MAX_TEXT_BYTES: usize = 1 << 20;

/// A checked formula, ready to evaluate against rows of the header it was
/// checked with.
#[derive(Debug, Clone)]
pub struct Formula {
    root: eval::Node,
    columns: Vec<String>,
}

/// What stays the same for every row of a run: its clock (so `TODAY()` and
/// `NOW()` do not move during a run, and tests can set them) and the time
/// zone of `TODAY()` and of `DATE` without a zone.
#[derive(Debug, Clone, Copy)]
pub struct EvalContext {
    pub now: DateTime<Utc>,
    pub time_zone: chrono_tz::Tz,
}

impl Formula {
    /// Parses and checks `text` against `columns`, a source's header.
    pub fn parse(text: &str, columns: &[String]) -> Result<Self, FormulaError> {
        if text.chars().count() > MAX_CHARS {
            return Err(FormulaError {
                position: MAX_CHARS + 1,
                message: format!("a formula is at most {MAX_CHARS} characters long"),
            });
        }
        let syntax = syntax::parse(text).map_err(|refusal| FormulaError {
            position: check::position(text, refusal.at),
            message: refusal.message,
        })?;
        let mut checker = check::Checker::new(text, columns);
        let root = checker.check(syntax)?;
        Ok(Self {
            root,
            columns: checker.read,
        })
    }

    /// The columns the formula reads, each once, in the order it first
    /// names them.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The formula's value for one row, whose cells `row` gives by their
    /// position in the header (`None` or empty: blank). Text taken
    /// unchanged from a cell or the formula stays borrowed.
    pub fn eval<'a>(
        &'a self,
        row: impl Fn(usize) -> Option<&'a str>,
        context: &EvalContext,
    ) -> Result<Value<'a>, EvalError> {
        let env = eval::Env { row: &row, context };
        self.root.eval(&env)
    }

    /// Whether the formula holds for one row, its value read as a condition
    /// is everywhere in the language (`IF`, `AND`, `NOT`): blank and 0 are
    /// false, text `true`/`false`/`1`/`0` is read, any other value is an
    /// error naming the formula's position.
    pub fn holds<'a>(
        &'a self,
        row: impl Fn(usize) -> Option<&'a str>,
        context: &EvalContext,
    ) -> Result<bool, EvalError> {
        let env = eval::Env { row: &row, context };
        self.root.truth(&env)
    }
}
