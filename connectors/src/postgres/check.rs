//! A value checked against its column before it is written, so that a row
//! the table would refuse is reported with a message a user can act on.

use super::table::Column;
use uuid::Uuid;

/// Checks one value against its column; the message says what is wrong.
pub fn check_value(column: &Column, value: Option<&str>) -> Result<(), String> {
    let Some(value) = value else {
        return if column.nullable || column.has_default {
            Ok(())
        } else {
            Err(format!("{}: a value is required", column.name))
        };
    };
    let fits = match column.type_name.as_str() {
        "int2" => value.trim().parse::<i16>().is_ok(),
        "int4" => value.trim().parse::<i32>().is_ok(),
        "int8" => value.trim().parse::<i64>().is_ok(),
        "float4" | "float8" => value.trim().parse::<f64>().is_ok(),
        "numeric" => {
            let v = value.trim().trim_start_matches(['-', '+']);
            !v.is_empty()
                && v.matches('.').count() <= 1
                && v.chars().all(|c| c.is_ascii_digit() || c == '.')
        }
        "bool" => matches!(
            value.trim().to_ascii_lowercase().as_str(),
            "t" | "f" | "true" | "false" | "yes" | "no" | "y" | "n" | "1" | "0" | "on" | "off"
        ),
        "uuid" => Uuid::parse_str(value.trim()).is_ok(),
        "date" => is_iso_date(value.trim()),
        _ => true,
    };
    if !fits {
        return Err(format!(
            "{}: \"{}\" is not a valid {}",
            column.name,
            value.chars().take(40).collect::<String>(),
            type_label(&column.type_name)
        ));
    }
    if let Some(max) = column.max_length {
        let n = value.chars().count();
        if n > usize::try_from(max).unwrap_or(usize::MAX) {
            return Err(format!(
                "{}: {n} characters, more than the {max} allowed",
                column.name
            ));
        }
    }
    if value.contains('\0') {
        return Err(format!(
            "{}: the value contains a NUL character",
            column.name
        ));
    }
    Ok(())
}

/// Whether `value` is a date written `YYYY-MM-DD` (checked without a
/// format parser: every row's dates pass through here).
fn is_iso_date(value: &str) -> bool {
    let b = value.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(0..4) {
        return false;
    }
    if !digits(5..7) || !digits(8..10) {
        return false;
    }
    let number =
        |r: std::ops::Range<usize>| b[r].iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    let year = i32::try_from(number(0..4)).unwrap_or_default();
    chrono::NaiveDate::from_ymd_opt(year, number(5..7), number(8..10)).is_some()
}

fn type_label(type_name: &str) -> &str {
    match type_name {
        "int2" | "int4" | "int8" => "whole number",
        "float4" | "float8" | "numeric" => "number",
        "bool" => "true/false value",
        "date" => "date (YYYY-MM-DD)",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_against_their_column() {
        let column = |type_name: &str, nullable: bool| Column {
            name: "c".into(),
            type_name: type_name.into(),
            nullable,
            has_default: false,
            max_length: None,
            sql_type: type_name.into(),
        };
        assert!(check_value(&column("int4", false), Some("42")).is_ok());
        assert!(check_value(&column("int4", false), Some("4.2")).is_err());
        assert!(check_value(&column("int4", false), None)
            .unwrap_err()
            .contains("required"));
        assert!(check_value(&column("int4", true), None).is_ok());
        assert!(check_value(&column("date", true), Some("2025-13-01")).is_err());
        assert!(check_value(&column("date", true), Some("2024-02-29")).is_ok());
        assert!(check_value(&column("date", true), Some("2025-02-29")).is_err());
        assert!(check_value(&column("date", true), Some("2025-1-01")).is_err());
        assert!(check_value(&column("bool", true), Some("yes")).is_ok());
        let short = Column {
            max_length: Some(3),
            ..column("varchar", true)
        };
        assert!(check_value(&short, Some("abcd"))
            .unwrap_err()
            .contains("more than the 3"));
    }
}
