//! Connect a Salesforce org, against the stand-in, and Disconnect it.

use crate::accounts::{account, call, member};
use crate::salesforce_login::no_redirects;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sluice_testkit::salesforce::SalesforceStandIn;
use sluice_testkit::{spawn_app_with, AppOptions, TestApp};

/// Starts connecting `provider` with the caller's token and consents at
/// the stand-in: the callback URL the browser is sent back to.
pub async fn consent(app: &TestApp, token: &str, provider: &str, name: &str) -> String {
    let res = app
        .client
        .get(app.url(&format!("/v1/connections/{provider}/start")))
        .query(&[("name", name)])
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let url = res.json::<Value>().await.unwrap()["authorize_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = no_redirects().get(&url).send().await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::FOUND,
        "{}",
        res.text().await.unwrap()
    );
    res.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_org_connects_refreshes_and_disconnect_revokes_it() {
    let standin = SalesforceStandIn::start().await;
    let app = spawn_app_with(AppOptions {
        salesforce: Some(standin.config()),
        ..AppOptions::default()
    })
    .await;
    let (owner, _) = account(&app, "ada@example.com").await;
    standin.sign_in_as("admin@org.example", true);
    let callback = consent(&app, &owner, "salesforce", "Production org").await;
    assert!(
        callback.contains("/v1/connections/salesforce/callback"),
        "{callback}"
    );

    let res = no_redirects().get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["kind"], "salesforce");
    assert_eq!(created["params"]["instance_url"], standin.url.as_str());
    let id = created["id"].as_str().unwrap().to_owned();
    // The same callback again is refused: the state was used.
    assert_eq!(
        no_redirects().get(&callback).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );

    let issued = standin.issued_tokens();
    let listed = call(&app, Method::GET, "/v1/connections", &owner)
        .await
        .text()
        .await
        .unwrap();
    assert!(listed.contains("Production org"));
    for token in &issued {
        assert!(!listed.contains(token.as_str()), "a token is listed");
    }
    let test = format!("/v1/connections/{id}/test");
    let tested: Value = call(&app, Method::POST, &test, &owner)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tested["ok"], true, "{tested}");

    standin.expire_access_tokens();
    let tested: Value = call(&app, Method::POST, &test, &owner)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tested["ok"], true, "refreshed: {tested}");

    let dump = std::process::Command::new("pg_dump")
        .args(["--data-only", "--dbname", &app.db.url])
        .output()
        .unwrap();
    let dump = String::from_utf8(dump.stdout).unwrap();
    for token in standin.issued_tokens() {
        assert!(
            !dump.contains(&token),
            "a Salesforce token is stored in clear"
        );
    }

    let path = format!("/v1/connections/{id}");
    assert_eq!(
        call(&app, Method::DELETE, &path, &owner).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(
        standin.issued_tokens().is_empty(),
        "the org's session was revoked at Salesforce"
    );
    let mut conn = app.conn();
    use diesel::prelude::*;
    let payload: serde_json::Value = sluice_schema::schema::events::table
        .filter(sluice_schema::schema::events::event_type.eq("connection.disconnected"))
        .select(sluice_schema::schema::events::payload)
        .first(&mut conn)
        .unwrap();
    assert_eq!(payload["revoked_at_provider"], true);
}

#[tokio::test]
async fn only_owners_and_admins_connect_and_a_login_state_cannot_connect() {
    let standin = SalesforceStandIn::start().await;
    let app = spawn_app_with(AppOptions {
        salesforce: Some(standin.config()),
        ..AppOptions::default()
    })
    .await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let member = &member(&app, &owner, "member@example.com").await;
    let res = app
        .client
        .get(app.url("/v1/connections/salesforce/start?name=mine"))
        .bearer_auth(member)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // A log-in flow's callback, replayed against the connect callback.
    standin.sign_in_as("ada@example.com", true);
    let start = no_redirects()
        .get(app.url("/v1/auth/salesforce/start"))
        .send()
        .await
        .unwrap();
    let to_provider = start.headers()["location"].to_str().unwrap().to_owned();
    let back = no_redirects().get(&to_provider).send().await.unwrap();
    let login_callback = back.headers()["location"].to_str().unwrap().to_owned();
    let query = login_callback.split_once('?').unwrap().1;
    let crossed = app.url(&format!("/v1/connections/salesforce/callback?{query}"));
    assert_eq!(
        no_redirects().get(&crossed).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    let listed: Value = call(&app, Method::GET, "/v1/connections", &owner)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["connections"], serde_json::json!([]));
}

#[tokio::test]
async fn an_org_answered_without_an_instance_url_is_refused_and_its_tokens_revoked() {
    let standin = SalesforceStandIn::start().await;
    let app = spawn_app_with(AppOptions {
        salesforce: Some(standin.config()),
        ..AppOptions::default()
    })
    .await;
    let (owner, _) = account(&app, "ada@example.com").await;
    standin.sign_in_as("admin@org.example", true);
    standin.omit_instance_url(true);
    let callback = consent(&app, &owner, "salesforce", "Production org").await;

    let res = no_redirects().get(&callback).send().await.unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "provider_refused");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no instance URL"),
        "{body}"
    );
    assert!(
        standin.issued_tokens().is_empty(),
        "the tokens of the refused connection were revoked"
    );
    assert_eq!(standin.revoked_tokens().len(), 1);
    let res = call(&app, Method::GET, "/v1/connections", &owner).await;
    let listed: Value = res.json().await.unwrap();
    assert_eq!(listed["connections"], serde_json::json!([]), "{listed}");
}
