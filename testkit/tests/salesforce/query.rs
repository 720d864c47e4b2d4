//! SOQL over REST: `query`, `queryAll`, pages and errors.

use crate::support::Org;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn a_query_pages_through_its_results_2000_at_a_time() {
    let org = Org::start().await;
    let records = (0..4500).map(|i| json!({"LastName": format!("Doe {i}")}));
    org.standin.insert_records("Contact", records);
    let (status, first) = org.query("query", "SELECT Id, LastName FROM Contact").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&first["totalSize"], &first["done"]),
        (&json!(4500), &json!(false))
    );
    assert_eq!(first["records"].as_array().unwrap().len(), 2000);
    assert_eq!(first["records"][0]["attributes"]["type"], "Contact");
    let id = first["records"][0]["Id"].as_str().unwrap();
    assert_eq!(
        first["records"][0]["attributes"]["url"],
        format!("/services/data/v62.0/sobjects/Contact/{id}")
    );
    let mut next = first["nextRecordsUrl"].as_str().unwrap().to_owned();
    assert!(next.starts_with("/services/data/v62.0/query/01g"), "{next}");
    let mut seen = 2000;
    loop {
        let path = next.trim_start_matches("/services/data/v62.0");
        let (status, page) = org.get(path).await;
        assert_eq!(status, StatusCode::OK);
        seen += page["records"].as_array().unwrap().len();
        if page["done"] == true {
            assert!(page.get("nextRecordsUrl").is_none());
            break;
        }
        next = page["nextRecordsUrl"].as_str().unwrap().to_owned();
    }
    assert_eq!(seen, 4500);
    assert_eq!(org.standin.api_calls(), 3);
}

#[tokio::test]
async fn a_query_filters_with_in_and_equals_and_follows_lookups() {
    let org = Org::start().await;
    org.standin.insert_records(
        "Account",
        [json!({"Name": "Analytical Engines", "External_Id__c": "A-1"})],
    );
    org.standin.insert_records(
        "Contact",
        [
            json!({"LastName": "Lovelace", "External_Id__c": "C-1", "Account": {"External_Id__c": "A-1"}}),
            json!({"LastName": "Hopper", "External_Id__c": "C-2"}),
            json!({"LastName": "Babbage", "External_Id__c": "C-3"}),
        ],
    );
    let soql = "select Id, LastName, Account.External_Id__c from contact where External_Id__c in ('c-1', 'C-2') order by LastName";
    let (_, body) = org.query("query", soql).await;
    let records = body["records"].as_array().unwrap();
    assert_eq!(body["totalSize"], 2);
    assert_eq!(records[0]["LastName"], "Hopper");
    assert_eq!(records[0]["Account"], Value::Null);
    assert_eq!(records[1]["Account"]["External_Id__c"], "A-1");
    assert_eq!(records[1]["Account"]["attributes"]["type"], "Account");
    let (_, one) = org
        .query("query", "SELECT Id FROM Contact WHERE LastName = 'babbage'")
        .await;
    assert_eq!(one["totalSize"], 1);
}

#[tokio::test]
async fn query_all_also_returns_deleted_records() {
    let org = Org::start().await;
    let ids = org.standin.insert_records(
        "Contact",
        [
            json!({"LastName": "Lovelace"}),
            json!({"LastName": "Hopper"}),
        ],
    );
    org.call(
        Method::DELETE,
        &format!("/composite/sobjects?ids={}", ids[0]),
        None,
    )
    .await;
    let soql = "SELECT Id, IsDeleted FROM Contact";
    let (_, live) = org.query("query", soql).await;
    assert_eq!(live["totalSize"], 1);
    let (_, all) = org.query("queryAll", soql).await;
    assert_eq!(all["totalSize"], 2);
    assert_eq!(all["records"][0]["Id"], json!(ids[0]));
    assert_eq!(all["records"][0]["IsDeleted"], true);
    let (_, deleted) = org
        .query(
            "queryAll",
            &format!(
                "SELECT Id FROM Contact WHERE IsDeleted = true AND Id = '{}'",
                &ids[0][..15]
            ),
        )
        .await;
    assert_eq!(deleted["totalSize"], 1);
}

#[tokio::test]
async fn a_malformed_query_or_an_unknown_field_is_refused_with_its_position() {
    let org = Org::start().await;
    let (status, body) = org.query("query", "SELECT Id FORM Contact").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body[0]["errorCode"], "MALFORMED_QUERY");
    assert_eq!(
        body[0]["message"],
        "\nSELECT Id FORM Contact\n          ^\nERROR at Row:1:Column:11\nunexpected token: FORM"
    );
    let (status, body) = org
        .query("query", "SELECT Id, Shoe_Size__c FROM Contact")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body[0]["errorCode"], "INVALID_FIELD");
    assert!(body[0]["message"]
        .as_str()
        .unwrap()
        .contains("No such column 'Shoe_Size__c' on entity 'Contact'"));
    let (_, body) = org.query("query", "SELECT Id FROM Invoice__c").await;
    assert_eq!(body[0]["errorCode"], "INVALID_TYPE");
}

#[tokio::test]
async fn a_query_whose_uri_exceeds_16384_bytes_is_refused() {
    let org = Org::start().await;
    let ids: Vec<String> = (0..1200).map(|i| format!("'C-{i:010}'")).collect();
    let soql = format!(
        "SELECT Id FROM Contact WHERE External_Id__c IN ({})",
        ids.join(",")
    );
    let response = org
        .http
        .get(org.url("/query"))
        .query(&[("q", soql.as_str())])
        .bearer_auth(&org.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::URI_TOO_LONG);
    assert_eq!(org.standin.api_calls(), 0);
}
