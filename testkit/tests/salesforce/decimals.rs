//! Number, currency and percent fields keep decimals exactly: sent as text
//! (a JSON string or a Bulk cell) every digit is stored, and a query
//! writes it back as a JSON number with every digit.

use crate::bulk::{poll, rows, run_job};
use crate::support::Org;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sluice_testkit::salesforce::{FieldDef, FieldType, ObjectDef};

async fn org_with_invoices() -> Org {
    let org = Org::start().await;
    org.standin.define_object(
        ObjectDef::new("Invoice__c")
            .field(FieldDef::new("Name__c", FieldType::String))
            .field(FieldDef::new("Amount__c", FieldType::Currency).digits(18, 2))
            .field(FieldDef::new("Rate__c", FieldType::Double).digits(18, 0))
            .field(FieldDef::new("Share__c", FieldType::Percent).digits(5, 2)),
    );
    org
}

fn invoice(name: &str, fields: Value) -> Value {
    let mut record = json!({"attributes": {"type": "Invoice__c"}, "Name__c": name});
    for (field, value) in fields.as_object().unwrap() {
        record[field] = value.clone();
    }
    record
}

/// A query's answer as the text Salesforce sends.
async fn query_text(org: &Org, soql: &str) -> String {
    let response = org
        .http
        .get(org.url("/query"))
        .query(&[("q", soql)])
        .bearer_auth(&org.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

fn stored(org: &Org, name: &str, field: &str) -> Value {
    org.standin
        .records("Invoice__c")
        .into_iter()
        .find(|r| r["Name__c"] == name)
        .unwrap()[field]
        .clone()
}

#[tokio::test]
async fn decimals_sent_as_text_are_kept_to_the_last_digit_and_queried_as_exact_numbers() {
    let org = org_with_invoices().await;
    // A value that is no number fails the whole request, as Salesforce's
    // parser does.
    let (status, body) = org
        .create(false, vec![invoice("text", json!({"Amount__c": "12,50"}))])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body[0]["errorCode"], "JSON_PARSER_ERROR");

    let (status, body) = org
        .create(
            false,
            vec![
                invoice(
                    "exact",
                    json!({"Amount__c": "1234567890123456.78", "Rate__c": "0.1234567890123456789",
                           "Share__c": "012.50"}),
                ),
                // A JSON number is read as a double.
                invoice(
                    "double",
                    serde_json::from_str(r#"{"Amount__c": 1234567890123456.78}"#).unwrap(),
                ),
                // Digits after the point beyond the scale are kept, as the
                // API keeps them; too many before it are refused.
                invoice("extra", json!({"Amount__c": "12.345"})),
                invoice("large", json!({"Amount__c": "12345678901234567.89"})),
                invoice("share", json!({"Share__c": "1000"})),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ok: Vec<bool> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["success"].as_bool().unwrap())
        .collect();
    assert_eq!(ok, [true, true, true, false, false], "{body}");
    assert_eq!(
        body[3]["errors"][0]["statusCode"],
        "NUMBER_OUTSIDE_VALID_RANGE"
    );
    assert_eq!(body[3]["errors"][0]["fields"], json!(["Amount__c"]));
    assert_eq!(
        body[4]["errors"][0]["statusCode"],
        "NUMBER_OUTSIDE_VALID_RANGE"
    );

    assert_eq!(stored(&org, "exact", "Amount__c"), "1234567890123456.78");
    assert_eq!(stored(&org, "exact", "Rate__c"), "0.1234567890123456789");
    assert_eq!(stored(&org, "exact", "Share__c"), "12.5");
    assert_eq!(stored(&org, "double", "Amount__c"), "1234567890123456.8");
    assert_eq!(stored(&org, "extra", "Amount__c"), "12.345");

    let text = query_text(
        &org,
        "SELECT Amount__c, Rate__c, Share__c FROM Invoice__c WHERE Name__c = 'exact'",
    )
    .await;
    assert!(
        text.contains(r#""Amount__c":1234567890123456.78"#),
        "{text}"
    );
    assert!(
        text.contains(r#""Rate__c":0.1234567890123456789"#),
        "{text}"
    );
    assert!(text.contains(r#""Share__c":12.5"#), "{text}");
    // Ordered by value, not as text.
    let ordered: Value = serde_json::from_str(
        &query_text(&org, "SELECT Name__c FROM Invoice__c ORDER BY Amount__c").await,
    )
    .unwrap();
    let names: Vec<&str> = ordered["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Name__c"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["extra", "exact", "double"]);
}

#[tokio::test]
async fn bulk_cells_are_decimals_kept_exactly() {
    let org = org_with_invoices().await;
    let csv = "Name__c,Amount__c,Rate__c\nexact,1234567890123456.78,0.1234567890123456789\nlarge,99999999999999999,1\nword,twelve,1\n";
    let id = run_job(
        &org,
        json!({"object": "Invoice__c", "operation": "insert"}),
        csv,
    )
    .await;
    poll(&org, &id).await;
    let failed = rows(&org.text(&format!("/jobs/ingest/{id}/failedResults/")).await);
    let mut errors: Vec<&str> = failed
        .iter()
        .map(|r| r[1].split(':').next().unwrap())
        .collect();
    errors.sort_unstable();
    assert_eq!(
        errors,
        [
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            "NUMBER_OUTSIDE_VALID_RANGE"
        ]
    );
    assert_eq!(stored(&org, "exact", "Amount__c"), "1234567890123456.78");
    assert_eq!(stored(&org, "exact", "Rate__c"), "0.1234567890123456789");
}
