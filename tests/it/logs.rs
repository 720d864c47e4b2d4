//! Log lines never carry passwords, tokens or personal data.

use crate::accounts::{account, call, login, PASSWORD};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn no_password_token_or_personal_data_in_the_logs() {
    let logs =
        sluice_testkit::capture_logs("trace,lapin=info,amq_protocol=info,h2=info,hyper=info");
    let app = sluice_testkit::spawn_app().await;
    let (token, _) = account(&app, "ada.logcheck@example.com").await;
    login(&app, "ada.logcheck@example.com", "not the password at all").await;
    call(&app, Method::GET, "/v1/me", &token).await;
    let res = app
        .client
        .post(app.url("/v1/api-tokens"))
        .bearer_auth(&token)
        .json(&json!({ "name": "ci" }))
        .send()
        .await
        .unwrap();
    let api_token = res.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    call(&app, Method::POST, "/v1/logout", &token).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("/v1/login"),
        "logs were captured: {}",
        &text[..text.len().min(500)]
    );
    for secret in [
        PASSWORD,
        "not the password at all",
        &token,
        &token[20..],
        &api_token[20..],
        "ada.logcheck",
        "Lovelace",
        "Analytical Engines",
        "$argon2id",
    ] {
        assert!(!text.contains(secret), "{secret:?} reached the logs");
    }
}
