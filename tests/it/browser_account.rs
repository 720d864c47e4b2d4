//! The account's pages in a real browser: people (add, change a role,
//! remove; a member sees the list only), API tokens (shown once, working,
//! revoked), instances tested from their row, and a run's failed rows in
//! plain words with the actions that follow them (retry, the rest of a
//! trial).

use crate::accounts::{account, call, member, PASSWORD};
use crate::imports::{connect_target, create_job, target_db, upload, wait_for_run};
use crate::object_store_hosts::emails;
use crate::web::*;
use diesel::prelude::*;
use fantoccini::{Client, Locator};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_testkit::{eventually, spawn_app, TestApp};
use std::time::Duration;

/// Accepts the page's confirmation dialog.
async fn confirm(b: &Client) {
    eventually(Duration::from_secs(10), "the confirmation", || async {
        b.accept_alert().await.ok()
    })
    .await;
}

/// What the new token's read-only field holds.
async fn token_field(b: &Client) -> String {
    let field = b.find(Locator::Id("token-value")).await.unwrap();
    field.prop("value").await.unwrap().unwrap_or_default()
}

async fn users(app: &TestApp, owner: &str) -> Vec<Value> {
    let listed: Value = call(app, Method::GET, "/v1/users", owner)
        .await
        .json()
        .await
        .unwrap();
    listed["users"].as_array().unwrap().clone()
}

#[tokio::test]
async fn people_are_added_given_a_role_and_removed_and_a_member_sees_the_list_only() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let browser = browser().await;
    let b = &browser.client;
    sign_in(b, &app, "ada@example.com").await;

    b.goto(&site(&app, "/app/people")).await.unwrap();
    fill(b, "invite-first-name", "Grace").await;
    fill(b, "invite-last-name", "Hopper").await;
    fill(b, "invite-email", "grace@example.com").await;
    fill(b, "invite-password", "Temporary-Password-2026").await;
    submit(b, "#invite").await;
    eventually(Duration::from_secs(30), "Grace on the list", || async {
        let rows = b.find_all(Locator::Css("#people tbody tr")).await.ok()?;
        (rows.len() == 2).then_some(())
    })
    .await;
    assert!(text_at(b, "#people").await.contains("grace@example.com"));
    look(b, "people").await;
    let grace = users(&app, &owner)
        .await
        .into_iter()
        .find(|u| u["email"] == "grace@example.com")
        .unwrap();
    assert_eq!(grace["role"], "member");
    // The first password works, as the page says to pass it on.
    let res = crate::accounts::login(&app, "grace@example.com", "Temporary-Password-2026").await;
    assert_eq!(res.status(), StatusCode::OK);

    // The owner makes her an admin.
    click(b, "form.role-change select option[value=admin]").await;
    submit(b, "form.role-change").await;
    eventually(Duration::from_secs(30), "Grace an admin", || async {
        let users = users(&app, &owner).await;
        users
            .iter()
            .any(|u| u["email"] == "grace@example.com" && u["role"] == "admin")
            .then_some(())
    })
    .await;

    // An email already in use is refused in the form's alert.
    b.goto(&site(&app, "/app/people")).await.unwrap();
    fill(b, "invite-first-name", "Ada").await;
    fill(b, "invite-last-name", "Again").await;
    fill(b, "invite-email", "grace@example.com").await;
    fill(b, "invite-password", "Temporary-Password-2026").await;
    submit(b, "#invite").await;
    wait_for(b, "#invite .error:not([hidden])").await;

    // Removed, after a confirmation.
    click(
        b,
        &format!("[data-remove-user=\"{}\"]", grace["id"].as_str().unwrap()),
    )
    .await;
    confirm(b).await;
    eventually(Duration::from_secs(30), "Grace removed", || async {
        (users(&app, &owner).await.len() == 1).then_some(())
    })
    .await;

    // A member sees the people, and no control a member may not use.
    member(&app, &owner, "alan@example.com").await;
    b.delete_all_cookies().await.unwrap();
    b.goto(&site(&app, "/login")).await.unwrap();
    fill(b, "email", "alan@example.com").await;
    fill(b, "password", PASSWORD).await;
    submit(b, "form").await;
    wait_path(b, "/app/").await;
    b.goto(&site(&app, "/app/people")).await.unwrap();
    assert!(text_at(b, "#people").await.contains("ada@example.com"));
    for absent in ["#invite", "form.role-change", "[data-remove-user]"] {
        assert!(b.find(Locator::Css(absent)).await.is_err(), "{absent}");
    }
    b.clone().close().await.unwrap();
}

