//! What a formula computes, and how a value becomes the text written to a
//! target.

use chrono::{DateTime, FixedOffset, NaiveDate};
use std::borrow::Cow;
use std::fmt;

/// The significant digits a number is written with: as many as a 64-bit
/// float holds exactly, so that `0.1 + 0.2` is written `0.3`.
const SIGNIFICANT_DIGITS: i32 = 15;

/// A value of a formula. A cell is text, or blank when it is empty; the
/// other kinds come from literals, operators and functions.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Blank,
    /// Text, borrowed from the row or the formula where it is unchanged.
    Text(Cow<'a, str>),
    Number(f64),
    Bool(bool),
    Date(NaiveDate),
    /// A point in time, with the offset it was read with (UTC otherwise).
    DateTime(DateTime<FixedOffset>),
}

impl<'a> Value<'a> {
    /// Whether the value is blank: no value, or empty text.
    pub fn is_blank(&self) -> bool {
        match self {
            Self::Blank => true,
            Self::Text(text) => text.is_empty(),
            _ => false,
        }
    }

    /// The text written to a target, or `None` (no value) when blank:
    /// numbers with a point and without trailing zeros (`2.5`), booleans
    /// `true`/`false`, dates and times in ISO 8601 (`2025-12-24`,
    /// `2025-07-01T10:00:00+00:00`). Text stays borrowed.
    pub fn into_text(self) -> Option<Cow<'a, str>> {
        if self.is_blank() {
            return None;
        }
        Some(self.into_cow())
    }

    /// The value as text; blank is empty text.
    pub(super) fn into_cow(self) -> Cow<'a, str> {
        match self {
            Self::Blank => Cow::Borrowed(""),
            Self::Text(text) => text,
            other => Cow::Owned(other.to_string()),
        }
    }

    /// The same value, borrowing its text from `self`.
    pub(super) fn borrowed(&self) -> Value<'_> {
        match self {
            Self::Text(text) => Value::Text(Cow::Borrowed(text.as_ref())),
            Self::Blank => Value::Blank,
            Self::Number(n) => Value::Number(*n),
            Self::Bool(b) => Value::Bool(*b),
            Self::Date(d) => Value::Date(*d),
            Self::DateTime(t) => Value::DateTime(*t),
        }
    }
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Blank => Ok(()),
            Self::Text(text) => f.write_str(text),
            Self::Number(n) => f.write_str(&number_text(*n)),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Date(day) => write!(f, "{}", day.format("%Y-%m-%d")),
            Self::DateTime(at) => f.write_str(&at.to_rfc3339()),
        }
    }
}

/// A number with a point, at most [`SIGNIFICANT_DIGITS`] significant
/// digits, no exponent and no trailing zeros.
fn number_text(n: f64) -> String {
    if n == 0.0 || !n.is_finite() {
        return "0".into();
    }
    let magnitude = n.abs().log10().floor() as i32;
    let decimals = (SIGNIFICANT_DIGITS - 1 - magnitude).clamp(0, 40) as usize;
    let mut text = format!("{n:.decimals$}");
    if text.contains('.') {
        let kept = text.trim_end_matches('0').trim_end_matches('.').len();
        text.truncate(kept);
    }
    if text == "-0" {
        text = "0".into();
    }
    text
}

/// A number as a formula reads it from text: an optional sign, digits and
/// at most one decimal point (`-1234.5`), with white space around it.
/// Other ways of writing numbers (`1,234.5`, `1.234,5`) are `NUMBER`'s.
pub(super) fn plain_number(text: &str) -> Option<f64> {
    let text = text.trim();
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let valid = digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.matches('.').count() <= 1
        && digits.chars().any(|c| c.is_ascii_digit());
    if valid {
        text.parse().ok()
    } else {
        None
    }
}
