//! Describe and sObject Collections.

use crate::support::{contact, Org};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn field<'a>(describe: &'a Value, name: &str) -> &'a Value {
    describe["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap()
}

#[tokio::test]
async fn describe_reports_an_objects_fields_as_salesforce_does() {
    let org = Org::start().await;
    let (status, describe) = org.get("/sobjects/Contact/describe").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(describe["name"], "Contact");
    assert_eq!(describe["keyPrefix"], "003");
    assert_eq!(describe["undeletable"], true);
    let last_name = field(&describe, "LastName");
    assert_eq!(
        (
            &last_name["type"],
            &last_name["nillable"],
            &last_name["length"]
        ),
        (&json!("string"), &json!(false), &json!(80))
    );
    assert_eq!(last_name["defaultedOnCreate"], false);
    let account = field(&describe, "AccountId");
    assert_eq!(account["type"], "reference");
    assert_eq!(account["referenceTo"], json!(["Account"]));
    assert_eq!(account["relationshipName"], "Account");
    let external = field(&describe, "External_Id__c");
    assert_eq!(
        (
            &external["externalId"],
            &external["unique"],
            &external["idLookup"]
        ),
        (&json!(true), &json!(true), &json!(true))
    );
    assert_eq!(field(&describe, "Birthdate")["type"], "date");
    assert_eq!(field(&describe, "Id")["createable"], false);
}

#[tokio::test]
async fn describing_an_unknown_object_is_not_found() {
    let org = Org::start().await;
    let (status, body) = org.get("/sobjects/Invoice__c/describe").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
    );
}

#[tokio::test]
async fn more_than_200_records_in_one_call_are_refused_whole() {
    let org = Org::start().await;
    let records = (0..201)
        .map(|i| contact(&format!("Doe {i}"), &format!("C-{i}")))
        .collect();
    let (status, body) = org.create(false, records).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body[0]["errorCode"], "EXCEEDED_ID_LIMIT");
    assert!(org.standin.records("Contact").is_empty());
}