#[tokio::test]
async fn an_api_token_is_shown_once_works_and_stops_working_once_revoked() {
    let app = spawn_app().await;
    account(&app, "ada@example.com").await;
    let browser = browser().await;
    let b = &browser.client;
    sign_in(b, &app, "ada@example.com").await;

    b.goto(&site(&app, "/app/tokens")).await.unwrap();
    fill(b, "token-name", "nightly export").await;
    submit(b, "#new-token").await;
    wait_for(b, "#token-created:not([hidden])").await;
    let token = token_field(b).await;
    assert!(token.len() > 20, "the token is shown");
    assert!(text_at(b, "#token-created")
        .await
        .contains("will not be shown again"));
    look(b, "token-created").await;
    let me = |token: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/v1/me"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(me(token.clone()).await, StatusCode::OK);

    // After a reload the token is listed by its name, its value nowhere.
    b.refresh().await.unwrap();
    assert!(text_at(b, "#tokens").await.contains("nightly export"));
    assert!(!b.source().await.unwrap().contains(&token));
    assert_eq!(token_field(b).await, "");
    look(b, "tokens").await;

    click(b, "[data-revoke-token]").await;
    confirm(b).await;
    wait_for(b, "#no-tokens").await;
    assert_eq!(me(token).await, StatusCode::UNAUTHORIZED);
    b.clone().close().await.unwrap();
}

