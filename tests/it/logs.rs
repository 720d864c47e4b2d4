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
    let res = crate::uploads::upload_multipart(
        &app,
        &token,
        "salaries-of-ada.csv",
        crate::uploads::marked_csv(),
    )
    .await;
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    let refused = crate::uploads::upload_raw(
        &app,
        &token,
        "refused-salaries.xlsx",
        crate::uploads::marked_csv(),
    )
    .await;
    assert_eq!(
        refused.status(),
        reqwest::StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
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
        crate::uploads::MARKER,
        "person1@example.com",
        "salaries",
        "First Name",
    ] {
        assert!(!text.contains(secret), "{secret:?} reached the logs");
    }
}
