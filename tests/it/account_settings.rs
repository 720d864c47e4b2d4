//! Account settings: result retention chosen by Enterprise accounts (0 to
//! 30 days, or nothing kept), applied to the files already kept.

use crate::accounts::{account, call};
use crate::imports::{
    connect_target, contacts_csv, contacts_mapping, create_job, run_to_end, target_db, upload,
};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_schema::schema::result_keys;
use sluice_testkit::{eventually, spawn_app, TestApp};
use std::time::Duration;

async fn put_settings(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.client
        .put(app.url("/v1/account/settings"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn settings(app: &TestApp, token: &str) -> Value {
    let res = call(app, Method::GET, "/v1/account/settings", token).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn set_plan(app: &TestApp, account: &Value, plan: &str) -> reqwest::Response {
    app.ops(
        Method::POST,
        &format!(
            "/v1/ops/accounts/{}/plan",
            account["account_id"].as_str().unwrap()
        ),
    )
    .json(&json!({ "plan": plan }))
    .send()
    .await
    .unwrap()
}

/// An import of a few contacts (emails of their own for each `tag`): the
/// finished run.
async fn import(app: &TestApp, token: &str, connection: &str, tag: &str) -> Value {
    let csv = String::from_utf8(contacts_csv(5))
        .unwrap()
        .replace("@Example.com", &format!("@{tag}.example.com"));
    let upload_id = upload(app, token, csv.into_bytes()).await;
    let res = create_job(app, token, &upload_id, connection, contacts_mapping()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let job: Value = res.json().await.unwrap();
    let run = run_to_end(app, token, job["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    run
}

fn time(value: &Value) -> chrono::DateTime<chrono::Utc> {
    value.as_str().unwrap().parse().unwrap()
}

/// The run's files in the store.
fn files_of(app: &TestApp, run: &Value) -> Vec<String> {
    let prefix = format!("{}.", run["id"].as_str().unwrap());
    app.store
        .list("results")
        .unwrap()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| name.starts_with(&prefix))
        .collect()
}

#[tokio::test]
async fn only_enterprise_accounts_choose_their_retention() {
    let app = spawn_app().await;
    let (owner, created) = account(&app, "ada@example.com").await;
    let shown = settings(&app, &owner).await;
    assert_eq!(shown["plan"], "free");
    assert_eq!(shown["result_retention_days"], 14);
    assert_eq!(shown["can_change"], false);
    let res = put_settings(&app, &owner, json!({"result_retention_days": 3})).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Enterprise plan"),
        "{body}"
    );

    assert_eq!(
        set_plan(&app, &created, "platinum").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let forged = app
        .client
        .post(app.url(&format!(
            "/v1/ops/accounts/{}/plan",
            created["account_id"].as_str().unwrap()
        )))
        .bearer_auth(&owner)
        .json(&json!({"plan": "enterprise"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        forged.status(),
        StatusCode::UNAUTHORIZED,
        "a user is no operator"
    );
    assert_eq!(
        set_plan(&app, &created, "enterprise").await.status(),
        StatusCode::NO_CONTENT
    );
    for (body, field) in [
        (
            json!({"result_retention_days": 31}),
            "result_retention_days",
        ),
        (
            json!({"result_retention_days": -1}),
            "result_retention_days",
        ),
        (
            json!({"result_retention_days": 3, "store_results": false}),
            "result_retention_days",
        ),
    ] {
        let res = put_settings(&app, &owner, body.clone()).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let error: Value = res.json().await.unwrap();
        assert_eq!(error["error"]["field"], field, "{error}");
    }
    let res = put_settings(&app, &owner, json!({"result_retention_days": 0})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(settings(&app, &owner).await["result_retention_days"], 0);

    // Off Enterprise, the deployment's retention holds again.
    set_plan(&app, &created, "pro").await;
    let shown = settings(&app, &owner).await;
    assert_eq!(shown["result_retention_days"], 14);
    assert_eq!(shown["can_change"], false);
}

#[tokio::test]
async fn a_shorter_retention_applies_to_the_files_already_kept() {
    let app = spawn_app().await;
    let target = target_db();
    let (owner, created) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let earlier = import(&app, &owner, &connection, "earlier").await;
    let finished = time(&earlier["finished_at"]);
    assert!(time(&earlier["results_expire_at"]) > finished + chrono::Duration::days(13));

    set_plan(&app, &created, "enterprise").await;
    let res = put_settings(&app, &owner, json!({"result_retention_days": 2})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let run_path = format!("/v1/runs/{}", earlier["id"].as_str().unwrap());
    let shown: Value = call(&app, Method::GET, &run_path, &owner)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        time(&shown["results_expire_at"]),
        finished + chrono::Duration::days(2),
        "the earlier run's files now expire two days after it"
    );
    let later = import(&app, &owner, &connection, "later").await;
    let expires = time(&later["results_expire_at"]) - time(&later["finished_at"]);
    assert!((expires - chrono::Duration::days(2)).num_seconds().abs() < 5);

    // Three days on: refused at once, and the sweep leaves nothing behind.
    app.platform.clock.advance(chrono::Duration::days(3));
    let id = earlier["id"].as_str().unwrap();
    let res = call(
        &app,
        Method::GET,
        &format!("/v1/runs/{id}/success.csv"),
        &owner,
    )
    .await;
    assert_eq!(res.status(), StatusCode::GONE);
    let report = sluice_worker::retention::sweep_uploads(&app.platform, &app.store, "test")
        .await
        .unwrap();
    assert_eq!(report.runs.len(), 2);
    assert!(files_of(&app, &earlier).is_empty() && files_of(&app, &later).is_empty());
    let keys: i64 = result_keys::table
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(keys, 0, "no result key left");
}

#[tokio::test]
async fn an_account_that_stores_nothing_keeps_no_result_files_and_cannot_roll_back() {
    let app = spawn_app().await;
    let target = target_db();
    let (owner, created) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let earlier = import(&app, &owner, &connection, "earlier").await;
    set_plan(&app, &created, "enterprise").await;
    let res = put_settings(&app, &owner, json!({"store_results": false})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let shown: Value = res.json().await.unwrap();
    assert_eq!(shown["rollback"], false);
    // The files already kept expire now.
    let id = earlier["id"].as_str().unwrap();
    let res = call(
        &app,
        Method::GET,
        &format!("/v1/runs/{id}/errors.csv"),
        &owner,
    )
    .await;
    assert_eq!(res.status(), StatusCode::GONE);

    let run = import(&app, &owner, &connection, "later").await;
    eventually(
        Duration::from_secs(10),
        "the run's files destroyed",
        || async { files_of(&app, &run).is_empty().then_some(()) },
    )
    .await;
    let id = run["id"].as_str().unwrap();
    let download = format!("/v1/runs/{id}/success.csv");
    refused(
        &app,
        &owner,
        Method::GET,
        &download,
        StatusCode::GONE,
        "keeps no result files",
    )
    .await;
    let rollback = format!("/v1/runs/{id}/rollback");
    refused(
        &app,
        &owner,
        Method::POST,
        &rollback,
        StatusCode::CONFLICT,
        "cannot be rolled back",
    )
    .await;
}

/// Asks for `path` and expects `status`, with a message that `says` so.
async fn refused(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    status: StatusCode,
    says: &str,
) {
    let res = call(app, method, path, token).await;
    assert_eq!(res.status(), status, "{path}");
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains(says),
        "{path}: {body}"
    );
}
