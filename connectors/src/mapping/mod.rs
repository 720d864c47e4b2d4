//! Mapping: each target field takes a source column (or a constant) through
//! a chain of transforms. A blank cell is no value (NULL) unless a transform
//! gives it one.
//!
//! What a mapping is (its types, as a job keeps them) is
//! `sluice_schema::job`'s, re-exported here; this module holds its bounds,
//! `transform` what each transform does to a value ([`Apply`]), `plan`
//! a mapping resolved against a source's header, applied to rows (a
//! field's formula evaluated before its transforms), and `filter` a job's
//! filter, which decides which rows are written, and `dedupe` its
//! de-duplication, which skips rows that repeat others.

pub mod auto;
mod dedupe;
mod filter;
mod plan;
pub(crate) mod read;
mod transform;

pub use dedupe::{check_dedupe, too_many_keys, Duplicates, MAX_DEDUPE_KEYS};
pub use filter::{Filter, FILTERED_OUT};
pub use plan::{check_formulas, lookups, Plan};
pub use sluice_schema::job::{FieldMapping, Lookup, Several, Transform, Transforms};
pub use transform::Apply;

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
        // Its length is the formula's own bound, checked as it is parsed.
        if field.formula.as_ref().is_some_and(|f| f.contains('\0')) {
            return Err(format!("{at}'s formula contains a NUL character"));
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

    fn context() -> crate::formula::EvalContext {
        use chrono::TimeZone;
        crate::formula::EvalContext {
            now: chrono::Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap(),
            time_zone: chrono_tz::UTC,
        }
    }

    #[test]
    fn a_formula_gives_its_field_before_the_transforms() {
        let plan = Plan::new(
            &mapping(json!([
                {"formula": "[First] & \" \" & [Last]", "target": "name", "transform": {"type": "upper"}},
                {"formula": "[Amount] * 2", "target": "double"},
                {"formula": "TODAY()", "target": "imported_on"},
                {"formula": "IF(ISBLANK([Amount]), \"\", \"x\")", "target": "blank", "transform": {"type": "default", "value": "none"}},
            ])),
            &["First", "Last", "Amount"].map(String::from),
            context(),
        )
        .unwrap();
        assert_eq!(
            plan.apply(&["Ada", "Lovelace", "1.5"].map(String::from))
                .unwrap(),
            [
                Some("ADA LOVELACE"),
                Some("3"),
                Some("2026-12-03"),
                Some("x")
            ]
            .map(|v| v.map(String::from))
        );
        assert_eq!(
            plan.apply(&["Ada", "", ""].map(String::from)).unwrap()[3].as_deref(),
            Some("none")
        );
        let error = plan
            .apply(&["Ada", "Lovelace", "lots"].map(String::from))
            .unwrap_err();
        assert!(error.starts_with("double: "), "{error}");
        assert!(!error.contains("lots"), "{error}");
    }

    #[test]
    fn a_bad_formula_is_refused_naming_its_entry_and_position() {
        let header = ["Email", "Name"].map(String::from);
        let fields = mapping(json!([
            {"source": "Name", "target": "name"},
            {"formula": "LOWER([Name])", "target": "lower"},
            {"formula": "[Emial]", "target": "email"},
        ]));
        let (field, message) = check_formulas(&fields, &header).unwrap_err();
        assert_eq!(field, "mapping[2].formula");
        assert_eq!(
            message,
            "mapping[2].formula: at position 1: no column named Emial; did you mean Email?"
        );
        let error = Plan::new(&fields, &header, context()).unwrap_err();
        assert_eq!(error, message);
        let both = mapping(json!([{"source": "Name", "formula": "[Name]", "target": "n"}]));
        let (_, message) = check_formulas(&both, &header).unwrap_err();
        assert!(message.contains("not both"), "{message}");
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
            context(),
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
        let plan = Plan::new(&fields, &["Company".to_owned()], context()).unwrap();
        assert_eq!(
            plan.lookups(),
            [(
                0,
                Lookup {
                    object: "crm.companies".into(),
                    key: "domain".into(),
                    field: None,
                    several: Several::Fail,
                    order_by: None,
                }
            )]
        );
        let misplaced = mapping(json!([
            {"source": "Company", "target": "company_id", "transform": [
                {"type": "lookup", "object": "companies", "key": "domain"},
                {"type": "trim"},
            ]},
        ]));
        let error = Plan::new(&misplaced, &["Company".to_owned()], context()).unwrap_err();
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
            context(),
        )
        .unwrap_err();
        assert!(error.contains("\"Mail\""), "{error}");
    }
}
