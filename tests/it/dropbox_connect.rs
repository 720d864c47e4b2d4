//! Connect a Dropbox account, against the stand-in, and Disconnect it.

use crate::accounts::{account, call};
use crate::salesforce_login::no_redirects;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sluice_schema::schema::events;
use sluice_testkit::dropbox::DropboxStandIn;
use sluice_testkit::{spawn_app_with, AppOptions, TestApp};

pub(crate) async fn app_with(standin: &DropboxStandIn) -> TestApp {
    spawn_app_with(AppOptions {
        dropbox: Some(standin.config()),
        ..AppOptions::default()
    })
    .await
}

async fn consent(app: &TestApp, token: &str, name: &str) -> String {
    crate::salesforce_connect::consent(app, token, "dropbox", name).await
}

pub(crate) async fn connect(app: &TestApp, token: &str) -> String {
    let callback = consent(app, token, "Finance Dropbox").await;
    let res = no_redirects().get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["kind"], "dropbox");
    created["id"].as_str().unwrap().to_owned()
}

async fn test_connection(app: &TestApp, id: &str, token: &str) -> Value {
    let path = format!("/v1/connections/{id}/test");
    call(app, Method::POST, &path, token)
        .await
        .json()
        .await
        .unwrap()
}

fn disconnection_payload(app: &TestApp) -> Value {
    events::table
        .filter(events::event_type.eq("connection.disconnected"))
        .select(events::payload)
        .first(&mut app.conn())
        .unwrap()
}

#[tokio::test]
async fn an_account_connects_refreshes_and_disconnect_revokes_it() {
    let standin = DropboxStandIn::start().await;
    let app = app_with(&standin).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let callback = consent(&app, &owner, "Finance Dropbox").await;
    assert!(callback.contains("/v1/connections/dropbox/callback"));
    assert!(
        standin.calls().is_empty(),
        "nothing reached Dropbox's API before the callback"
    );
    let res = no_redirects().get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["kind"], "dropbox");
    assert!(created["params"]["account_id"]
        .as_str()
        .unwrap()
        .starts_with("dbid:"));
    let id = created["id"].as_str().unwrap().to_owned();
    // The same callback again is refused: the state was used.
    assert_eq!(
        no_redirects().get(&callback).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );

    let listed = call(&app, Method::GET, "/v1/connections", &owner)
        .await
        .text()
        .await
        .unwrap();
    assert!(listed.contains("Finance Dropbox"));
    for token in standin.issued_tokens() {
        assert!(!listed.contains(&token), "a token is listed");
    }
    assert_eq!(test_connection(&app, &id, &owner).await["ok"], true);

    // Four hours later the access token has expired: test renews it once.
    standin.expire_access_tokens();
    let tested = test_connection(&app, &id, &owner).await;
    assert_eq!(tested["ok"], true, "{tested}");
    let refreshes = standin
        .calls()
        .iter()
        .filter(|c| c.as_str() == "/oauth2/token refresh_token")
        .count();
    assert_eq!(refreshes, 1);
    // The renewed token was kept: the next test needs no refresh.
    assert_eq!(test_connection(&app, &id, &owner).await["ok"], true);
    assert_eq!(
        standin
            .calls()
            .iter()
            .filter(|c| c.as_str() == "/oauth2/token refresh_token")
            .count(),
        1
    );

    // Rate limited: the reason says so and when to try again.
    standin.rate_limit(Some(300));
    let tested = test_connection(&app, &id, &owner).await;
    assert_eq!(tested["ok"], false);
    assert_eq!(tested["reason"], "provider_refused", "{tested}");
    assert!(
        tested["message"].as_str().unwrap().contains("300"),
        "{tested}"
    );
    standin.rate_limit(None);

    let dump = std::process::Command::new("pg_dump")
        .args(["--data-only", "--dbname", &app.db.url])
        .output()
        .unwrap();
    let dump = String::from_utf8(dump.stdout).unwrap();
    for token in standin.issued_tokens() {
        assert!(!dump.contains(&token), "a Dropbox token is stored in clear");
    }

    let path = format!("/v1/connections/{id}");
    assert_eq!(
        call(&app, Method::DELETE, &path, &owner).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(
        standin.live_tokens().is_empty(),
        "the tokens were revoked at Dropbox"
    );
    assert_eq!(disconnection_payload(&app)["revoked_at_provider"], true);
    assert_eq!(
        call(&app, Method::GET, &path, &owner).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn disconnect_renews_an_expired_token_to_revoke_it() {
    let standin = DropboxStandIn::start().await;
    let app = app_with(&standin).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let id = connect(&app, &owner).await;
    standin.expire_access_tokens();
    let path = format!("/v1/connections/{id}");
    assert_eq!(
        call(&app, Method::DELETE, &path, &owner).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(
        standin.live_tokens().is_empty(),
        "the refresh token is revoked"
    );
    assert_eq!(disconnection_payload(&app)["revoked_at_provider"], true);
}

#[tokio::test]
async fn an_unreachable_dropbox_still_disconnects_and_says_so() {
    let standin = DropboxStandIn::start().await;
    let app = app_with(&standin).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let id = connect(&app, &owner).await;
    standin.rate_limit(Some(60));
    let path = format!("/v1/connections/{id}");
    assert_eq!(
        call(&app, Method::DELETE, &path, &owner).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(disconnection_payload(&app)["revoked_at_provider"], false);
    // The secret is destroyed all the same.
    use sluice_schema::schema::connection_secrets;
    let left: i64 = connection_secrets::table
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_cancelled_consent_creates_nothing_and_unconfigured_dropbox_is_absent() {
    let standin = DropboxStandIn::start().await;
    let app = app_with(&standin).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    standin.deny_consent(true);
    let callback = consent(&app, &owner, "Finance Dropbox").await;
    let res = no_redirects().get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "the Dropbox authorization was cancelled"
    );
    let listed: Value = call(&app, Method::GET, "/v1/connections", &owner)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["connections"], serde_json::json!([]));

    let bare = spawn_app_with(AppOptions::default()).await;
    let (owner, _) = account(&bare, "bob@example.com").await;
    let res = bare
        .client
        .get(bare.url("/v1/connections/dropbox/start?name=x"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
