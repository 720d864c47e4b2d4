//! Field values as the APIs take them: JSON values in REST bodies, text in
//! Bulk CSV cells. Stored values are JSON: text as strings, checkboxes as
//! booleans, whole numbers as numbers, numbers, currencies and percents as
//! their exact decimal text (see `decimal.rs`; a query writes them as JSON
//! numbers), dates as `YYYY-MM-DD` and date-times as
//! `YYYY-MM-DDTHH:MM:SS.sss+0000`.
//!
//! A JSON number sent for a decimal field is read as Salesforce's JSON
//! parser reads it, as a double: only text keeps every digit.

use super::decimal::Decimal;
use super::schema::{FieldDef, FieldType};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

#[derive(Clone, Copy)]
pub(super) enum Raw<'a> {
    Json(&'a Value),
    Text(&'a str),
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Bad {
    /// Not a value of the field's type.
    Type,
    /// Text that is no email address.
    Email,
    /// A number with more digits before the point than its field holds.
    Range,
}

/// The stored value of `raw` for `field`.
pub(super) fn coerce(field: &FieldDef, raw: Raw<'_>) -> Result<Value, Bad> {
    let text = match raw {
        Raw::Json(Value::Null) => return Ok(Value::Null),
        Raw::Text("#N/A") => return Ok(Value::Null),
        Raw::Json(Value::String(s)) => s.clone(),
        Raw::Json(Value::Number(n)) if field.field_type.is_text() => n.to_string(),
        Raw::Json(Value::Bool(b)) if field.field_type.is_text() => b.to_string(),
        Raw::Json(v @ (Value::Number(_) | Value::Bool(_))) => return typed_json(field, v),
        Raw::Json(_) => return Err(Bad::Type),
        Raw::Text(s) => s.to_owned(),
    };
    typed_text(field, &text)
}

fn typed_json(field: &FieldDef, value: &Value) -> Result<Value, Bad> {
    match (field.field_type, value) {
        (FieldType::Boolean, Value::Bool(_)) => Ok(value.clone()),
        (FieldType::Int, Value::Number(n)) => match n.as_i64() {
            Some(i) => Ok(Value::from(i)),
            None => Err(Bad::Type),
        },
        (t, Value::Number(n)) if t.is_decimal() => typed_text(field, &n.to_string()),
        _ => Err(Bad::Type),
    }
}

fn typed_text(field: &FieldDef, text: &str) -> Result<Value, Bad> {
    let t = text.trim();
    match field.field_type {
        FieldType::Email if !is_email(t) && !t.is_empty() => Err(Bad::Email),
        FieldType::Boolean => match t.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Value::Bool(true)),
            "false" | "0" => Ok(Value::Bool(false)),
            _ => Err(Bad::Type),
        },
        FieldType::Int => t.parse::<i64>().map(Value::from).map_err(|_| Bad::Type),
        f if f.is_decimal() => {
            let number = Decimal::parse(t).ok_or(Bad::Type)?;
            let whole = field.precision.saturating_sub(field.scale) as usize;
            if number.whole_digits() > whole {
                return Err(Bad::Range);
            }
            Ok(Value::String(number.canonical()))
        }
        FieldType::Date => NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map(|d| Value::String(d.format("%Y-%m-%d").to_string()))
            .map_err(|_| Bad::Type),
        FieldType::Datetime => parse_datetime(t)
            .map(|d| Value::String(format_datetime(&d)))
            .ok_or(Bad::Type),
        _ => Ok(Value::String(text.to_owned())),
    }
}

fn is_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !text.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// `2024-05-01T10:00:00Z`, `…00.000+0200`, `…00+02:00`, or without a zone (UTC).
fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(text) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(d.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|d| d.and_utc())
}

pub(super) fn format_datetime(d: &DateTime<Utc>) -> String {
    d.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// How Salesforce's JSON parser names a value's token in its errors.
pub(super) fn json_token(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "VALUE_STRING",
        Value::Number(n) if n.is_f64() => "VALUE_NUMBER_FLOAT",
        Value::Number(_) => "VALUE_NUMBER_INT",
        Value::Bool(true) => "VALUE_TRUE",
        Value::Bool(false) => "VALUE_FALSE",
        Value::Object(_) => "START_OBJECT",
        Value::Array(_) => "START_ARRAY",
        Value::Null => "VALUE_NULL",
    }
}

/// The type word of a JSON parser error (`Cannot deserialize instance of date …`).
pub(super) fn json_type_word(t: FieldType) -> &'static str {
    match t {
        FieldType::Boolean => "boolean",
        FieldType::Int => "int",
        FieldType::Double | FieldType::Currency | FieldType::Percent => "double",
        FieldType::Date => "date",
        FieldType::Datetime => "datetime",
        _ => "string",
    }
}

/// A value's text as it reads in an error message.
pub(super) fn display(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{coerce, Bad, Raw};
    use crate::salesforce::schema::{FieldDef, FieldType};
    use serde_json::json;

    #[test]
    fn values_are_stored_in_salesforce_formats() {
        let when = FieldDef::new("When__c", FieldType::Datetime);
        let stored = coerce(&when, Raw::Text("2024-05-01T12:00:00+02:00"));
        assert_eq!(stored, Ok(json!("2024-05-01T10:00:00.000+0000")));
        let day = FieldDef::new("Day__c", FieldType::Date);
        assert_eq!(coerce(&day, Raw::Text("2024-02-30")), Err(Bad::Type));
        let n = FieldDef::new("N__c", FieldType::Int);
        assert_eq!(coerce(&n, Raw::Json(&json!("42"))), Ok(json!(42)));
        assert_eq!(coerce(&n, Raw::Json(&json!(4.5))), Err(Bad::Type));
        let email = FieldDef::new("Email", FieldType::Email);
        assert_eq!(coerce(&email, Raw::Text("not an email")), Err(Bad::Email));
        assert_eq!(coerce(&email, Raw::Text("#N/A")), Ok(json!(null)));
        // Decimals are kept exactly, as text; a JSON number is a double.
        let amount = FieldDef::new("Amount__c", FieldType::Currency).digits(18, 2);
        let exact = coerce(&amount, Raw::Json(&json!("1234567890123456.78")));
        assert_eq!(exact, Ok(json!("1234567890123456.78")));
        let double: serde_json::Value = serde_json::from_str("1234567890123456.78").unwrap();
        let double = coerce(&amount, Raw::Json(&double));
        assert_eq!(double, Ok(json!("1234567890123456.8")));
        assert_eq!(coerce(&amount, Raw::Text("12.500")), Ok(json!("12.5")));
        assert_eq!(coerce(&amount, Raw::Text("0.125")), Ok(json!("0.125")));
        let too_big = coerce(&amount, Raw::Text("12345678901234567.89"));
        assert_eq!(too_big, Err(Bad::Range));
        assert_eq!(coerce(&amount, Raw::Text("NaN")), Err(Bad::Type));
    }
}
