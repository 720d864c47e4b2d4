//! Log in with Salesforce, against a local server speaking Salesforce's OAuth 2.0.

use crate::accounts::{account, call};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sluice_testkit::salesforce::SalesforceStandIn;
use sluice_testkit::{spawn_app_with, AppOptions, TestApp};

async fn app_with_salesforce() -> (TestApp, SalesforceStandIn) {
    let standin = SalesforceStandIn::start().await;
    let app = spawn_app_with(AppOptions {
        salesforce: Some(standin.config()),
        ..AppOptions::default()
    })
    .await;
    (app, standin)
}

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(res: &reqwest::Response) -> String {
    assert_eq!(res.status(), StatusCode::FOUND, "{res:?}");
    res.headers()["location"].to_str().unwrap().to_owned()
}

fn param(url: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Start at Sluice, consent at the provider: the callback URL it sends back.
async fn authorize(app: &TestApp) -> (String, String) {
    let http = no_redirects();
    let start = http
        .get(app.url("/v1/auth/salesforce/start"))
        .send()
        .await
        .unwrap();
    let to_provider = location(&start);
    assert_eq!(
        param(&to_provider, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert!(param(&to_provider, "state").is_some());
    let back = location(&http.get(&to_provider).send().await.unwrap());
    (to_provider, back)
}

async fn finish(callback: &str) -> reqwest::Response {
    no_redirects().get(callback).send().await.unwrap()
}

async fn error_code(res: reqwest::Response) -> (StatusCode, String) {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test]
async fn a_salesforce_user_logs_in_once_per_state() {
    let (app, standin) = app_with_salesforce().await;
    account(&app, "ada@example.com").await;
    standin.sign_in_as("Ada@Example.com", true);
    let (_, callback) = authorize(&app).await;
    assert!(
        callback.starts_with(&app.address),
        "exact redirect URI: {callback}"
    );

    let res = finish(&callback).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    let me: Value = call(&app, Method::GET, "/v1/me", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], "ada@example.com");

    // The same callback again: the state was used up.
    assert_eq!(
        error_code(finish(&callback).await).await,
        (StatusCode::BAD_REQUEST, "bad_request".into())
    );

    // Salesforce's tokens are stored, but never in clear.
    let dump = std::process::Command::new("pg_dump")
        .args(["--data-only", "--dbname", &app.db.url])
        .output()
        .unwrap();
    let dump = String::from_utf8(dump.stdout).unwrap();
    assert!(dump.contains("oauth_tokens"));
    let issued = standin.issued_tokens();
    assert_eq!(issued.len(), 2, "one access and one refresh token");
    for secret in issued {
        assert!(
            !dump.contains(&secret),
            "a Salesforce token is stored in clear"
        );
    }
}

#[tokio::test]
async fn a_forged_state_is_refused() {
    let (app, standin) = app_with_salesforce().await;
    account(&app, "ada@example.com").await;
    standin.sign_in_as("ada@example.com", true);
    let (_, callback) = authorize(&app).await;
    let state = param(&callback, "state").unwrap();
    let forged = callback.replace(&state, "forged-state-value");
    assert_eq!(
        error_code(finish(&forged).await).await,
        (StatusCode::BAD_REQUEST, "bad_request".into())
    );
    let without = callback.replace(&format!("state={state}"), "x=1");
    assert_eq!(finish(&without).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_wrong_pkce_verifier_fails_cleanly() {
    let (app, standin) = app_with_salesforce().await;
    account(&app, "ada@example.com").await;
    standin.sign_in_as("ada@example.com", true);
    let (_, callback) = authorize(&app).await;
    // Swap the stored verifier for another, sealed as Sluice would seal it.
    let state = param(&callback, "state").unwrap();
    let state_hash = sluice_api::auth::token::sha256(&state);
    let aad = sluice_vault::Aad::new("-", "oauth_states", hex::encode(&state_hash), "verifier");
    let wrong = app.keyring.get().seal(
        b"a-different-verifier-of-sufficient-length-0123456789",
        &aad,
    );
    {
        use diesel::prelude::*;
        use sluice_schema::schema::oauth_states;
        diesel::update(oauth_states::table.find(&state_hash))
            .set(oauth_states::verifier.eq(&wrong.0))
            .execute(&mut app.conn())
            .unwrap();
    }
    let (status, code) = error_code(finish(&callback).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "provider_refused")
    );
    assert_eq!(
        crate::support::count_events_of_type(&mut app.conn(), "token.issued.v2"),
        1,
        "only the password log-in"
    );
}

#[tokio::test]
async fn a_denied_consent_fails_cleanly() {
    let (app, standin) = app_with_salesforce().await;
    standin.deny_consent(true);
    let (_, callback) = authorize(&app).await;
    assert_eq!(param(&callback, "error").as_deref(), Some("access_denied"));
    let res = finish(&callback).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "the Salesforce authorization was cancelled"
    );
}

#[tokio::test]
async fn only_a_verified_email_of_a_sluice_user_logs_in() {
    let (app, standin) = app_with_salesforce().await;
    account(&app, "ada@example.com").await;
    standin.sign_in_as("stranger@example.com", true);
    let (_, callback) = authorize(&app).await;
    assert_eq!(
        error_code(finish(&callback).await).await,
        (StatusCode::UNAUTHORIZED, "provider_refused".into())
    );

    standin.sign_in_as("ada@example.com", false);
    let (_, callback) = authorize(&app).await;
    assert_eq!(
        error_code(finish(&callback).await).await,
        (StatusCode::UNAUTHORIZED, "provider_refused".into())
    );
}

#[tokio::test]
async fn without_a_connected_app_salesforce_login_does_not_exist() {
    let app = sluice_testkit::spawn_app().await;
    let res = no_redirects()
        .get(app.url("/v1/auth/salesforce/start"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_expired_salesforce_session_is_refreshed_once() {
    let (app, standin) = app_with_salesforce().await;
    account(&app, "ada@example.com").await;
    standin.sign_in_as("ada@example.com", true);
    let (_, callback) = authorize(&app).await;
    let body: Value = finish(&callback).await.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();

    let identity = |token: String| {
        let app = &app;
        async move { call(app, Method::GET, "/v1/auth/salesforce/identity", &token).await }
    };
    let res = identity(token.clone()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let info: Value = res.json().await.unwrap();
    assert_eq!(info["email"], "ada@example.com");
    assert_eq!(info["organization_id"], "00Dstandin");

    standin.expire_access_tokens();
    let before = standin.issued_tokens().len();
    let res = identity(token.clone()).await;
    assert_eq!(res.status(), StatusCode::OK, "refreshed and retried");
    assert_eq!(
        standin.issued_tokens().len(),
        before + 1,
        "one new access token"
    );
    // The refreshed token was stored: the next call needs no refresh.
    let res = identity(token).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(standin.issued_tokens().len(), before + 1);
}

#[tokio::test]
async fn a_rotated_login_refresh_token_is_kept_through_two_expiries() {
    let (app, standin) = app_with_salesforce().await;
    standin.rotate_refresh_tokens(true);
    account(&app, "ada@example.com").await;
    standin.sign_in_as("ada@example.com", true);
    let (_, callback) = authorize(&app).await;
    let body: Value = finish(&callback).await.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    for round in 1..=2 {
        standin.expire_access_tokens();
        let res = call(&app, Method::GET, "/v1/auth/salesforce/identity", &token).await;
        assert_eq!(res.status(), StatusCode::OK, "after expiry {round}");
    }
    assert_eq!(standin.refresh_grants(), 2);
}

#[tokio::test]
async fn tokens_of_a_refused_log_in_are_revoked_at_salesforce() {
    let (app, standin) = app_with_salesforce().await;
    account(&app, "ada@example.com").await;
    for (email, verified) in [("ada@example.com", false), ("stranger@example.com", true)] {
        standin.sign_in_as(email, verified);
        let (_, callback) = authorize(&app).await;
        assert_eq!(
            error_code(finish(&callback).await).await,
            (StatusCode::UNAUTHORIZED, "provider_refused".into())
        );
    }
    assert_eq!(standin.revoked_tokens().len(), 2);
    assert!(
        standin.issued_tokens().is_empty(),
        "no session is left open"
    );
}
