//! Exact decimals. Salesforce keeps a number, currency or percent field's
//! value as a decimal, not a double: a value sent as text, in JSON or in a
//! Bulk CSV cell ("1234567890123456.78"), is kept to its last digit, and
//! queries give it back as a JSON number written out in full. The
//! stand-in stores such a value as its canonical text: no exponent, no
//! sign on zero, no leading zeros, no trailing zeros after the point.
//!
//! A field's `precision` and `scale` (its describe) bound the digits
//! before the point: more than `precision - scale` of them is
//! `NUMBER_OUTSIDE_VALID_RANGE`. Digits after the point beyond `scale` are
//! kept as sent, as Salesforce Help says of values set through the API
//! ("Salesforce Number Field Stores More Decimal Places Than Defined When
//! Set via API or Apex": only the user interface rounds them).

use std::cmp::Ordering;

/// The largest exponent read (`1e10000`): beyond it no field could hold
/// the value, and writing it out would take too much room.
const MAX_EXPONENT: i64 = 10_000;

/// A decimal as `0.digits × 10^point`, with a sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Decimal {
    negative: bool,
    /// Significant digits, without leading or trailing zeros; empty for 0.
    digits: String,
    point: i64,
}

impl Decimal {
    /// Reads `-12.50`, `+.5`, `3.`, `1.5E+3`; `None` for anything else
    /// (`NaN`, `Infinity`, hexadecimal, grouping separators).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (negative, rest) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        };
        let exponent: i64 = match exponent {
            Some(e) if valid_exponent(e) => e.parse().ok()?,
            Some(_) => return None,
            None => 0,
        };
        if exponent.abs() > MAX_EXPONENT {
            return None;
        }
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction)
        {
            return None;
        }
        let joined = format!("{whole}{fraction}");
        let leading = joined.len() - joined.trim_start_matches('0').len();
        let digits = joined.trim_matches('0').to_owned();
        let point = whole.len() as i64 - leading as i64 + exponent;
        Some(if digits.is_empty() {
            Self::zero()
        } else {
            Self {
                negative,
                digits,
                point,
            }
        })
    }

    fn zero() -> Self {
        Self {
            negative: false,
            digits: String::new(),
            point: 0,
        }
    }

    /// How many digits it has before the point.
    pub fn whole_digits(&self) -> usize {
        if self.digits.is_empty() {
            0
        } else {
            self.point.max(0) as usize
        }
    }

    /// Written out in full: `-1234.5`, `0.001`, `1200`, `0`.
    pub fn canonical(&self) -> String {
        if self.digits.is_empty() {
            return "0".into();
        }
        let sign = if self.negative { "-" } else { "" };
        let len = self.digits.len() as i64;
        if self.point <= 0 {
            let zeros = "0".repeat((-self.point) as usize);
            format!("{sign}0.{zeros}{}", self.digits)
        } else if self.point >= len {
            let zeros = "0".repeat((self.point - len) as usize);
            format!("{sign}{}{zeros}", self.digits)
        } else {
            let (whole, fraction) = self.digits.split_at(self.point as usize);
            format!("{sign}{whole}.{fraction}")
        }
    }

    /// Ordered by value.
    pub fn compare(&self, other: &Self) -> Ordering {
        let sign = |d: &Self| match (d.digits.is_empty(), d.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        };
        let by_sign = sign(self).cmp(&sign(other));
        if by_sign != Ordering::Equal || sign(self) == 0 {
            return by_sign;
        }
        let by_size = self
            .point
            .cmp(&other.point)
            .then_with(|| self.digits.as_str().cmp(other.digits.as_str()));
        if self.negative {
            by_size.reverse()
        } else {
            by_size
        }
    }
}

fn valid_exponent(e: &str) -> bool {
    let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
    !digits.is_empty() && digits.len() <= 6 && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::Decimal;
    use std::cmp::Ordering;

    fn canonical(text: &str) -> Option<String> {
        Decimal::parse(text).map(|d| d.canonical())
    }

    #[test]
    fn decimals_are_kept_to_the_last_digit_in_one_form() {
        assert_eq!(
            canonical(" 1234567890123456.78 ").as_deref(),
            Some("1234567890123456.78")
        );
        assert_eq!(
            canonical("0.1234567890123456789").as_deref(),
            Some("0.1234567890123456789")
        );
        assert_eq!(canonical("-0012.500").as_deref(), Some("-12.5"));
        assert_eq!(canonical("+.5").as_deref(), Some("0.5"));
        assert_eq!(canonical("3.").as_deref(), Some("3"));
        assert_eq!(canonical("-0.00").as_deref(), Some("0"));
        assert_eq!(canonical("1.5E+3").as_deref(), Some("1500"));
        assert_eq!(
            canonical("1.2345678901234568e16").as_deref(),
            Some("12345678901234568")
        );
        assert_eq!(canonical("25e-4").as_deref(), Some("0.0025"));
        for bad in [
            "",
            ".",
            "-",
            "NaN",
            "inf",
            "1,5",
            "0x10",
            "1e",
            "1e99999999",
            "1.2.3",
        ] {
            assert_eq!(canonical(bad), None, "{bad}");
        }
        let whole = |t: &str| Decimal::parse(t).unwrap().whole_digits();
        assert_eq!((whole("123.45"), whole("0.5"), whole("0")), (3, 0, 0));
        let cmp = |a: &str, b: &str| {
            Decimal::parse(a)
                .unwrap()
                .compare(&Decimal::parse(b).unwrap())
        };
        assert_eq!(cmp("9.99", "10"), Ordering::Less);
        assert_eq!(cmp("-9.99", "-10"), Ordering::Greater);
        assert_eq!(cmp("0", "-0.1"), Ordering::Greater);
        assert_eq!(cmp("1.50", "1.5"), Ordering::Equal);
    }
}
