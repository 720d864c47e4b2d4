//! The stand-in's OAuth modes: refresh token rotation, scopes, an org that
//! moves to another instance; and the Limits resource a connection test
//! reads.

use crate::support::{authorize_for, Org};
use reqwest::StatusCode;
use serde_json::Value;
use sluice_testkit::salesforce::{CLIENT_ID, CLIENT_SECRET};

async fn refresh(org: &Org, refresh_token: &str) -> (StatusCode, Value) {
    let res = org
        .http
        .post(format!("{}/services/oauth2/token", org.standin.url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

#[tokio::test]
async fn with_rotation_a_refresh_token_works_once_and_its_reuse_ends_the_session() {
    let mut org = Org::start().await;
    org.standin.rotate_refresh_tokens(true);
    let (status, first) = refresh(&org, &org.refresh).await;
    assert_eq!(status, StatusCode::OK);
    let next = first["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(next, org.refresh, "a new refresh token");

    let (status, refused) = refresh(&org, &org.refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refused["error"], "invalid_grant");
    // The reuse ended the session the old token was rotated into.
    assert_eq!(refresh(&org, &next).await.0, StatusCode::BAD_REQUEST);
    org.token = first["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        org.get("/sobjects/Contact/describe").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(org.standin.refresh_grants(), 3);
}

#[tokio::test]
async fn without_rotation_a_refresh_answers_no_refresh_token() {
    let org = Org::start().await;
    let (status, body) = refresh(&org, &org.refresh).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("refresh_token").is_none());
    assert_eq!(refresh(&org, &org.refresh).await.0, StatusCode::OK);
}

#[tokio::test]
async fn scopes_decide_between_userinfo_and_the_data_api() {
    let mut org = Org::start().await;
    org.standin.enforce_scopes(true);
    let (api_only, _) = authorize_for(&org.http, &org.standin.url, "api refresh_token").await;
    let userinfo = |token: String| {
        let http = org.http.clone();
        let url = format!("{}/services/oauth2/userinfo", org.standin.url);
        async move { http.get(url).bearer_auth(token).send().await.unwrap() }
    };
    let res = userinfo(api_only.clone()).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("insufficient_scope"));

    org.token = api_only;
    let (status, limits) = org.get("/limits").await;
    assert_eq!(status, StatusCode::OK);
    assert!(limits["DailyApiRequests"]["Max"].as_u64().unwrap() > 0);

    let (identity_only, _) =
        authorize_for(&org.http, &org.standin.url, "openid email refresh_token").await;
    assert_eq!(
        userinfo(identity_only.clone()).await.status(),
        StatusCode::OK
    );
    org.token = identity_only;
    let (status, body) = org.get("/limits").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "insufficient_scope");
}

#[tokio::test]
async fn a_moved_org_answers_its_new_instance_and_refuses_calls_to_the_old_one() {
    let mut org = Org::start().await;
    let moved = org.standin.url.replace("127.0.0.1", "localhost");
    org.standin.move_instance(&moved);
    assert_eq!(
        org.get("/limits").await.0,
        StatusCode::UNAUTHORIZED,
        "the old instance"
    );
    let (_, renewed) = refresh(&org, &org.refresh).await;
    assert_eq!(renewed["instance_url"], moved.as_str());
    org.token = renewed["access_token"].as_str().unwrap().to_owned();
    let res = org
        .http
        .get(format!("{moved}/services/data/v62.0/limits"))
        .bearer_auth(&org.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
