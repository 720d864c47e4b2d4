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

#[tokio::test]
async fn no_log_level_shows_the_cells_of_an_import_or_a_rollback() {
    use crate::imports::{
        connect_target, contacts_mapping, create_job, create_keyed_job, run_to_end, target_db,
        upload,
    };
    use reqwest::StatusCode;
    use serde_json::Value;
    // What an operator who turns every log on gets.
    let logs = sluice_testkit::capture_logs("trace");
    let app = sluice_testkit::spawn_app().await;
    let (token, _) = account(&app, "ada.tracecheck@example.com").await;
    let target = target_db();
    let connection = connect_target(&app, &token, &target).await;

    let csv = "Email;First Name;Amount;Joined\n\
               cell-one@tracecheck.example;Zanzibarina;4.321,50;01.02.2025\n\
               cell-two@tracecheck.example;Quixotella;1,00;02.02.2025\n";
    let first = upload(&app, &token, csv.as_bytes().to_vec()).await;
    let res = create_job(&app, &token, &first, &connection, contacts_mapping()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let job = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = run_to_end(&app, &token, &job).await;
    assert_eq!(run["status"], "succeeded", "{run}");

    // An update whose rollback writes the before-images back.
    let changed = "Email;First Name;Amount;Joined\n\
                   cell-one@tracecheck.example;Marzipanova;9,99;03.02.2025\n";
    let second = upload(&app, &token, changed.as_bytes().to_vec()).await;
    let res = create_keyed_job(
        &app,
        &token,
        &second,
        &connection,
        "update",
        json!(["email"]),
        contacts_mapping(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let update = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = run_to_end(&app, &token, &update).await;
    assert_eq!(run["rows_ok"], 1, "{run}");
    let res = app
        .client
        .post(app.url(&format!(
            "/v1/runs/{}/rollback",
            run["id"].as_str().unwrap()
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let rollback = res.json::<Value>().await.unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = crate::imports::wait_for_run(&app, &token, &rollback).await;
    assert_eq!(done["status"], "rolled_back", "{done}");
    assert_eq!(done["rows_ok"], 1, "{done}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("TRACE") || text.contains("DEBUG"),
        "every level was on"
    );
    for cell in [
        "cell-one@tracecheck",
        "cell-two@tracecheck",
        "Zanzibarina",
        "Quixotella",
        "Marzipanova",
        "4321.50",
        "ada.tracecheck",
    ] {
        assert!(!text.contains(cell), "{cell} reached the log");
    }
}
