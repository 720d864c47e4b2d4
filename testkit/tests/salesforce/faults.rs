//! Transient failures switched on for the next calls or records, answered
//! as Salesforce (or a proxy in front of it) answers them.

use crate::support::{contact, Org};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sluice_testkit::salesforce::Fault;

#[tokio::test]
async fn the_next_calls_meet_the_fault_then_the_org_answers_as_usual() {
    let org = Org::start().await;
    org.standin.fail_next_calls(1, Fault::Maintenance);
    org.standin.fail_next_calls(1, Fault::ServerUnavailable);
    org.standin.fail_next_calls(1, Fault::ConcurrentLimit);
    org.standin.fail_next_calls(1, Fault::LockedRow);
    let (status, body) = org.get("/sobjects/Contact/describe").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.as_str().unwrap().contains("<html>"), "{body}");
    let (status, body) = org.get("/sobjects/Contact/describe").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body[0]["errorCode"], "SERVER_UNAVAILABLE");
    let (status, body) = org.get("/sobjects/Contact/describe").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        json!([{"message": "ConcurrentPerOrgLongTxn Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    );
    let (status, body) = org.create(false, vec![contact("Lovelace", "C-1")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body[0]["errorCode"], "UNABLE_TO_LOCK_ROW");
    // Refused requests did nothing and were not counted.
    assert!(org.standin.records("Contact").is_empty());
    assert_eq!(org.standin.api_calls(), 0);
    assert_eq!(
        org.get("/sobjects/Contact/describe").await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_gateway_fault_answers_after_the_request_was_carried_out() {
    let org = Org::start().await;
    org.standin.fail_next_calls(1, Fault::BadGateway);
    org.standin.fail_next_calls(1, Fault::GatewayTimeout);
    let (status, body) = org.create(false, vec![contact("Lovelace", "C-1")]).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(body.as_str().unwrap().contains("<html>"), "{body}");
    let (status, _) = org.create(false, vec![contact("Byron", "C-2")]).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(org.standin.records("Contact").len(), 2);
    assert_eq!(org.standin.api_calls(), 2);
}

#[tokio::test]
async fn locked_records_are_refused_one_by_one_and_the_others_saved() {
    let org = Org::start().await;
    org.standin.lock_next_records(2);
    let records = (1..=3)
        .map(|n| contact(&format!("P{n}"), &format!("C-{n}")))
        .collect();
    let (status, body) = org.create(false, records).await;
    assert_eq!(status, StatusCode::OK);
    let codes: Vec<Value> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["errors"][0]["statusCode"].clone())
        .collect();
    assert_eq!(
        codes,
        [
            json!("UNABLE_TO_LOCK_ROW"),
            json!("UNABLE_TO_LOCK_ROW"),
            Value::Null
        ]
    );
    assert_eq!(body[2]["success"], true);
    assert_eq!(org.standin.records("Contact").len(), 1);
}

#[tokio::test]
async fn a_fault_for_writes_lets_reads_pass_by() {
    let org = Org::start().await;
    org.standin.fail_next_writes(1, Fault::BadGateway);
    assert_eq!(
        org.get("/sobjects/Contact/describe").await.0,
        StatusCode::OK
    );
    let (status, _) = org.create(false, vec![contact("Lovelace", "C-1")]).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(org.standin.records("Contact").len(), 1);
}
