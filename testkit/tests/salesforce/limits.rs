//! Sessions and the org's API request limit.

use crate::support::Org;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sluice_testkit::salesforce::{CLIENT_ID, CLIENT_SECRET};

#[tokio::test]
async fn requests_past_the_orgs_limit_are_refused() {
    let org = Org::start().await;
    org.standin.limit_requests(2);
    assert_eq!(
        org.get("/sobjects/Account/describe").await.0,
        StatusCode::OK
    );
    assert_eq!(
        org.query("query", "SELECT Id FROM Account").await.0,
        StatusCode::OK
    );
    let (status, body) = org.get("/sobjects/Account/describe").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        json!([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    );
    assert_eq!(org.standin.api_calls(), 2);
    org.standin.lift_request_limit();
    assert_eq!(
        org.get("/sobjects/Account/describe").await.0,
        StatusCode::OK
    );
    assert_eq!(org.standin.api_call_counts().rest, 3);
}

#[tokio::test]
async fn an_expired_session_is_refused_until_the_client_refreshes() {
    let mut org = Org::start().await;
    org.standin.expire_access_tokens();
    let (status, body) = org.get("/sobjects/Contact/describe").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    );
    let refreshed: Value = org
        .http
        .post(format!("{}/services/oauth2/token", org.standin.url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", org.refresh.as_str()),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    org.token = refreshed["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        org.get("/sobjects/Contact/describe").await.0,
        StatusCode::OK
    );
    assert_eq!(org.standin.api_calls(), 1);
}

#[tokio::test]
async fn any_api_version_is_served_and_an_unknown_resource_is_not_found() {
    let org = Org::start().await;
    let url = format!(
        "{}/services/data/v59.0/sobjects/Account/describe",
        org.standin.url
    );
    let response = org
        .http
        .get(url)
        .bearer_auth(&org.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["urls"]["sobject"],
        "/services/data/v59.0/sobjects/Account"
    );
    assert_eq!(org.get("/no/such/resource").await.0, StatusCode::NOT_FOUND);
}