#[tokio::test]
async fn a_record_missing_a_required_field_fails_alone_with_ids_in_request_order() {
    let org = Org::start().await;
    let nameless = json!({"attributes": {"type": "Contact"}, "FirstName": "Ada"});
    let (status, body) = org
        .create(
            false,
            vec![
                contact("Lovelace", "C-1"),
                nameless,
                contact("Hopper", "C-2"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body[0]["success"], true);
    assert!(body[0]["id"].as_str().unwrap().starts_with("003"));
    assert_eq!(body[0]["id"].as_str().unwrap().len(), 18);
    assert_eq!(
        body[1],
        json!({"success": false, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [LastName]", "fields": ["LastName"]}]})
    );
    assert_ne!(body[0]["id"], body[2]["id"]);
    let names: Vec<Value> = org
        .standin
        .records("Contact")
        .iter()
        .map(|r| r["LastName"].clone())
        .collect();
    assert_eq!(names, [json!("Lovelace"), json!("Hopper")]);
}

#[tokio::test]
async fn all_or_none_rolls_back_every_record_when_one_fails() {
    let org = Org::start().await;
    let too_long = json!({"attributes": {"type": "Contact"}, "LastName": "x".repeat(81)});
    let (_, body) = org
        .create(true, vec![contact("Lovelace", "C-1"), too_long])
        .await;
    assert_eq!(
        body[0]["errors"][0]["statusCode"],
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    );
    assert_eq!(body[1]["errors"][0]["statusCode"], "STRING_TOO_LONG");
    assert_eq!(body[1]["errors"][0]["fields"], json!(["LastName"]));
    assert!(org.standin.records("Contact").is_empty());
}

#[tokio::test]
async fn a_duplicate_value_in_a_unique_field_is_refused() {
    let org = Org::start().await;
    let (_, body) = org
        .create(
            false,
            vec![contact("Lovelace", "C-1"), contact("Byron", "c-1")],
        )
        .await;
    let first = body[0]["id"].as_str().unwrap();
    assert_eq!(body[1]["errors"][0]["statusCode"], "DUPLICATE_VALUE");
    let message = format!(
        "duplicate value found: External_Id__c duplicates value on record with id: {first}"
    );
    assert_eq!(body[1]["errors"][0]["message"], message);
}

#[tokio::test]
async fn an_unknown_field_or_an_unreadable_value_fails_the_whole_request() {
    let org = Org::start().await;
    let unknown = json!({"attributes": {"type": "Contact"}, "LastName": "Doe", "Shoe_Size__c": 9});
    let (status, body) = org
        .create(false, vec![contact("Lovelace", "C-1"), unknown])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!([{"errorCode": "INVALID_FIELD", "message": "No such column 'Shoe_Size__c' on sobject of type Contact"}])
    );
    let bad_date =
        json!({"attributes": {"type": "Contact"}, "LastName": "Doe", "Birthdate": "31/12/1990"});
    let (status, body) = org.create(false, vec![bad_date]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body[0]["errorCode"], "JSON_PARSER_ERROR");
    let message = body[0]["message"].as_str().unwrap();
    assert!(
        message
            .starts_with("Cannot deserialize instance of date from VALUE_STRING value 31/12/1990"),
        "{message}"
    );
    assert!(org.standin.records("Contact").is_empty());
}

#[tokio::test]
async fn upsert_reports_which_records_it_created_and_which_it_updated() {
    let org = Org::start().await;
    let existing = org.standin.insert_records(
        "Contact",
        [json!({"LastName": "Lovelace", "External_Id__c": "C-1"})],
    );
    let records = vec![
        json!({"attributes": {"type": "Contact"}, "External_Id__c": "c-1", "Email": "ada@example.com"}),
        contact("Hopper", "C-2"),
    ];
    let body = json!({"allOrNone": false, "records": records});
    let (status, results) = org
        .call(
            Method::PATCH,
            "/composite/sobjects/Contact/External_Id__c",
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        results[0],
        json!({"id": existing[0], "success": true, "errors": [], "created": false})
    );
    assert_eq!(results[1]["created"], true);
    let live = org.standin.records("Contact");
    assert_eq!(
        (live.len(), &live[0]["Email"], &live[0]["LastName"]),
        (2, &json!("ada@example.com"), &json!("Lovelace"))
    );
    let (status, body) = org
        .call(
            Method::PATCH,
            "/composite/sobjects/Contact/Email",
            Some(json!({"records": []})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body[0]["errorCode"], "INVALID_FIELD");
}

#[tokio::test]
async fn a_lookup_by_external_id_points_at_that_record_or_fails_the_record() {
    let org = Org::start().await;
    let account = org.standin.insert_records(
        "Account",
        [json!({"Name": "Analytical Engines", "External_Id__c": "A-1"})],
    );
    let linked = json!({"attributes": {"type": "Contact"}, "LastName": "Lovelace",
        "Account": {"attributes": {"type": "Account"}, "External_Id__c": "A-1"}});
    let dangling = json!({"attributes": {"type": "Contact"}, "LastName": "Babbage",
        "Account": {"attributes": {"type": "Account"}, "External_Id__c": "A-404"}});
    let (_, body) = org.create(false, vec![linked, dangling]).await;
    assert_eq!(body[0]["success"], true);
    assert_eq!(
        body[1]["errors"][0],
        json!({"statusCode": "INVALID_FIELD", "message": "Foreign key external ID: A-404 not found for field External_Id__c in entity Account", "fields": []})
    );
    assert_eq!(
        org.standin.records("Contact")[0]["AccountId"],
        json!(account[0])
    );
}

#[tokio::test]
async fn updating_or_deleting_a_missing_or_deleted_record_fails_that_record() {
    let org = Org::start().await;
    let ids = org.standin.insert_records(
        "Contact",
        [
            json!({"LastName": "Lovelace"}),
            json!({"LastName": "Hopper"}),
        ],
    );
    let gone = format!("/composite/sobjects?ids={}&allOrNone=false", ids[1]);
    let (_, deleted) = org.call(Method::DELETE, &gone, None).await;
    assert_eq!(
        deleted[0],
        json!({"id": ids[1], "success": true, "errors": []})
    );
    let unknown = "0035g0000zzzzzzAAA";
    let records = json!({"records": [
        {"attributes": {"type": "Contact"}, "id": ids[0], "Title": "Countess"},
        {"attributes": {"type": "Contact"}, "id": ids[1], "Title": "Admiral"},
        {"attributes": {"type": "Contact"}, "id": unknown, "Title": "Nobody"},
        {"attributes": {"type": "Contact"}, "id": "not-an-id", "Title": "Nobody"},
    ]});
    let (_, body) = org
        .call(Method::PATCH, "/composite/sobjects", Some(records))
        .await;
    let codes: Vec<&Value> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["errors"][0]["statusCode"])
        .collect();
    assert_eq!(body[0]["success"], true);
    assert_eq!(
        codes[1..],
        [
            &json!("ENTITY_IS_DELETED"),
            &json!("INVALID_CROSS_REFERENCE_KEY"),
            &json!("MALFORMED_ID")
        ]
    );
    assert_eq!(org.standin.records("Contact")[0]["Title"], "Countess");
    let (_, again) = org.call(Method::DELETE, &gone, None).await;
    assert_eq!(again[0]["errors"][0]["statusCode"], "ENTITY_IS_DELETED");
    assert_eq!(org.standin.recycle_bin("Contact")[0]["IsDeleted"], true);
}

#[tokio::test]
async fn a_custom_object_gets_a_custom_key_prefix_and_its_own_field_rules() {
    use sluice_testkit::salesforce::{FieldDef, FieldType, ObjectDef};
    let org = Org::start().await;
    org.standin.define_object(
        ObjectDef::new("Invoice__c")
            .field(FieldDef::new("Amount__c", FieldType::Currency).required())
            .field(FieldDef::new("Paid__c", FieldType::Boolean))
            .field(
                FieldDef::new("Contact__c", FieldType::Reference)
                    .references("Contact", "Contact__r"),
            ),
    );
    let contact = org.standin.insert_records(
        "Contact",
        [json!({"LastName": "Lovelace", "External_Id__c": "C-1"})],
    );
    let invoices = vec![
        json!({"attributes": {"type": "Invoice__c"}, "Amount__c": 12.5, "Contact__r": {"External_Id__c": "C-1"}}),
        json!({"attributes": {"type": "Invoice__c"}, "Amount__c": 3, "Contact__c": "001000000000000AAA"}),
    ];
    let (_, body) = org.create(false, invoices).await;
    assert!(body[0]["id"].as_str().unwrap().starts_with("a00"), "{body}");
    assert_eq!(
        body[1]["errors"][0]["statusCode"],
        "FIELD_INTEGRITY_EXCEPTION"
    );
    let saved = &org.standin.records("Invoice__c")[0];
    assert_eq!(
        (&saved["Paid__c"], &saved["Contact__c"]),
        (&json!(false), &json!(contact[0]))
    );
}
