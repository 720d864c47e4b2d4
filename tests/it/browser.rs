//! The web pages in a real browser (headless Chromium through ChromeDriver,
//! which `scripts/services.sh --with-browser` installs): what a user does,
//! as a user does it.

use crate::imports::target_db;
use crate::web::*;
use diesel::prelude::*;
use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::json;
use sluice_testkit::{eventually, spawn_app};
use std::time::Duration;

fn contacts_in(target: &sluice_testkit::TestDb) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query("SELECT count(*) AS n FROM contacts")
        .get_result::<Count>(&mut target.connect())
        .unwrap()
        .n
}

#[tokio::test]
async fn a_user_signs_up_imports_a_csv_into_postgres_sees_the_rows_and_rolls_back() {
    let app = spawn_app().await;
    let target = target_db();
    let file = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    std::fs::write(
        file.path(),
        "Email,First Name\nada@example.com,Ada\ngrace@example.com,Grace\nalan@example.com,Alan\n",
    )
    .unwrap();
    let browser = browser().await;
    let b = &browser.client;

    // Sign up: the account opens and the browser is signed in.
    b.goto(&site(&app, "/signup")).await.unwrap();
    fill(b, "first_name", "Ada").await;
    fill(b, "last_name", "Lovelace").await;
    fill(b, "email", "ada@example.com").await;
    fill(b, "company", "Analytical Engines").await;
    fill(b, "country", "GB").await;
    fill(b, "password", "Difference-Engine-1842").await;
    submit(b, "form").await;
    wait_path(b, "/app/runs").await;

    // Connect the database to import into.
    b.goto(&site(&app, "/app/connections")).await.unwrap();
    let params = crate::connections::params_for(&app, "unused-password");
    fill(b, "pg-name", "warehouse").await;
    fill(b, "pg-host", params["host"].as_str().unwrap()).await;
    fill(b, "pg-port", &params["port"].to_string()).await;
    fill(b, "pg-dbname", &target.name).await;
    fill(b, "pg-user", params["user"].as_str().unwrap()).await;
    fill(b, "pg-password", "unused-password").await;
    b.find(Locator::Css("#pg-sslmode option[value=disable]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    submit(b, "#connect-postgres").await;
    wait_for(b, "[data-disconnect]").await;

    // Upload, map (the fields suggested from the headers), preview, run.
    b.goto(&site(&app, "/app/imports/new")).await.unwrap();
    b.find(Locator::Id("file"))
        .await
        .unwrap()
        .send_keys(file.path().to_str().unwrap())
        .await
        .unwrap();
    submit(b, "#upload").await;
    wait_path(b, "/app/imports/new?upload=").await;
    // The wizard: the table, the columns auto-matched, the preview.
    choose(b, "object", "contacts").await;
    to_mapping(b, "email").await;
    next_step(b, "mapping", "clean").await;
    next_step(b, "clean", "preview").await;
    wait_for(
        b,
        "[data-step=preview]:not([hidden]) #preview-rows tbody tr",
    )
    .await;
    let previewed = b
        .find_all(Locator::Css("#preview-rows tbody tr"))
        .await
        .unwrap();
    assert_eq!(previewed.len(), 3);
    next_step(b, "preview", "run").await;
    click(b, "#start-run").await;
    let run_page = wait_path(b, "/app/runs/").await;

    // The run's progress shows the rows counted.
    wait_text(b, "status", "Completed").await;
    assert_eq!(text_of(b, "rows-ok").await, "3");
    assert_eq!(text_of(b, "rows-failed").await, "0");
    assert_eq!(contacts_in(&target), 3);

    // Roll back: a run of its own, which deletes what the import wrote.
    roll_back_here(b, &run_page).await;
    assert_eq!(contacts_in(&target), 0);

    // The rolled-back run says so and offers no second rollback.
    b.goto(&site(&app, &run_page)).await.unwrap();
    assert!(text_of(b, "rolled-back").await.contains("rolled back"));
    assert!(b.find(Locator::Id("rollback")).await.is_err());

    // The history lists both by the job's name, the import marked.
    b.goto(&site(&app, "/app/runs")).await.unwrap();
    let rows = b.find_all(Locator::Css("tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 2);
    let listed = b
        .find(Locator::Css("tbody"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listed.contains("Rollback of "), "{listed}");
    assert!(listed.contains("rolled back"), "{listed}");
    b.clone().close().await.unwrap();
}

#[tokio::test]
async fn pages_need_a_session_and_carry_the_security_headers() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client.get(app.url("/app/runs")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login");

    let res = client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let headers = res.headers();
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Secure"),
        "{cookie}"
    );

    // A log-in posted without the form's token (from another site) is refused.
    let res = client
        .post(app.url("/login"))
        .form(&[
            ("email", "ada@example.com"),
            ("password", "whatever"),
            ("form_token", "guess"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_cookie_session_changes_nothing_without_its_csrf_token() {
    let app = spawn_app().await;
    let (token, _) = crate::accounts::account(&app, "ada@example.com").await;
    let cookie = format!("sluice_session={token}");
    // Reading works with the cookie alone.
    let res = app
        .client
        .get(app.url("/v1/me"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // Changing needs the session's CSRF token.
    let create = |csrf: Option<String>| {
        let mut req = app
            .client
            .post(app.url("/v1/api-tokens"))
            .header("Cookie", &cookie)
            .json(&json!({"name": "ci"}));
        if let Some(csrf) = csrf {
            req = req.header("X-CSRF-Token", csrf);
        }
        req.send()
    };
    assert_eq!(create(None).await.unwrap().status(), StatusCode::FORBIDDEN);
    let wrong = sluice_api::auth::cookie::csrf_token("sluice_eu-frankfurt_another");
    assert_eq!(
        create(Some(wrong)).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let right = sluice_api::auth::cookie::csrf_token(&token);
    assert_eq!(
        create(Some(right)).await.unwrap().status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_user_logs_back_in_disconnects_an_instance_and_deletes_the_account() {
    let app = spawn_app().await;
    let (token, _) = crate::accounts::account(&app, "ada@example.com").await;
    let target = target_db();
    crate::imports::connect_target(&app, &token, &target).await;
    let browser = browser().await;
    let b = &browser.client;

    // A wrong password shows the page again with the reason.
    b.goto(&site(&app, "/login")).await.unwrap();
    fill(b, "email", "ada@example.com").await;
    fill(b, "password", "not the password").await;
    submit(b, "form").await;
    let error = b
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("form-error"))
        .await
        .unwrap();
    assert_eq!(error.text().await.unwrap(), "email or password is wrong");
    // The keyboard alone: the email field has the focus; Tab to the
    // password, Enter to send.
    let focused = b.active_element().await.unwrap();
    assert_eq!(focused.attr("id").await.unwrap().as_deref(), Some("email"));
    focused.clear().await.unwrap();
    focused.send_keys("ada@example.com\u{E004}").await.unwrap();
    let focused = b.active_element().await.unwrap();
    assert_eq!(
        focused.attr("id").await.unwrap().as_deref(),
        Some("password")
    );
    focused
        .send_keys(&format!("{}\u{E007}", crate::accounts::PASSWORD))
        .await
        .unwrap();
    wait_path(b, "/app/runs").await;
    // The first Tab reaches the skip link, which leads to the content.
    press(b, '\u{E004}').await;
    let skip = b.active_element().await.unwrap();
    assert_eq!(skip.text().await.unwrap(), "Skip to content");
    press(b, '\u{E007}').await;
    let main = b.active_element().await.unwrap();
    assert_eq!(main.attr("id").await.unwrap().as_deref(), Some("main"));

    // Disconnect, confirmed in the browser's dialog.
    b.goto(&site(&app, "/app/connections")).await.unwrap();
    b.find(Locator::Css("[data-disconnect]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "the confirmation", || async {
        b.accept_alert().await.ok()
    })
    .await;
    b.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Id("no-instances"))
        .await
        .unwrap();

    // Delete the account: a wrong confirmation is refused, then it goes.
    b.goto(&site(&app, "/app/settings")).await.unwrap();
    assert_eq!(text_of(b, "plan").await, "Free");
    fill(b, "confirm", "delete it").await;
    submit(b, "#erase").await;
    let alert = b
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#erase .error:not([hidden])"))
        .await
        .unwrap();
    assert!(alert.text().await.unwrap().contains("erase this account"));
    fill(b, "confirm", "erase this account").await;
    submit(b, "#erase").await;
    wait_path(b, "/signup").await;
    let res = crate::accounts::call(&app, reqwest::Method::GET, "/v1/me", &token).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    b.clone().close().await.unwrap();
}

#[tokio::test]
async fn a_browser_gets_error_pages_an_icon_the_current_section_and_cached_compressed_files() {
    let app = spawn_app().await;
    let (token, _) = crate::accounts::account(&app, "ada@example.com").await;
    let cookie = format!("sluice_session={token}");
    let page = |path: &str, accept: &'static str| {
        app.client
            .get(app.url(path))
            .header("Cookie", &cookie)
            .header("Accept", accept)
            .send()
    };
    let html = "text/html,application/xhtml+xml,*/*;q=0.8";

    // An unknown run, and an unknown page, are pages in the layout.
    let unknown = format!("/app/runs/{}", uuid::Uuid::new_v4());
    for path in [unknown.as_str(), "/app/nothing-here"] {
        let res = page(path, html).await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let body = res.text().await.unwrap();
        assert!(body.contains("<h1>Page not found</h1>"), "{body}");
        assert!(body.contains("rel=\"icon\""), "{body}");
    }
    // A script asking for JSON keeps the API's error.
    let res = page(&unknown, "application/json").await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");

    // The navigation marks where the user is.
    let runs = page("/app/runs", html).await.unwrap().text().await.unwrap();
    assert!(
        runs.contains("<a href=\"/app/runs\" aria-current=\"page\">Runs</a>"),
        "{runs}"
    );
    assert!(runs.contains("<a href=\"/app/settings\">Settings</a>"));
    // A new account is told its first step: connect an instance.
    assert!(
        runs.contains("<a href=\"/app/connections\">Connect the database or Salesforce org"),
        "{runs}"
    );

    let icon = app
        .client
        .get(app.url("/favicon.ico"))
        .send()
        .await
        .unwrap();
    assert_eq!(icon.status(), StatusCode::OK);
    assert_eq!(icon.headers()["content-type"], "image/x-icon");
    assert_eq!(&icon.bytes().await.unwrap()[..4], [0, 0, 1, 0]);

    // Static files are compressed, kept a day, and not sent again unchanged.
    let css = app
        .client
        .get(app.url("/static/app.css"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(css.headers()["content-encoding"], "gzip");
    assert_eq!(css.headers()["cache-control"], "public, max-age=86400");
    let etag = css.headers()["etag"].to_str().unwrap().to_owned();
    let plain = include_str!("../../api/static/app.css").len();
    let sent = css.bytes().await.unwrap();
    assert_eq!(sent[..2], [0x1f, 0x8b], "gzip's magic number");
    assert!(sent.len() < plain);
    let again = app
        .client
        .get(app.url("/static/app.css"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let other = app
        .client
        .get(app.url("/static/app.js"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK, "another file's tag");
}

#[tokio::test]
async fn every_page_passes_axe_and_fits_a_phones_width() {
    use crate::imports::{connect_target, contacts_csv, contacts_mapping, create_job, run_to_end};
    let app = spawn_app().await;
    let target = target_db();
    let (token, _) = crate::accounts::account(&app, "ada@example.com").await;
    connect_target(&app, &token, &target).await;
    let connection = connect_target(&app, &token, &target).await;
    let upload = crate::imports::upload(&app, &token, contacts_csv(3)).await;
    let job = create_job(&app, &token, &upload, &connection, contacts_mapping()).await;
    let job: serde_json::Value = job.json().await.unwrap();
    let run = run_to_end(&app, &token, job["id"].as_str().unwrap()).await;
    let upload = crate::imports::upload(&app, &token, contacts_csv(3)).await;

    let browser = browser().await;
    let b = &browser.client;
    let run_page = format!("/app/runs/{}", run["id"].as_str().unwrap());
    let new_import = format!("/app/imports/new?upload={upload}");
    for (name, path) in [("login", "/login"), ("signup", "/signup")] {
        b.goto(&site(&app, path)).await.unwrap();
        look(b, name).await;
    }
    sign_in(b, &app, "ada@example.com").await;
    for (name, path) in [
        ("runs", "/app/runs"),
        ("run-completed", run_page.as_str()),
        ("connections", "/app/connections"),
        ("import-mapping", new_import.as_str()),
        ("settings", "/app/settings"),
        (
            "not-found",
            "/app/runs/00000000-0000-0000-0000-000000000000",
        ),
    ] {
        b.goto(&site(&app, path)).await.unwrap();
        look(b, name).await;
    }
    b.clone().close().await.unwrap();
}
