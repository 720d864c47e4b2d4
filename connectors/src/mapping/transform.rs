//! What each transform does to one value, and the checks made on a
//! transform before any row (names, formats, locales).

use super::Transform;
use std::borrow::Cow;

/// Languages that write decimals with a point.
const DECIMAL_POINT: &[&str] = &[
    "en", "ja", "zh", "ko", "he", "th", "hi", "ms", "ga", "mt", "fil", "sw",
];

/// Languages that write decimals with a comma.
const DECIMAL_COMMA: &[&str] = &[
    "de", "fr", "es", "it", "nl", "pt", "ru", "pl", "sv", "da", "fi", "nb", "no", "cs", "sk", "tr",
    "ro", "hu", "el", "bg", "hr", "sl", "et", "lv", "lt", "uk", "id",
];

/// What a transform does: checked once, then applied to each value.
pub trait Apply {
    /// Checks what can be checked before any row: names and formats.
    fn check(&self) -> Result<(), String>;

    /// Applies the transform; an error says why the value does not fit. A
    /// value the transform leaves as it is stays borrowed.
    fn apply<'a>(&self, value: Option<Cow<'a, str>>) -> Result<Option<Cow<'a, str>>, String>;
}

impl Apply for Transform {
    fn check(&self) -> Result<(), String> {
        match self {
            Self::Date { format, time_zone } => {
                if format.trim().is_empty() {
                    return Err("a date transform needs a format, such as %d.%m.%Y".into());
                }
                let broken = chrono::format::StrftimeItems::new(format)
                    .any(|item| matches!(item, chrono::format::Item::Error));
                if broken {
                    return Err(
                        "the date format is not one chrono reads: each % starts a field such as \
                         %d, %m, %Y, %H, %M (%% for a percent sign)"
                            .into(),
                    );
                }
                if let Some(zone) = time_zone {
                    zone.parse::<chrono_tz::Tz>().map_err(|_| {
                        format!("{zone} is not a time zone name (such as Europe/Berlin)")
                    })?;
                }
                Ok(())
            }
            Self::Number { locale } => {
                if known_locale(locale) {
                    Ok(())
                } else {
                    Err(
                        "the number transform's locale is not one Sluice knows: give a language \
                         such as en, de or fr, with a region if you like (de-CH, en_GB)"
                            .into(),
                    )
                }
            }
            Self::Lookup(lookup) => {
                if lookup.object.trim().is_empty() || lookup.key.trim().is_empty() {
                    return Err("a lookup needs an object and its key column".into());
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn apply<'a>(&self, value: Option<Cow<'a, str>>) -> Result<Option<Cow<'a, str>>, String> {
        let owned = |v: &String| Cow::Owned(v.clone());
        Ok(match self {
            Self::Trim => value.map(trimmed).filter(|v| !v.is_empty()),
            Self::Upper => value.map(|v| Cow::Owned(v.to_uppercase())),
            Self::Lower => value.map(|v| Cow::Owned(v.to_lowercase())),
            Self::Default { value: default } => value.or_else(|| Some(owned(default))),
            Self::Constant { value } => Some(owned(value)),
            Self::ValueMap { map, otherwise } => value.map(|v| match map.get(v.as_ref()) {
                Some(mapped) => owned(mapped),
                None => otherwise.as_ref().map(owned).unwrap_or(v),
            }),
            Self::Date { format, time_zone } => match value {
                None => None,
                Some(v) => Some(Cow::Owned(parse_date(&v, format, time_zone.as_deref())?)),
            },
            Self::Number { locale } => match value {
                None => None,
                Some(v) => Some(Cow::Owned(parse_number(&v, locale)?)),
            },
            // Resolved against the target database, a batch at a time.
            Self::Lookup(_) => value,
        })
    }
}

/// Whether `locale` is a language Sluice knows the decimal mark of, with
/// an optional region (`de`, `de-CH`, `en_GB`, `es-419`).
fn known_locale(locale: &str) -> bool {
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

/// A value without the white space around it.
fn trimmed(value: Cow<'_, str>) -> Cow<'_, str> {
    match value {
        Cow::Borrowed(v) => Cow::Borrowed(v.trim()),
        Cow::Owned(v) if v.trim().len() == v.len() => Cow::Owned(v),
        Cow::Owned(v) => Cow::Owned(v.trim().to_owned()),
    }
}

fn parse_date(value: &str, format: &str, zone: Option<&str>) -> Result<String, String> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone};
    let value = value.trim();
    if let Ok(with_offset) = DateTime::parse_from_str(value, format) {
        return Ok(with_offset.to_rfc3339());
    }
    if let Ok(local) = NaiveDateTime::parse_from_str(value, format) {
        let zone: chrono_tz::Tz = zone
            .unwrap_or("UTC")
            .parse()
            .map_err(|_| "unknown time zone".to_owned())?;
        return match zone.from_local_datetime(&local) {
            chrono::LocalResult::Single(at) | chrono::LocalResult::Ambiguous(at, _) => {
                Ok(at.with_timezone(&chrono::Utc).to_rfc3339())
            }
            chrono::LocalResult::None => {
                Err(format!("{value} does not exist in {zone} (a clock change)"))
            }
        };
    }
    if let Ok(date) = NaiveDate::parse_from_str(value, format) {
        return Ok(date.format("%Y-%m-%d").to_string());
    }
    Err(format!(
        "\"{}\" is not a date in the format {format}",
        shorten(value)
    ))
}

pub(super) fn parse_number(value: &str, locale: &str) -> Result<String, String> {
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
    if valid {
        Ok(cleaned.trim_start_matches('+').to_owned())
    } else {
        Err(format!(
            "\"{}\" is not a number as {locale} writes them",
            shorten(value)
        ))
    }
}

/// A value cut short for a message.
fn shorten(value: &str) -> String {
    let mut out: String = value.chars().take(40).collect();
    if value.chars().count() > 40 {
        out.push('…');
    }
    out
}