#[tokio::test]
async fn an_instance_is_tested_from_its_row_and_a_refused_one_names_its_field() {
    let app = spawn_app().await;
    let target = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let reached = connect_target(&app, &owner, &target).await;
    // A server with passwords, whose password changes after it is added.
    let server = sluice_testkit::TlsPostgres::start(&["localhost"]);
    let mut params = server.params("localhost");
    params["sslmode"] = json!("verify-full");
    params["ca_cert"] = json!(server.ca_pem);
    let res = crate::connections::create(&app, &owner, "remote", params.clone()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let remote = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = format!(
        "postgres://{}:{}@localhost:{}/postgres?sslmode=require",
        sluice_testkit::TLS_PG_USER,
        sluice_testkit::TLS_PG_PASSWORD,
        server.port
    );
    diesel::sql_query("ALTER ROLE CURRENT_USER PASSWORD 'changed-since-2026'")
        .execute(&mut PgConnection::establish(&admin).unwrap())
        .unwrap();

    let browser = browser().await;
    let b = &browser.client;
    sign_in(b, &app, "ada@example.com").await;
    b.goto(&site(&app, "/app/connections")).await.unwrap();
    click(b, &format!("[data-test-connection=\"{reached}\"]")).await;
    wait_text(b, &format!("test-{reached}"), "Reached").await;
    click(b, &format!("[data-test-connection=\"{remote}\"]")).await;
    let said = eventually(Duration::from_secs(30), "the failed test", || async {
        let said = text_of(b, &format!("test-{remote}")).await;
        said.starts_with("Not reachable: ").then_some(said)
    })
    .await;
    assert!(!said.contains("changed-since-2026"), "{said}");
    look(b, "connections-tested").await;
    // The page says so after a reload too.
    b.refresh().await.unwrap();
    assert!(text_of(b, &format!("test-{remote}"))
        .await
        .starts_with("Not reachable: "));

    // A database that refuses the password is not saved: the form says
    // why, on the password.
    fill(b, "pg-name", "wrong").await;
    fill(b, "pg-host", "localhost").await;
    fill(b, "pg-port", &server.port.to_string()).await;
    fill(b, "pg-dbname", "postgres").await;
    fill(b, "pg-user", sluice_testkit::TLS_PG_USER).await;
    fill(b, "pg-password", "not-the-password").await;
    click(b, "#pg-sslmode option[value=require]").await;
    submit(b, "#connect-postgres").await;
    let alert = text_at(b, "#connect-postgres .error:not([hidden])").await;
    assert!(alert.starts_with("Password: "), "{alert}");
    let focused = b.active_element().await.unwrap().attr("id").await.unwrap();
    assert_eq!(focused.as_deref(), Some("pg-password"));
    b.clone().close().await.unwrap();
}

/// A job inserting `csv` into `contacts` of a fresh target: (app, owner,
/// target, job).
async fn contacts_job(
    csv: &str,
    mapping: Value,
) -> (TestApp, String, sluice_testkit::TestDb, String) {
    let app = spawn_app().await;
    let target = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let upload = upload(&app, &owner, csv.as_bytes().to_vec()).await;
    let res = create_job(&app, &owner, &upload, &connection, mapping).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let job = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (app, owner, target, job)
}

async fn start(app: &TestApp, owner: &str, job: &str, body: Value) -> Value {
    let res = app
        .client
        .post(app.url(&format!("/v1/jobs/{job}/runs")))
        .bearer_auth(owner)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let queued: Value = res.json().await.unwrap();
    wait_for_run(app, owner, queued["run_id"].as_str().unwrap()).await
}

#[tokio::test]
async fn failed_rows_are_said_in_plain_words_and_retried_once_the_table_is_fixed() {
    let csv = "Email,Name,Joined\n\
               ok@example.com,Ok,2026-01-02\n\
               taken@example.com,Taken,2026-01-03\n\
               ,Nobody,2026-01-04\n\
               late@example.com,Late,yesterday\n";
    let mapping = json!([
        {"source": "Email", "target": "email"},
        {"source": "Name", "target": "first_name"},
        {"source": "Joined", "target": "joined"},
    ]);
    let (app, owner, target, job) = contacts_job(csv, mapping).await;
    diesel::sql_query("INSERT INTO contacts (email, first_name) VALUES ('taken@example.com', 'x')")
        .execute(&mut target.connect())
        .unwrap();
    let run = start(&app, &owner, &job, json!({})).await;
    assert_eq!(run["rows_failed"], 3, "{run}");
    let id = run["id"].as_str().unwrap();

    // The API says the same reasons, row by row.
    let failures: Value = call(
        &app,
        Method::GET,
        &format!("/v1/runs/{id}/failures"),
        &owner,
    )
    .await
    .json()
    .await
    .unwrap();
    let said: Vec<(u64, String)> = failures["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["row"].as_u64().unwrap(),
                f["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        said,
        vec![
            (2, "Email already exists in contacts".to_owned()),
            (3, "Email is required".to_owned()),
            (4, "Joined is not a date".to_owned()),
        ],
        "{failures}"
    );
    assert_eq!(failures["failures"][0]["column"], "Email");
    let res = call(
        &app,
        Method::GET,
        &format!("/v1/runs/{id}/failures?limit=0"),
        &owner,
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let browser = browser().await;
    let b = &browser.client;
    sign_in(b, &app, "ada@example.com").await;
    b.goto(&site(&app, &format!("/app/runs/{id}")))
        .await
        .unwrap();
    let table = text_at(b, "#failed-rows").await;
    for reason in [
        "Email already exists in contacts",
        "Email is required",
        "Joined is not a date",
    ] {
        assert!(table.contains(reason), "{reason}: {table}");
    }
    for value in ["taken@example.com", "yesterday", "Nobody"] {
        assert!(!table.contains(value), "{value}: {table}");
    }
    assert!(b
        .find(Locator::Css("a[href$=\"/errors.csv\"]"))
        .await
        .is_ok());
    assert!(
        b.find(Locator::Id("run-rest")).await.is_err(),
        "not a trial"
    );
    look(b, "run-failed-rows").await;

    // Fixed in the table: the retry writes the duplicate; the others fail again.
    diesel::sql_query("DELETE FROM contacts WHERE email = 'taken@example.com'")
        .execute(&mut target.connect())
        .unwrap();
    submit(b, "#retry-failed").await;
    let retry_page = eventually(Duration::from_secs(30), "the retry's page", || async {
        let url = b.current_url().await.ok()?;
        (!url.path().ends_with(id)).then(|| url.path().to_owned())
    })
    .await;
    wait_text(b, "status", "Completed with 2 errors").await;
    assert_eq!(
        emails(&target),
        ["ok@example.com", "taken@example.com"]
            .map(String::from)
            .into()
    );
    assert!(text_at(b, "#failed-rows")
        .await
        .contains("Email is required"));

    // Once the result files expired, neither the rows nor a retry are offered.
    app.platform.clock.advance(chrono::Duration::days(15));
    let res = call(
        &app,
        Method::GET,
        &format!("/v1/runs/{id}/failures"),
        &owner,
    )
    .await;
    assert_eq!(res.status(), StatusCode::GONE);
    b.goto(&site(&app, &retry_page)).await.unwrap();
    wait_for(b, "#status").await;
    for absent in ["failed-rows", "retry-failed"] {
        assert!(b.find(Locator::Id(absent)).await.is_err(), "{absent}");
    }
    b.clone().close().await.unwrap();
}

#[tokio::test]
async fn a_trial_of_two_rows_then_the_remaining_rows_from_the_run_page() {
    let csv = "Email,Name\na@example.com,A\nb@example.com,B\nc@example.com,C\nd@example.com,D\ne@example.com,E\n";
    let mapping = json!([
        {"source": "Email", "target": "email"},
        {"source": "Name", "target": "first_name"},
    ]);
    let (app, owner, target, job) = contacts_job(csv, mapping).await;
    let trial = start(
        &app,
        &owner,
        &job,
        json!({"sample": 2, "sample_order": "first"}),
    )
    .await;
    assert_eq!(trial["rows_ok"], 2, "{trial}");
    let id = trial["id"].as_str().unwrap();

    let browser = browser().await;
    let b = &browser.client;
    sign_in(b, &app, "ada@example.com").await;
    let trial_page = format!("/app/runs/{id}");
    b.goto(&site(&app, &trial_page)).await.unwrap();
    wait_for(b, "#run-rest").await;
    assert!(
        b.find(Locator::Id("retry-failed")).await.is_err(),
        "no failed rows"
    );
    look(b, "run-trial").await;
    submit(b, "#run-rest").await;
    eventually(Duration::from_secs(30), "the rest's page", || async {
        let url = b.current_url().await.ok()?;
        (url.path() != trial_page).then_some(())
    })
    .await;
    wait_text(b, "status", "Completed").await;
    assert_eq!(emails(&target).len(), 5);

    // The rest was asked: the trial offers it no more.
    b.goto(&site(&app, &trial_page)).await.unwrap();
    wait_for(b, "#status").await;
    assert!(b.find(Locator::Id("run-rest")).await.is_err());
    b.clone().close().await.unwrap();
}
