//! Mapping: each target field takes a source column (or a constant) through
//! a chain of transforms. A blank cell is no value (NULL) unless a transform
//! gives it one.

use crate::source::Fields;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// One target field and where its value comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMapping {
    /// The source column (by its header); none with a `constant` transform.
    #[serde(default)]
    pub source: Option<String>,
    pub target: String,
    /// One transform or a list, applied in order.
    #[serde(default, skip_serializing_if = "Transforms::is_empty")]
    pub transform: Transforms,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Transforms {
    #[default]
    None,
    One(Transform),
    Many(Vec<Transform>),
}

/// Read by hand so that a transform's `type` must be its name (serde would
/// also take a variant's position, `"type": 0`), and that a transform with
/// no settings (`trim`, `upper`, `lower`) refuses keys it does not know.
impl<'de> Deserialize<'de> for Transforms {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        fn one<E: Error>(value: serde_json::Value) -> Result<Transform, E> {
            let object = value
                .as_object()
                .ok_or_else(|| E::custom("a transform is an object with a \"type\""))?;
            let kind = match object.get("type") {
                Some(serde_json::Value::String(kind)) => kind.clone(),
                Some(_) => return Err(E::custom("a transform's type is its name, a string")),
                None => return Err(E::custom("a transform needs a \"type\"")),
            };
            if matches!(kind.as_str(), "trim" | "upper" | "lower") && object.len() > 1 {
                return Err(E::custom(format!(
                    "a {kind} transform takes no settings besides its type"
                )));
            }
            serde_json::from_value(value).map_err(|e| {
                // serde's message can quote the value; only its kind is passed on.
                if e.to_string().starts_with("unknown variant") {
                    E::custom(
                        "a transform's type is one of trim, upper, lower, default, \
                               constant, value_map, date, number, lookup",
                    )
                } else if e.to_string().starts_with("unknown field") {
                    E::custom(format!(
                        "a {kind} transform was given a setting it does not take"
                    ))
                } else {
                    E::custom(format!(
                        "a {kind} transform's settings are incomplete or of the wrong type"
                    ))
                }
            })
        }
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::Null => Ok(Self::None),
            serde_json::Value::Array(list) => Ok(Self::Many(
                list.into_iter().map(one).collect::<Result<_, _>>()?,
            )),
            other => Ok(Self::One(one(other)?)),
        }
    }
}

impl Transforms {
    pub fn is_empty(&self) -> bool {
        match self {
            Self::None => true,
            Self::One(_) => false,
            Self::Many(list) => list.is_empty(),
        }
    }

