//! What each transform does to one value, and the checks made on a
//! transform before any row (names, formats, locales).

use super::read::{self, NotADate};
use super::Transform;
use std::borrow::Cow;

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
                if !read::date_format_ok(format) {
                    return Err(read::BAD_DATE_FORMAT.into());
                }
                if let Some(zone) = time_zone {
                    read::time_zone(zone)?;
                }
                Ok(())
            }
            Self::Number { locale } => {
                if read::known_locale(locale) {
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
                match (lookup.several, &lookup.order_by) {
                    (super::Several::Fail, Some(_)) => Err(
                        "a lookup's order_by orders the rows a value matches, for several: first \
                         or latest; leave it out when several rows fail the row"
                            .into(),
                    ),
                    (super::Several::First | super::Several::Latest, None) => Err(
                        "a lookup that takes the first or latest of several rows needs order_by, \
                         the column that orders them"
                            .into(),
                    ),
                    _ => Ok(()),
                }
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

/// A value without the white space around it.
fn trimmed(value: Cow<'_, str>) -> Cow<'_, str> {
    match value {
        Cow::Borrowed(v) => Cow::Borrowed(v.trim()),
        Cow::Owned(v) if v.trim().len() == v.len() => Cow::Owned(v),
        Cow::Owned(v) => Cow::Owned(v.trim().to_owned()),
    }
}

fn parse_date(value: &str, format: &str, zone: Option<&str>) -> Result<String, String> {
    let zone = read::time_zone(zone.unwrap_or("UTC"))?;
    match read::date(value, format, zone) {
        Ok(when) => Ok(when.iso()),
        Err(NotADate::Skipped) => Err(format!(
            "{} does not exist in {zone} (a clock change)",
            value.trim()
        )),
        Err(NotADate::Format) => Err(format!(
            "\"{}\" is not a date in the format {format}",
            shorten(value.trim())
        )),
    }
}

pub(super) fn parse_number(value: &str, locale: &str) -> Result<String, String> {
    read::number(value, locale).ok_or_else(|| {
        format!(
            "\"{}\" is not a number as {locale} writes them",
            shorten(value)
        )
    })
}

/// A value cut short for a message.
fn shorten(value: &str) -> String {
    let mut out: String = value.chars().take(40).collect();
    if value.chars().count() > 40 {
        out.push('…');
    }
    out
}
