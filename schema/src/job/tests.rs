use super::*;
use serde_json::{json, Value};

/// `value` read as `T` and written back: the same JSON.
fn round_trip<T: Serialize + serde::de::DeserializeOwned>(value: Value) -> T {
    let read: T = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(serde_json::to_value(&read).unwrap(), value);
    read
}

const UPLOAD: &str = "01a2386b-a8f9-732c-b2c4-1348c47cbe29";
const CONNECTION: &str = "01a2386b-a8e4-7549-aa87-90654185935a";

#[test]
fn sources_read_and_write_as_jobs_have_always_kept_them() {
    let upload: Source = round_trip(json!({"upload_id": UPLOAD}));
    assert!(matches!(upload, Source::Upload { sheet: None, .. }));
    let sheet: Source = round_trip(json!({"upload_id": UPLOAD, "sheet": "Contacts"}));
    assert!(matches!(sheet, Source::Upload { sheet: Some(ref s), .. } if s == "Contacts"));
    let query: Source = round_trip(json!({"connection_id": CONNECTION, "query": "SELECT 1"}));
    assert_eq!(
        query.ids(),
        SourceIds::Query {
            connection_id: ConnectionId(CONNECTION.parse().unwrap())
        }
    );
    // Absent and null are alike, as they were for the request's fields.
    let nulls: Source =
        serde_json::from_value(json!({"upload_id": UPLOAD, "query": null, "sheet": null})).unwrap();
    assert_eq!(nulls, upload);
}

#[test]
fn a_source_that_is_not_one_says_what_to_give() {
    let error = |value: Value| {
        serde_json::from_value::<Source>(value)
            .unwrap_err()
            .to_string()
    };
    for neither in [
        json!({}),
        json!({"upload_id": UPLOAD, "connection_id": CONNECTION, "query": "SELECT 1"}),
        json!({"connection_id": CONNECTION}),
        json!({"query": "SELECT 1"}),
    ] {
        assert_eq!(error(neither), SourceError::Incomplete.to_string());
    }
    let sheet = json!({"connection_id": CONNECTION, "query": "SELECT 1", "sheet": "A"});
    assert_eq!(error(sheet), SourceError::SheetOfQuery.to_string());
    assert!(error(json!({"upload_id": UPLOAD, "colour": 1})).starts_with("unknown field `colour`"));
    assert!(error(json!({"upload_id": "not an id"})).contains("UUID"));
}

#[test]
fn targets_and_the_clear_ids_read_as_events_keep_them() {
    let target: Target = round_trip(json!({"connection_id": CONNECTION, "object": "contacts"}));
    let ids: TargetIds = round_trip(json!({"connection_id": CONNECTION}));
    assert_eq!(target.ids(), ids);
    let upload: SourceIds = round_trip(json!({"upload_id": UPLOAD}));
    assert!(matches!(upload, SourceIds::Upload { .. }));
    let query: SourceIds = round_trip(json!({"connection_id": CONNECTION}));
    assert!(matches!(query, SourceIds::Query { .. }));
    assert!(serde_json::from_value::<Target>(json!({"connection_id": CONNECTION})).is_err());
}

#[test]
fn an_operation_is_one_of_four_names() {
    for name in ["insert", "update", "upsert", "delete"] {
        let operation: Operation = round_trip(json!(name));
        assert_eq!(operation.as_str(), name);
        assert_eq!(name.parse::<Operation>().unwrap(), operation);
    }
    assert!(serde_json::from_value::<Operation>(json!("merge")).is_err());
    assert_eq!(
        "Insert".parse::<Operation>().unwrap_err().to_string(),
        "\"Insert\" is not a operation"
    );
}

#[test]
fn details_sealed_by_earlier_code_read_back_as_they_were() {
    // As `define` wrote them: a mapping with every kind of transform, the
    // optional settings absent or null as serde wrote them.
    let sealed = json!({
        "name": "Contacts",
        "source": {"upload_id": UPLOAD, "sheet": "Contacts"},
        "target": {"connection_id": CONNECTION, "object": "crm.contacts"},
        "key_fields": ["email"],
        "mapping": [
            {"source": "Email", "target": "email", "transform": [{"type": "trim"}, {"type": "lower"}]},
            {"source": null, "target": "origin", "transform": {"type": "constant", "value": "import"}},
            {"source": "Tier", "target": "tier", "transform": {"type": "default", "value": "basic"}},
            {"source": "Country", "target": "country", "transform": {"type": "value_map", "map": {"Deutschland": "DE"}, "otherwise": null}},
            {"source": "Joined", "target": "joined", "transform": {"type": "date", "format": "%d.%m.%Y", "time_zone": "Europe/Berlin"}},
            {"source": "Amount", "target": "amount", "transform": {"type": "number", "locale": "de"}},
            {"source": "Company", "target": "company_id", "transform": {"type": "lookup", "object": "companies", "key": "domain"}},
            {"source": "Name", "target": "name"},
        ],
    });
    let details: JobDetails = round_trip(sealed);
    assert_eq!(details.mapping[0].transform.list().len(), 2);
    assert_eq!(details.mapping[7].transform, Transforms::None);
    assert!(matches!(
        details.mapping[6].transform.list(),
        [Transform::Lookup(Lookup { field: None, .. })]
    ));
    assert!(serde_json::from_value::<JobDetails>(json!({
        "name": "x", "source": {"upload_id": UPLOAD},
        "target": {"connection_id": CONNECTION, "object": "t"},
        "key_fields": [], "mapping": [], "colour": 1,
    }))
    .is_err());
}

#[test]
fn a_formula_and_a_filter_are_kept_beside_the_mapping_and_absent_when_not_given() {
    let details: JobDetails = round_trip(json!({
        "name": "Contacts",
        "source": {"upload_id": UPLOAD},
        "target": {"connection_id": CONNECTION, "object": "contacts"},
        "key_fields": [],
        "mapping": [
            {"source": null, "formula": "UPPER([Name])", "target": "name", "transform": {"type": "trim"}},
            {"source": "Email", "target": "email"},
        ],
        "filter": "[Country] = \"DE\"",
    }));
    assert_eq!(details.mapping[0].formula.as_deref(), Some("UPPER([Name])"));
    assert_eq!(details.mapping[1].formula, None);
    assert_eq!(details.filter.as_deref(), Some("[Country] = \"DE\""));
}

#[test]
fn a_transform_is_read_by_its_name_and_says_what_is_wrong() {
    let error = |value: Value| {
        serde_json::from_value::<Vec<FieldMapping>>(json!([{"target": "t", "transform": value}]))
            .unwrap_err()
            .to_string()
    };
    assert!(error(json!({"type": 0})).contains("its name, a string"));
    assert!(error(json!({"type": "trim", "x": 1})).contains("takes no settings"));
    assert!(error(json!({"type": "shout"})).contains("one of trim, upper"));
    assert!(error(json!({"type": "date"})).contains("incomplete"));
    assert!(error(json!({"type": "number", "locale": "de", "x": 1})).contains("does not take"));
    let lookup = json!({"type": "lookup", "object": "c", "key": "k", "colour": 1});
    assert!(error(lookup).contains("a lookup transform was given a setting it does not take"));
    let none: Vec<FieldMapping> =
        serde_json::from_value(json!([{"target": "t", "transform": null}])).unwrap();
    assert!(none[0].transform.is_empty());
}
