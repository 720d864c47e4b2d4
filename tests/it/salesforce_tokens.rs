//! A Salesforce connection's tokens as Salesforce really treats them:
//! refresh tokens rotated at each use, renewals racing each other, an org
//! that moves to another instance.

use crate::accounts::{account, call};
use crate::imports::{upload, wait_for_run};
use crate::salesforce_runs::{app_for, connect_org, contacts, insert_job, run};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sluice_testkit::salesforce::SalesforceStandIn;
use sluice_testkit::TestApp;
use std::time::Duration;

async fn test_connection(app: &TestApp, token: &str, org: &str) -> Value {
    let res = call(
        app,
        Method::POST,
        &format!("/v1/connections/{org}/test"),
        token,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

#[tokio::test]
async fn with_rotated_refresh_tokens_two_expiries_in_a_row_still_work() {
    let standin = SalesforceStandIn::start().await;
    standin.rotate_refresh_tokens(true);
    let app = app_for(&standin, 2_000, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    let upload_id = upload(&app, &owner, contacts(1..=3)).await;
    let job = insert_job(&app, &owner, &upload_id, &org).await;

    for round in 1..=2 {
        standin.expire_access_tokens();
        let done = run(&app, &owner, &job).await;
        assert_eq!(
            done["status"], "succeeded",
            "run after expiry {round}: {done}"
        );
    }
    for round in 1..=2 {
        standin.expire_access_tokens();
        let tested = test_connection(&app, &owner, &org).await;
        assert_eq!(tested["ok"], true, "test after expiry {round}: {tested}");
    }
    assert_eq!(standin.refresh_grants(), 4, "one renewal an expiry");
    assert_eq!(standin.refresh_tokens().len(), 1, "one live session");
}

#[tokio::test]
async fn a_connection_test_and_a_run_renewing_at_once_share_one_refresh() {
    let standin = SalesforceStandIn::start().await;
    standin.rotate_refresh_tokens(true);
    let app = app_for(&standin, 2_000, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    let upload_id = upload(&app, &owner, contacts(1..=3)).await;
    let job = insert_job(&app, &owner, &upload_id, &org).await;

    standin.expire_access_tokens();
    standin.delay_refreshes(Duration::from_millis(400));
    let before = standin.refresh_grants();
    let queue = async {
        let res = call(&app, Method::POST, &format!("/v1/jobs/{job}/runs"), &owner).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        let queued: Value = res.json().await.unwrap();
        wait_for_run(&app, &owner, queued["run_id"].as_str().unwrap()).await
    };
    let test = async {
        // The run renews as it starts; the test a moment later.
        tokio::time::sleep(Duration::from_millis(150)).await;
        test_connection(&app, &owner, &org).await
    };
    let (done, tested) = tokio::join!(queue, test);
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(tested["ok"], true, "{tested}");
    assert_eq!(standin.refresh_grants(), before + 1, "one refresh");
    assert_eq!(standin.records("Contact").len(), 3);
}

#[tokio::test]
async fn an_instance_url_changed_by_a_refresh_is_kept() {
    let standin = SalesforceStandIn::start().await;
    let app = app_for(&standin, 2_000, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    let upload_id = upload(&app, &owner, contacts(1..=3)).await;
    let job = insert_job(&app, &owner, &upload_id, &org).await;

    standin.expire_access_tokens();
    standin.move_instance(&standin.url.replace("127.0.0.1", "localhost"));
    let tested = test_connection(&app, &owner, &org).await;
    assert_eq!(tested["ok"], true, "{tested}");
    let renewals = standin.refresh_grants();
    assert_eq!(renewals, 1);
    // The new instance was kept: nothing needs renewing again.
    let tested = test_connection(&app, &owner, &org).await;
    assert_eq!(tested["ok"], true, "{tested}");
    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(standin.refresh_grants(), renewals);
    assert_eq!(standin.records("Contact").len(), 3);
}

#[tokio::test]
async fn a_connection_is_tested_with_a_data_call_and_a_missing_scope_is_not_an_expiry() {
    let standin = SalesforceStandIn::start().await;
    // A strict server: userinfo would need openid, which connecting does not ask for.
    standin.enforce_scopes(true);
    let app = app_for(&standin, 2_000, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    let tested = test_connection(&app, &owner, &org).await;
    assert_eq!(tested["ok"], true, "{tested}");
    standin.expire_access_tokens();
    let tested = test_connection(&app, &owner, &org).await;
    assert_eq!(tested["ok"], true, "renewed: {tested}");
    assert_eq!(standin.refresh_grants(), 1);

    // An org whose connected app does not grant API access.
    standin.select_app_scopes(&["refresh_token"]);
    let narrow = connect_org(&app, &owner, &standin).await;
    let tested = test_connection(&app, &owner, &narrow).await;
    assert_eq!(tested["ok"], false, "{tested}");
    assert_eq!(tested["reason"], "provider_refused");
    let message = tested["message"].as_str().unwrap();
    assert!(message.contains("api scope"), "{message}");
    assert_eq!(standin.refresh_grants(), 1, "no pointless refresh");
}

#[tokio::test]
async fn tokens_of_a_refused_connection_are_revoked_at_salesforce() {
    let standin = SalesforceStandIn::start().await;
    standin.enforce_scopes(true);
    // The connected app grants no refresh token: the connection would die
    // within hours, so it is refused.
    standin.select_app_scopes(&["api"]);
    let app = app_for(&standin, 2_000, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    standin.sign_in_as("admin@org.example", true);
    let callback =
        crate::salesforce_connect::consent(&app, &owner, "salesforce", "Production org").await;
    let res = crate::salesforce_login::no_redirects()
        .get(&callback)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(standin.revoked_tokens().len(), 1);
    assert!(
        standin.issued_tokens().is_empty(),
        "no session is left open"
    );
}
