//! Reading dates and numbers as people write them: one set of rules for the
//! mapping's `date` and `number` transforms and the formula language's
//! `DATE` and `NUMBER`. Nothing here quotes the value it reads; a caller
//! decides what its message may say.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};

/// Languages that write decimals with a point.
const DECIMAL_POINT: &[&str] = &[
    "en", "ja", "zh", "ko", "he", "th", "hi", "ms", "ga", "mt", "fil", "sw",
];

/// Languages that write decimals with a comma.
const DECIMAL_COMMA: &[&str] = &[
    "de", "fr", "es", "it", "nl", "pt", "ru", "pl", "sv", "da", "fi", "nb", "no", "cs", "sk", "tr",
    "ro", "hu", "el", "bg", "hr", "sl", "et", "lv", "lt", "uk", "id",
];

/// What a date format that chrono cannot read is told.
pub(crate) const BAD_DATE_FORMAT: &str =
    "the date format is not one chrono reads: each % starts a field such as \
     %d, %m, %Y, %H, %M (%% for a percent sign)";

/// A date read from text: a calendar day, or a point in time with its
/// offset from UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum When {
    Day(NaiveDate),
    Time(DateTime<FixedOffset>),
}

/// Why a text is not a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotADate {
    /// It does not follow the format.
    Format,
    /// A local time that the zone skips (a clock change).
    Skipped,
}

/// Whether chrono reads `format` (strftime) without an error item.
pub(crate) fn date_format_ok(format: &str) -> bool {
    !format.trim().is_empty()
        && !chrono::format::StrftimeItems::new(format)
            .any(|item| matches!(item, chrono::format::Item::Error))
}

/// An IANA time zone by name (`Europe/Berlin`).
pub(crate) fn time_zone(name: &str) -> Result<chrono_tz::Tz, String> {
    name.parse()
        .map_err(|_| format!("{name} is not a time zone name (such as Europe/Berlin)"))
}

/// Reads `value` in `format`: a time with an offset keeps it, a local time
/// is taken in `zone` and given in UTC, and a format without a time gives a
/// day.
pub(crate) fn date(value: &str, format: &str, zone: chrono_tz::Tz) -> Result<When, NotADate> {
    let value = value.trim();
    if let Ok(with_offset) = DateTime::parse_from_str(value, format) {
        return Ok(When::Time(with_offset));
    }
    if let Ok(local) = NaiveDateTime::parse_from_str(value, format) {
        return match zone.from_local_datetime(&local) {
            chrono::LocalResult::Single(at) | chrono::LocalResult::Ambiguous(at, _) => {
                Ok(When::Time(at.with_timezone(&chrono::Utc).fixed_offset()))
            }
            chrono::LocalResult::None => Err(NotADate::Skipped),
        };
    }
    NaiveDate::parse_from_str(value, format)
        .map(When::Day)
        .map_err(|_| NotADate::Format)
}

impl When {
    /// ISO 8601: `2025-12-24`, or `2025-07-01T10:00:00+00:00`.
    pub(crate) fn iso(&self) -> String {
        match self {
            Self::Day(day) => day.format("%Y-%m-%d").to_string(),
            Self::Time(at) => at.to_rfc3339(),
        }
    }
}

/// Whether `locale` is a language Sluice knows the decimal mark of, with
/// an optional region (`de`, `de-CH`, `en_GB`, `es-419`).
pub(crate) fn known_locale(locale: &str) -> bool {
    let mut parts = locale.split(['-', '_']);
    let language = parts.next().unwrap_or_default().to_ascii_lowercase();
    let region_ok = match (parts.next(), parts.next()) {
        (None, _) => true,
        (Some(region), None) => {
            (region.len() == 2 && region.chars().all(|c| c.is_ascii_alphabetic()))
                || (region.len() == 3 && region.chars().all(|c| c.is_ascii_digit()))
        }
        _ => false,
    };
    region_ok
        && (DECIMAL_COMMA.contains(&language.as_str())
            || DECIMAL_POINT.contains(&language.as_str()))
}

/// A number written the way `locale` writes them (`en`: 1,234.5; `de`:
/// 1.234,5; `fr`: 1 234,5), given with a point and no grouping; `None` when
/// it is not one.
pub(crate) fn number(value: &str, locale: &str) -> Option<String> {
    let language = locale
        .split(['-', '_'])
        .next()
        .unwrap_or(locale)
        .to_ascii_lowercase();
    let comma = DECIMAL_COMMA.contains(&language.as_str());
    let (decimal, grouping): (char, &[char]) = if comma {
        (',', &['.', ' ', '\u{a0}', '\u{202f}', '\''])
    } else {
        ('.', &[',', ' ', '\u{a0}', '\u{202f}', '\''])
    };
    let cleaned: String = value
        .trim()
        .chars()
        .filter(|c| !grouping.contains(c))
        .map(|c| if c == decimal { '.' } else { c })
        .collect();
    let valid = !cleaned.is_empty()
        && cleaned
            .trim_start_matches(['-', '+'])
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.')
        && cleaned.matches('.').count() <= 1
        && cleaned.chars().any(|c| c.is_ascii_digit());
    valid.then(|| cleaned.trim_start_matches('+').to_owned())
}
