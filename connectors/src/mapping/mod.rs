//! Mapping: each target field takes a source column (or a constant) through
//! a chain of transforms. A blank cell is no value (NULL) unless a transform
//! gives it one.
//!
//! This module holds what a mapping is (its types, as a job stores them)
//! and its bounds; `transform` what each transform does to a value, and
//! `plan` a mapping resolved against a source's header, applied to rows.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod plan;
mod transform;

pub use plan::{lookups, Plan};

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

#[cfg(test)]
mod tests {
    use super::transform::parse_number;
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