    pub fn list(&self) -> &[Transform] {
        match self {
            Self::None => &[],
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(list) => list,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Transform {
    /// Spaces removed at both ends.
    Trim,
    Upper,
    Lower,
    /// Used when there is no value.
    Default {
        value: String,
    },
    /// Always this value.
    Constant {
        value: String,
    },
    /// Replaces values found in `map`; others become `otherwise` if given,
    /// else stay as they are.
    ValueMap {
        map: BTreeMap<String, String>,
        #[serde(default)]
        otherwise: Option<String>,
    },
    /// Parses a date or time in `format` (strftime, as chrono reads it) and
    /// gives it in ISO 8601; a time without an offset is taken in
    /// `time_zone` (IANA name, UTC by default).
    Date {
        format: String,
        #[serde(default)]
        time_zone: Option<String>,
    },
    /// Parses a number written the way `locale` writes them (`en`: 1,234.5;
    /// `de`: 1.234,5; `fr`: 1 234,5) and gives it with a point.
    Number {
        locale: String,
    },
    /// Sets a reference by another record's key: the value is looked up in
    /// `object`'s `key` column and replaced by that row's `field` (its
    /// primary key by default). The last transform of a chain.
    Lookup(Lookup),
}

/// Where a lookup finds its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    /// The table to look in (`table`, or `schema.table`).
    pub object: String,
    /// Its column the value is matched against.
    pub key: String,
    /// Its column whose value is taken (the primary key by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The most fields a mapping may set.
pub const MAX_FIELDS: usize = 1_000;
/// The most transforms one field may chain.
pub const MAX_TRANSFORMS: usize = 16;
/// The longest name in a mapping (a column, a field, a format, a table), in
/// characters: as long as a column name may be.
pub const MAX_NAME_CHARS: usize = crate::bounds::MAX_COLUMN_NAME_CHARS;
/// The longest value a transform gives (a default, a constant, a value
/// map's entry), in characters: as long as a spreadsheet cell may be.
pub const MAX_VALUE_CHARS: usize = crate::bounds::MAX_CELL_CHARS;
/// The most entries of one value map.
pub const MAX_VALUE_MAP: usize = 10_000;

/// Languages that write decimals with a point.
const DECIMAL_POINT: &[&str] = &[
    "en", "ja", "zh", "ko", "he", "th", "hi", "ms", "ga", "mt", "fil", "sw",
];

/// Languages that write decimals with a comma.
const DECIMAL_COMMA: &[&str] = &[
    "de", "fr", "es", "it", "nl", "pt", "ru", "pl", "sv", "da", "fi", "nb", "no", "cs", "sk", "tr",
    "ro", "hu", "el", "bg", "hr", "sl", "et", "lv", "lt", "uk", "id",
];

impl Transform {
    /// Checks what can be checked before any row: names and formats.
    pub fn check(&self) -> Result<(), String> {
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

    /// Applies the transform; an error says why the value does not fit. A
    /// value the transform leaves as it is stays borrowed.
    pub fn apply<'a>(&self, value: Option<Cow<'a, str>>) -> Result<Option<Cow<'a, str>>, String> {
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

/// Checks a mapping against its documented bounds ([`MAX_FIELDS`],
/// [`MAX_TRANSFORMS`], [`MAX_NAME_CHARS`], [`MAX_VALUE_CHARS`],
/// [`MAX_VALUE_MAP`]) and refuses a NUL character anywhere in it (no
/// database column can hold one). The error names the field, never its
/// value.
pub fn check_bounds(mapping: &[FieldMapping]) -> Result<(), String> {
    if mapping.len() > MAX_FIELDS {
        return Err(format!("a mapping sets at most {MAX_FIELDS} fields"));
    }
    let name = |what: &str, value: &str| -> Result<(), String> {
        if value.chars().count() > MAX_NAME_CHARS {
            Err(format!("{what} is longer than {MAX_NAME_CHARS} characters"))
        } else if value.contains('\0') {
            Err(format!("{what} contains a NUL character"))
        } else {
            Ok(())
        }
    };
    let value = |what: &str, value: &str| -> Result<(), String> {
        if value.chars().count() > MAX_VALUE_CHARS {
            Err(format!(
                "{what} is longer than {MAX_VALUE_CHARS} characters"
            ))
        } else if value.contains('\0') {
            Err(format!("{what} contains a NUL character"))
        } else {
            Ok(())
        }
    };
    for (i, field) in mapping.iter().enumerate() {
        let at = format!("field {}", i + 1);
        name(&format!("{at}'s target"), &field.target)?;
        if let Some(source) = &field.source {
            name(&format!("{at}'s source"), source)?;
        }
        let transforms = field.transform.list();
        if transforms.len() > MAX_TRANSFORMS {
            return Err(format!("{at} chains more than {MAX_TRANSFORMS} transforms"));
        }
        for transform in transforms {
            match transform {
                Transform::Trim | Transform::Upper | Transform::Lower => {}
                Transform::Default { value: v } | Transform::Constant { value: v } => {
                    value(&format!("{at}'s transform value"), v)?
                }
                Transform::ValueMap { map, otherwise } => {
                    if map.len() > MAX_VALUE_MAP {
                        return Err(format!(
                            "{at}'s value map has more than {MAX_VALUE_MAP} entries"
                        ));
                    }
                    for (from, to) in map {
                        value(&format!("{at}'s value map"), from)?;
                        value(&format!("{at}'s value map"), to)?;
                    }
                    if let Some(v) = otherwise {
                        value(&format!("{at}'s value map"), v)?;
                    }
                }
                Transform::Date { format, time_zone } => {
                    name(&format!("{at}'s date format"), format)?;
                    if let Some(zone) = time_zone {
                        name(&format!("{at}'s time zone"), zone)?;
                    }
                }
                Transform::Number { locale } => name(&format!("{at}'s locale"), locale)?,
                Transform::Lookup(lookup) => {
                    name(&format!("{at}'s lookup object"), &lookup.object)?;
                    name(&format!("{at}'s lookup key"), &lookup.key)?;
                    if let Some(f) = &lookup.field {
                        name(&format!("{at}'s lookup field"), f)?;
                    }
                }
            }
        }
    }
    Ok(())
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

fn parse_number(value: &str, locale: &str) -> Result<String, String> {
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

/// The fields of `mapping` set by a lookup: their position, and where to
/// look.
pub fn lookups<'a>(mapping: impl IntoIterator<Item = &'a FieldMapping>) -> Vec<(usize, Lookup)> {
    mapping
        .into_iter()
        .enumerate()
        .filter_map(|(i, f)| match f.transform.list().last() {
            Some(Transform::Lookup(lookup)) => Some((i, lookup.clone())),
            _ => None,
        })
        .collect()
}

/// A mapping ready to apply to rows with a given header.
#[derive(Debug, Clone)]
pub struct Plan {
    fields: Vec<(Option<usize>, FieldMapping)>,
}

impl Plan {
    /// Resolves source columns against `header`; a missing column or a bad
    /// transform is an error naming it.
    pub fn new(mapping: &[FieldMapping], header: &[String]) -> Result<Self, String> {
        if mapping.is_empty() {
            return Err("the mapping is empty: map at least one field".into());
        }
        check_bounds(mapping)?;
        let mut fields = Vec::with_capacity(mapping.len());
        for field in mapping {
            let transforms = field.transform.list();
            for (i, transform) in transforms.iter().enumerate() {
                transform
                    .check()
                    .map_err(|e| format!("{}: {e}", field.target))?;
                if matches!(transform, Transform::Lookup(_)) && i + 1 != transforms.len() {
                    return Err(format!(
                        "{}: a lookup is the last transform of its field",
                        field.target
                    ));
                }
            }
            let index = match &field.source {
                Some(source) => Some(
                    header
                        .iter()
                        .position(|h| h == source)
                        .ok_or_else(|| format!("the source has no column \"{source}\""))?,
                ),
                None => {
                    let constant = field.transform.list().iter().any(|t| {
                        matches!(t, Transform::Constant { .. } | Transform::Default { .. })
                    });
                    if !constant {
                        return Err(format!(
                            "{}: give a source column, or a constant or default transform",
                            field.target
                        ));
                    }
                    None
                }
            };
            fields.push((index, field.clone()));
        }
        Ok(Self { fields })
    }

    pub fn targets(&self) -> Vec<&str> {
        self.fields.iter().map(|(_, f)| f.target.as_str()).collect()
    }

    /// The fields set by a lookup: their position among the targets, and
    /// where to look.
    pub fn lookups(&self) -> Vec<(usize, Lookup)> {
        lookups(self.fields.iter().map(|(_, f)| f))
    }

    /// The target values of one row, in [`Plan::targets`] order; the error
    /// names the field.
    pub fn apply(&self, row: &[String]) -> Result<Vec<Option<String>>, String> {
        self.values(|i| row.get(i).map(String::as_str))
            .map(|values| values.into_iter().map(|v| v.map(Cow::into_owned)).collect())
    }

    /// The target values of one row as a source reads it: a value that no
    /// transform changes borrows the row's text.
    pub fn apply_to<'r>(&self, row: &'r Fields) -> Result<Vec<Option<Cow<'r, str>>>, String> {
        self.values(|i| row.get(i))
    }

    fn values<'r>(
        &self,
        field: impl Fn(usize) -> Option<&'r str>,
    ) -> Result<Vec<Option<Cow<'r, str>>>, String> {
        self.fields
            .iter()
            .map(|(index, mapping)| {
                let raw = index
                    .and_then(&field)
                    .filter(|v| !v.is_empty())
                    .map(Cow::Borrowed);
                mapping
                    .transform
                    .list()
                    .iter()
                    .try_fold(raw, |value, t| t.apply(value))
                    .map_err(|e| format!("{}: {e}", mapping.target))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping(value: serde_json::Value) -> Vec<FieldMapping> {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn transforms_apply_in_order() {
        let plan = Plan::new(
            &mapping(json!([
                {"source": "Email", "target": "email", "transform": [{"type": "trim"}, {"type": "lower"}]},
                {"source": "Country", "target": "country", "transform": {"type": "value_map", "map": {"Deutschland": "DE"}, "otherwise": "XX"}},
                {"target": "source", "transform": {"type": "constant", "value": "import"}},
                {"source": "Tier", "target": "tier", "transform": {"type": "default", "value": "basic"}},
                {"source": "Joined", "target": "joined", "transform": {"type": "date", "format": "%d.%m.%Y"}},
                {"source": "Amount", "target": "amount", "transform": {"type": "number", "locale": "de"}},
            ])),
            &["Email", "Country", "Tier", "Joined", "Amount"].map(String::from),
        )
        .unwrap();
        let row = [
            " Ada@Example.COM ",
            "Deutschland",
            "",
            "24.12.2025",
            "1.234,50",
        ]
        .map(String::from);
        assert_eq!(
            plan.apply(&row).unwrap(),
            [
                Some("ada@example.com"),
                Some("DE"),
                Some("import"),
                Some("basic"),
                Some("2025-12-24"),
                Some("1234.50")
            ]
            .map(|v| v.map(String::from))
        );
        let bad = ["a", "France", "", "2025-12-24", "12x"].map(String::from);
        let error = plan.apply(&bad).unwrap_err();
        assert!(error.starts_with("joined:"), "{error}");
    }

    #[test]
    fn times_are_read_in_their_zone() {
        let t = Transform::Date {
            format: "%Y-%m-%d %H:%M".into(),
            time_zone: Some("Europe/Berlin".into()),
        };
        assert_eq!(
            t.apply(Some("2025-07-01 12:00".into())).unwrap().unwrap(),
            "2025-07-01T10:00:00+00:00"
        );
        assert!(Transform::Date {
            format: "%Y".into(),
            time_zone: Some("Mars/Olympus".into())
        }
        .check()
        .is_err());
    }

    #[test]
    fn numbers_follow_their_locale() {
        let n = |v: &str, l: &str| parse_number(v, l);
        assert_eq!(n("1,234.5", "en").unwrap(), "1234.5");
        assert_eq!(n("1.234,5", "de-DE").unwrap(), "1234.5");
        assert_eq!(n("1 234,5", "fr").unwrap(), "1234.5");
        assert_eq!(n("-7", "en").unwrap(), "-7");
        assert!(n("1.2.3", "en").is_err());
        assert!(n("abc", "de").is_err());
    }

    #[test]
    fn a_lookup_is_read_and_comes_last() {
        let fields = mapping(json!([
            {"source": "Company", "target": "company_id", "transform": [
                {"type": "trim"},
                {"type": "lookup", "object": "crm.companies", "key": "domain"},
            ]},
        ]));
        let plan = Plan::new(&fields, &["Company".to_owned()]).unwrap();
        assert_eq!(
            plan.lookups(),
            [(
                0,
                Lookup {
                    object: "crm.companies".into(),
                    key: "domain".into(),
                    field: None,
                }
            )]
        );
        let misplaced = mapping(json!([
            {"source": "Company", "target": "company_id", "transform": [
                {"type": "lookup", "object": "companies", "key": "domain"},
                {"type": "trim"},
            ]},
        ]));
        let error = Plan::new(&misplaced, &["Company".to_owned()]).unwrap_err();
        assert!(error.contains("last transform"), "{error}");
        assert!(serde_json::from_value::<Vec<FieldMapping>>(json!([
            {"target": "x", "transform": {"type": "lookup", "object": "c", "key": "k", "colour": 1}}
        ]))
        .is_err());
    }

    #[test]
    fn a_missing_column_is_named() {
        let error = Plan::new(
            &mapping(json!([{"source": "Mail", "target": "email"}])),
            &["Email".to_owned()],
        )
        .unwrap_err();
        assert!(error.contains("\"Mail\""), "{error}");
    }
}
