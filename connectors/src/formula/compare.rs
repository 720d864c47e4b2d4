//! How two values compare: as numbers, dates, true and false, or text,
//! whichever the two sides have in common.

use super::error::EvalError;
use super::eval::{Env, Node};
use super::syntax::Comparison;
use super::value::{plain_number, Value};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use std::cmp::Ordering;

/// Text read as true or false: `true`, `false` (in any case), `1`, `0`.
pub(super) fn yes_or_no(text: &str) -> Option<bool> {
    match text.trim() {
        t if t.eq_ignore_ascii_case("true") || t == "1" => Some(true),
        t if t.eq_ignore_ascii_case("false") || t == "0" => Some(false),
        _ => None,
    }
}

/// A comparison's truth. Blank equals blank (and empty text) only, and is
/// neither less nor more than anything. Otherwise both sides are compared
/// as numbers when either is one, as dates when either is one, as true and
/// false when either is one, and else as text. Sides that cannot be
/// compared are unequal, and refused by `<`, `<=`, `>`, `>=`.
pub(super) fn compare<'a>(
    op: Comparison,
    a: &'a Node,
    b: &'a Node,
    env: &Env<'a, '_>,
) -> Result<bool, EvalError> {
    let (x, y) = (a.eval(env)?, b.eval(env)?);
    if x.is_blank() || y.is_blank() {
        let both = x.is_blank() && y.is_blank();
        return Ok(match op {
            Comparison::Equal => both,
            Comparison::NotEqual => !both,
            _ => false,
        });
    }
    let kind = [&x, &y]
        .into_iter()
        .map(|v| Key::kind(v))
        .max()
        .unwrap_or(Kind::Text);
    let zone = env.context.time_zone;
    let ordering = match (Key::of(&x, kind, zone), Key::of(&y, kind, zone)) {
        (Some(k), Some(l)) => k.partial_cmp(&l),
        (left, _) => {
            if matches!(op, Comparison::Equal | Comparison::NotEqual) {
                return Ok(op == Comparison::NotEqual);
            }
            let which = if left.is_none() { a } else { b };
            return Err(which.not_a(kind.name()));
        }
    };
    Ok(match (op, ordering) {
        (Comparison::Equal, o) => o == Some(Ordering::Equal),
        (Comparison::NotEqual, o) => o != Some(Ordering::Equal),
        (Comparison::Less, o) => o == Some(Ordering::Less),
        (Comparison::LessOrEqual, o) => matches!(o, Some(Ordering::Less | Ordering::Equal)),
        (Comparison::Greater, o) => o == Some(Ordering::Greater),
        (Comparison::GreaterOrEqual, o) => {
            matches!(o, Some(Ordering::Greater | Ordering::Equal))
        }
    })
}

/// What two values are compared as, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Text,
    Bool,
    Day,
    Time,
    Number,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Bool => "true or false",
            Self::Day => "date (written 2025-12-24)",
            Self::Time => "date and time (written 2025-12-24T10:00:00+00:00)",
            Self::Number => "number",
        }
    }
}

#[derive(Debug, PartialEq, PartialOrd)]
enum Key<'v> {
    Text(&'v str),
    Bool(bool),
    Day(NaiveDate),
    Time(DateTime<Utc>),
    Number(f64),
}

impl<'v> Key<'v> {
    fn kind(value: &Value<'_>) -> Kind {
        match value {
            Value::Number(_) => Kind::Number,
            Value::DateTime(_) => Kind::Time,
            Value::Date(_) => Kind::Day,
            Value::Bool(_) => Kind::Bool,
            Value::Blank | Value::Text(_) => Kind::Text,
        }
    }

    /// `value` as a `kind`, if it is one or text that reads as one.
    fn of(value: &'v Value<'_>, kind: Kind, zone: chrono_tz::Tz) -> Option<Self> {
        let midnight = |day: &NaiveDate| {
            zone.from_local_datetime(&day.and_time(chrono::NaiveTime::MIN))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        };
        Some(match (kind, value) {
            (Kind::Number, Value::Number(n)) => Key::Number(*n),
            (Kind::Number, Value::Text(t)) => Key::Number(plain_number(t)?),
            (Kind::Time, Value::DateTime(t)) => Key::Time(t.with_timezone(&Utc)),
            (Kind::Time, Value::Date(d)) => Key::Time(midnight(d)?),
            (Kind::Time, Value::Text(t)) => Key::Time(
                DateTime::parse_from_rfc3339(t.trim())
                    .ok()?
                    .with_timezone(&Utc),
            ),
            (Kind::Day, Value::Date(d)) => Key::Day(*d),
            (Kind::Day, Value::Text(t)) => {
                Key::Day(NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d").ok()?)
            }
            (Kind::Bool, Value::Bool(b)) => Key::Bool(*b),
            (Kind::Bool, Value::Text(t)) => Key::Bool(yes_or_no(t)?),
            (Kind::Text, Value::Text(t)) => Key::Text(t),
            _ => return None,
        })
    }
}
