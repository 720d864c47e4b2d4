//! Decimals as exact text. Salesforce keeps number, currency and percent
//! values as decimals and reads a JSON string sent for such a field as one
//! (as a Bulk CSV cell is): a value goes out as its text, never through an
//! `f64`, which would round `1234567890123456.78` or
//! `0.1234567890123456789`. The text is made canonical, so that one value
//! has one form whichever way it was written or read back: no exponent, no
//! sign on zero, no leading zeros, no trailing zeros after the point.

/// The largest exponent taken (`1e1000`): no Salesforce field holds more
/// than 18 digits, and a larger one would write out a very long number.
const MAX_EXPONENT: i64 = 1000;

/// `text` (`-12.50`, `+.5`, `1.5E+3`, surrounding spaces) as canonical
/// decimal text (`-12.5`, `0.5`, `1500`); `None` if it is no decimal
/// number (`NaN`, `Infinity`, `1,5`, `0x10`).
pub fn canonical(text: &str) -> Option<String> {
    let text = text.trim();
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mantissa, exponent) = match rest.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, exponent_of(exponent)?),
        None => (rest, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    // The value is 0.{digits} × 10^point.
    let joined = format!("{whole}{fraction}");
    let significant = joined.trim_start_matches('0');
    let point = whole.len() as i64 - (joined.len() - significant.len()) as i64 + exponent;
    let digits = significant.trim_end_matches('0');
    if digits.is_empty() {
        return Some("0".into());
    }
    let sign = if negative { "-" } else { "" };
    let len = digits.len() as i64;
    Some(if point <= 0 {
        format!(
            "{sign}0.{}{digits}",
            "0".repeat(point.unsigned_abs() as usize)
        )
    } else if point >= len {
        format!("{sign}{digits}{}", "0".repeat((point - len) as usize))
    } else {
        let (whole, fraction) = digits.split_at(point as usize);
        format!("{sign}{whole}.{fraction}")
    })
}

fn exponent_of(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<i64>().ok().filter(|e| e.abs() <= MAX_EXPONENT)
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn a_decimal_has_one_exact_form() {
        for (text, form) in [
            ("1234567890123456.78", "1234567890123456.78"),
            ("0.1234567890123456789", "0.1234567890123456789"),
            (" -0012.500 ", "-12.5"),
            ("+.5", "0.5"),
            ("3.", "3"),
            ("-0.00", "0"),
            ("1.5E+3", "1500"),
            ("1.2345678901234568e16", "12345678901234568"),
            ("25e-4", "0.0025"),
            ("100", "100"),
        ] {
            assert_eq!(canonical(text).as_deref(), Some(form), "{text}");
        }
        for text in [
            "", ".", "-", "NaN", "inf", "1,5", "0x10", "1e", "1e5000", "1.2.3", "--1",
        ] {
            assert_eq!(canonical(text), None, "{text}");
        }
    }
}
