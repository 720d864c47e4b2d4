//! A job's mapping: each target field takes a source column (or a
//! constant) through a chain of transforms. These are the types a job
//! keeps, sends and is documented by; what a transform does to a value, and
//! a mapping resolved against a source's header, are
//! `sluice_connectors::mapping`'s.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One target field of a job's mapping: its value comes from a source
/// column, a formula over the row's columns, or a constant, through
/// transforms applied in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FieldMapping {
    /// The source column, by its header; absent with a `formula`, or with
    /// a `constant` or `default` transform.
    #[serde(default)]
    pub source: Option<String>,
    /// A formula over the row's columns (`UPPER([Country])`) whose value
    /// the transforms then take, instead of a source column; at most 4,096
    /// characters, checked against the source's header when the job is
    /// saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub formula: Option<String>,
    pub target: String,
    /// One transform, or a list applied in order (a `lookup` last).
    #[serde(default, skip_serializing_if = "Transforms::is_empty")]
    pub transform: Transforms,
}

/// A field's transforms: none, one, or a list applied in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Transforms {
    #[default]
    None,
    One(Transform),
    Many(Vec<Transform>),
}

/// Read by hand so that a transform's `type` must be its name (serde would
/// also take a variant's position, `"type": 0`), and that a transform with
/// no settings (`trim`, `upper`, `lower`) or a lookup refuses keys it does
/// not know. ([`Lookup`] does not refuse them itself: its settings sit
/// beside the `type` in one object, which the document could not describe
/// if the struct allowed no other key.)
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
            if kind == "lookup" && object.keys().any(|k| !LOOKUP_KEYS.contains(&k.as_str())) {
                return Err(E::custom(
                    "a lookup transform was given a setting it does not take",
                ));
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

/// A transform of a field's value, by its `type`. What each does is
/// `sluice_connectors::mapping`'s to apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// `object`'s `key` column (a Salesforce object's external id field)
    /// and replaced by that row's `field` (its primary key by default). The
    /// last transform of a chain.
    Lookup(Lookup),
}

/// The keys a lookup transform takes: its type and [`Lookup`]'s fields.
const LOOKUP_KEYS: [&str; 6] = ["type", "object", "key", "field", "several", "order_by"];

/// Where a lookup finds its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Lookup {
    /// The table to look in (`table`, or `schema.table`), or the
    /// Salesforce object the reference field refers to.
    pub object: String,
    /// Its column the value is matched against. In Salesforce, any text
    /// field or id of the object, or a field of a record it refers to
    /// (`Account.External_Id__c`); a lookup by an external id that takes
    /// one record is left to Salesforce, any other is made by a query.
    pub key: String,
    /// Its column whose value is taken (the primary key by default; in
    /// Salesforce, always the record's `Id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub field: Option<String>,
    /// What a value that several rows have comes to: the row fails (the
    /// default), or the first or the latest of them by `order_by` is taken.
    #[serde(default, skip_serializing_if = "Several::is_fail")]
    pub several: Several,
    /// The column that orders the rows a value matches, for `first` (its
    /// smallest value) and `latest` (its greatest, such as a modified-at
    /// column); ties go to the smallest field taken, compared as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub order_by: Option<String>,
}

/// What a lookup does when several rows have the value it looks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Several {
    /// The row fails, naming how many rows matched.
    #[default]
    Fail,
    /// The row with the smallest `order_by`.
    First,
    /// The row with the greatest `order_by`.
    Latest,
}

impl Several {
    pub fn is_fail(&self) -> bool {
        *self == Self::Fail
    }
}
