use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_testkit::{spawn_app, spawn_app_with, AppOptions, TestApp};
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "violet kettle marching softly";

pub fn person(email: &str) -> Value {
    json!({
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": email,
        "company": "Analytical Engines Ltd",
        "country": "gb",
        "password": PASSWORD,
    })
}

pub async fn signup(app: &TestApp, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/signup"))
        .json(body)
        .send()
        .await
        .unwrap()
}

pub async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

/// Logs in with the test password: the session token.
pub async fn session(app: &TestApp, email: &str) -> String {
    let res = login(app, email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

/// The owner adds a member with the test password, who logs in: the member's token.
pub async fn member(app: &TestApp, owner: &str, email: &str) -> String {
    let res = app
        .client
        .post(app.url("/v1/users"))
        .bearer_auth(owner)
        .json(&teammate(email, "member"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    session(app, email).await
}

/// Signs up a new account and logs in: `(token, signup body)`.
pub async fn account(app: &TestApp, email: &str) -> (String, Value) {
    let res = signup(app, &person(email)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    (session(app, email).await, created)
}

/// `call`'s response body, as JSON.
pub async fn call_json(app: &TestApp, method: Method, path: &str, token: &str) -> Value {
    call(app, method, path, token).await.json().await.unwrap()
}

pub async fn call(app: &TestApp, method: Method, path: &str, token: &str) -> reqwest::Response {
    app.client
        .request(method, app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn error_of(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    (status, res.json::<Value>().await.unwrap()["error"].clone())
}

#[tokio::test]
async fn signup_creates_an_account_and_its_owner_in_this_region() {
    let app = spawn_app().await;
    let (token, created) = account(&app, "Ada@Example.com").await;
    assert_eq!(created["region"], "eu-frankfurt");

    let me: Value = call(&app, Method::GET, "/v1/me", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], "ada@example.com");
    assert_eq!(me["user"]["first_name"], "Ada");
    assert_eq!(me["user"]["role"], "owner");
    assert_eq!(me["user"]["id"], created["user_id"]);
    assert_eq!(me["account"]["id"], created["account_id"]);
    assert_eq!(me["account"]["company"], "Analytical Engines Ltd");
    assert_eq!(me["account"]["country"], "GB");
    assert_eq!(me["account"]["region"], "eu-frankfurt");
    assert_eq!(me["account"]["plan"], "free");
}

#[tokio::test]
async fn signup_takes_exactly_the_documented_fields() {
    let app = spawn_app().await;
    let mut extra = person("ada@example.com");
    extra["plan"] = json!("enterprise");
    let (status, error) = error_of(signup(&app, &extra).await).await;
    assert_eq!(
        (status, &error["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("plan"))
    );

    let mut missing = person("ada@example.com");
    missing.as_object_mut().unwrap().remove("company");
    let (status, error) = error_of(signup(&app, &missing).await).await;
    assert_eq!(
        (status, &error["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("company"))
    );

    for (field, value) in [
        ("email", json!("not-an-email")),
        ("country", json!("Germany")),
        ("first_name", json!("  ")),
        ("password", json!("short")),
        ("password", json!("Password1234")),
        ("password", json!("ada.lovelace.is.great")),
    ] {
        let mut body = person("ada.lovelace@example.com");
        body[field] = value.clone();
        let (status, error) = error_of(signup(&app, &body).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}={value}");
        assert_eq!(error["field"], field, "{field}={value}");
    }
    let mut numeric = person("ada@example.com");
    numeric["password"] = json!(987654321098765_u64);
    let res = signup(&app, &numeric).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = res.text().await.unwrap();
    assert!(
        !text.contains("987654321098765"),
        "the value is echoed: {text}"
    );

    let res = app
        .client
        .post(app.url("/v1/signup"))
        .body("first_name=Ada")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        crate::support::all_seqs(&mut app.conn()),
        Vec::<i64>::new(),
        "nothing recorded"
    );
}

#[tokio::test]
async fn an_email_signs_up_once_whatever_its_case() {
    let app = spawn_app().await;
    account(&app, "ada@example.com").await;
    let (status, error) = error_of(signup(&app, &person(" ADA@example.COM ")).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error["code"], "conflict");
}

#[tokio::test]
async fn wrong_and_unknown_credentials_get_the_same_answer() {
    let app = spawn_app().await;
    account(&app, "ada@example.com").await;
    let wrong = error_of(login(&app, "ada@example.com", "not the password at all").await).await;
    let unknown = error_of(login(&app, "nobody@example.com", PASSWORD).await).await;
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong, unknown);
    assert_eq!(wrong.1["code"], "invalid_credentials");
}

#[tokio::test]
async fn an_unknown_email_costs_a_password_check_too() {
    let app = spawn_app().await;
    for i in 0..5 {
        account(&app, &format!("user{i}@example.com")).await;
    }
    let mut wrong = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..5 {
        let t = Instant::now();
        login(
            &app,
            &format!("user{i}@example.com"),
            "not the password at all",
        )
        .await;
        wrong.push(t.elapsed());
        let t = Instant::now();
        login(
            &app,
            &format!("ghost{i}@example.com"),
            "not the password at all",
        )
        .await;
        unknown.push(t.elapsed());
    }
    // Both are dominated by one argon2id verification; a missing user must
    // not answer in a fraction of that time. The fastest of each is the
    // cost itself, without what other tests running beside it add.
    let fastest = |v: Vec<Duration>| v.into_iter().min().unwrap_or_default();
    let (wrong, unknown) = (fastest(wrong), fastest(unknown));
    assert!(
        unknown * 2 > wrong,
        "unknown {unknown:?} vs wrong {wrong:?}"
    );
}

#[tokio::test]
async fn repeated_failures_are_throttled_with_retry_after() {
    let app = spawn_app().await;
    account(&app, "ada@example.com").await;
    for _ in 0..5 {
        let res = login(&app, "ada@example.com", "not the password at all").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = login(&app, "ada@example.com", PASSWORD).await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "too_many_requests"
    );
    // Another account from the same address is not blocked by this one.
    account(&app, "grace@example.com").await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_address_throttle_counts_each_client_apart() {
    let app = spawn_app_with(AppOptions {
        trusted_proxies: sluice_api::client_address::TrustedProxies::new(vec!["127.0.0.1"
            .parse()
            .unwrap()])
        .unwrap(),
        worker: false,
        ..AppOptions::default()
    })
    .await;
    account(&app, "ada@example.com").await;
    let from = |client: &'static str, email: String, password: &'static str| {
        app.client
            .post(app.url("/v1/login"))
            .header("X-Forwarded-For", client)
            .json(&json!({ "email": email, "password": password }))
            .send()
    };
    let wrong = "not the password at all";
    // 50 failures from one client, each for another (unknown) email, so
    // that only the per-address limit counts them.
    for i in 0..50 {
        let res = from("203.0.113.7", format!("guess{i}@example.com"), wrong);
        assert_eq!(res.await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let res = from("203.0.113.7", "one-more@example.com".into(), wrong);
    assert_eq!(res.await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    // Another client through the same proxy still logs in.
    let res = from("203.0.113.8", "ada@example.com".into(), PASSWORD);
    assert_eq!(res.await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    let (token, _) = account(&app, "ada@example.com").await;
    assert_eq!(
        call(&app, Method::POST, "/v1/logout", &token)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let (status, error) = error_of(call(&app, Method::GET, "/v1/me", &token).await).await;
    assert_eq!(
        (status, &error["code"]),
        (StatusCode::UNAUTHORIZED, &json!("unauthorized"))
    );
}

#[tokio::test]
async fn api_tokens_are_shown_once_listed_without_secret_and_revocable() {
    let app = spawn_app().await;
    let (session, _) = account(&app, "ada@example.com").await;
    let res = app
        .client
        .post(app.url("/v1/api-tokens"))
        .bearer_auth(&session)
        .json(&json!({ "name": "nightly sync", "expires_in_days": 30 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    let api_token = created["token"].as_str().unwrap().to_owned();
    assert!(api_token.starts_with("sluice_eu-frankfurt_"));
    assert_eq!(
        call(&app, Method::GET, "/v1/me", &api_token).await.status(),
        StatusCode::OK
    );

    let listed: Value = call(&app, Method::GET, "/v1/api-tokens", &session)
        .await
        .json()
        .await
        .unwrap();
    let items = listed["api_tokens"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["name"], "nightly sync");
    assert!(
        !listed.to_string().contains(&api_token[20..]),
        "the secret is never listed"
    );

    let path = format!("/v1/api-tokens/{}", created["id"].as_str().unwrap());
    assert_eq!(
        call(&app, Method::DELETE, &path, &session).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, Method::GET, "/v1/me", &api_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, Method::DELETE, &path, &session).await.status(),
        StatusCode::NOT_FOUND
    );

    // The accounts, users and tokens projections rebuild from the log.
    let mut conn = app.conn();
    let report = sluice_events::replay::replay(&mut conn, false).unwrap();
    assert!(report.is_equal(), "{report:?}");
    let tokens = report.tables.iter().find(|t| t.table == "tokens").unwrap();
    assert_eq!(tokens.live_rows, 2, "one session, one API token");
    assert!(sluice_events::verify::verify(&mut conn)
        .unwrap()
        .is_intact());
}

#[tokio::test]
async fn a_token_of_another_region_is_refused() {
    let app = spawn_app().await;
    let (token, _) = account(&app, "ada@example.com").await;
    let foreign = token.replacen("eu-frankfurt", "us-dallas", 1);
    let (status, error) = error_of(call(&app, Method::GET, "/v1/me", &foreign).await).await;
    assert_eq!(
        (status, &error["code"]),
        (StatusCode::UNAUTHORIZED, &json!("wrong_region"))
    );
    for junk in ["", "sluice_", "Bearer", "sluice_eu-frankfurt_short"] {
        let res = call(&app, Method::GET, "/v1/me", junk).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{junk:?}");
    }
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

pub fn teammate(email: &str, role: &str) -> Value {
    json!({
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": email,
        "role": role,
        "password": PASSWORD,
    })
}

#[tokio::test]
async fn another_accounts_resources_answer_404() {
    let app = spawn_app().await;
    let (alice, _) = account(&app, "alice@example.com").await;
    let (bob, _) = account(&app, "bob@example.com").await;
    let alices_token: Value = send(
        &app,
        Method::POST,
        "/v1/api-tokens",
        &alice,
        Some(json!({ "name": "alice's" })),
    )
    .await
    .json()
    .await
    .unwrap();
    let alices_member: Value = send(
        &app,
        Method::POST,
        "/v1/users",
        &alice,
        Some(teammate("carol@example.com", "member")),
    )
    .await
    .json()
    .await
    .unwrap();
    let token_id = alices_token["id"].as_str().unwrap();
    let member_id = alices_member["id"].as_str().unwrap();
    let alices_connection: Value = crate::connections::create(
        &app,
        &alice,
        "alice's warehouse",
        crate::connections::params_for(&app, "alices-db-password"),
    )
    .await
    .json()
    .await
    .unwrap();
    let connection_id = alices_connection["id"].as_str().unwrap();
    let alices_upload: Value =
        crate::uploads::upload_multipart(&app, &alice, "a.csv", crate::uploads::marked_csv())
            .await
            .json()
            .await
            .unwrap();
    let upload_id = alices_upload["id"].as_str().unwrap();
    let target = crate::imports::target_db();
    let target_connection = crate::imports::connect_target(&app, &alice, &target).await;
    let contacts =
        crate::uploads::upload_raw(&app, &alice, "c.csv", crate::imports::contacts_csv(3))
            .await
            .json::<Value>()
            .await
            .unwrap();
    let alices_job: Value = crate::imports::create_job(
        &app,
        &alice,
        contacts["id"].as_str().unwrap(),
        &target_connection,
        crate::imports::contacts_mapping(),
    )
    .await
    .json()
    .await
    .unwrap();
    let job_id = alices_job["id"].as_str().unwrap();
    let alices_run = crate::imports::run_to_end(&app, &alice, job_id).await;
    let run_id = alices_run["id"].as_str().unwrap();

    // Every endpoint that takes a resource id, called by Bob on Alice's resource.
    let by_id = [
        (Method::DELETE, format!("/v1/api-tokens/{token_id}"), None),
        (
            Method::PATCH,
            format!("/v1/users/{member_id}"),
            Some(json!({ "role": "admin" })),
        ),
        (Method::DELETE, format!("/v1/users/{member_id}"), None),
        (
            Method::GET,
            format!("/v1/connections/{connection_id}"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/connections/{connection_id}/test"),
            None,
        ),
        (
            Method::DELETE,
            format!("/v1/connections/{connection_id}"),
            None,
        ),
        (Method::GET, format!("/v1/uploads/{upload_id}"), None),
        (Method::DELETE, format!("/v1/uploads/{upload_id}"), None),
        (Method::GET, format!("/v1/jobs/{job_id}"), None),
        (Method::POST, format!("/v1/jobs/{job_id}/preview"), None),
        (Method::POST, format!("/v1/jobs/{job_id}/runs"), None),
        (Method::GET, format!("/v1/jobs/{job_id}/runs"), None),
        (Method::GET, format!("/v1/runs/{run_id}"), None),
        (Method::GET, format!("/v1/runs/{run_id}/success.csv"), None),
        (Method::GET, format!("/v1/runs/{run_id}/errors.csv"), None),
        (Method::GET, format!("/v1/runs/{run_id}/failures"), None),
        (Method::DELETE, format!("/v1/jobs/{job_id}"), None),
    ];
    for (method, path, body) in by_id {
        let res = send(&app, method.clone(), &path, &bob, body).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    // Every listing and account endpoint shows Bob his own data only.
    let me: Value = call(&app, Method::GET, "/v1/me", &bob)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], "bob@example.com");
    let listed: Value = call(&app, Method::GET, "/v1/api-tokens", &bob)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["api_tokens"], json!([]));
    let jobs: Value = call(&app, Method::GET, "/v1/jobs", &bob)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jobs["jobs"], json!([]));
    let users: Value = call(&app, Method::GET, "/v1/users", &bob)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(users["users"].as_array().unwrap().len(), 1);
    assert_eq!(users["users"][0]["email"], "bob@example.com");
    // Bob's attempts changed nothing of Alice's.
    let alices_api = alices_token["token"].as_str().unwrap();
    assert_eq!(
        call(&app, Method::GET, "/v1/me", alices_api).await.status(),
        StatusCode::OK
    );
    let users: Value = call(&app, Method::GET, "/v1/users", &alice)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(users["users"][1]["role"], "member");
}

#[tokio::test]
async fn roles_decide_who_adds_changes_and_removes_people() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "owner@example.com").await;
    let add = |token: String, email: &'static str, role: &'static str| {
        let app = &app;
        async move {
            send(
                app,
                Method::POST,
                "/v1/users",
                &token,
                Some(teammate(email, role)),
            )
            .await
        }
    };
    let res = add(owner.clone(), "admin@example.com", "admin").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let admin_id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        add(owner.clone(), "x@example.com", "owner").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let admin = session(&app, "admin@example.com").await;
    assert_eq!(
        add(admin.clone(), "peer@example.com", "admin")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let res = add(admin.clone(), "member@example.com", "member").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let member_id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let member = session(&app, "member@example.com").await;
    assert_eq!(
        add(member.clone(), "m2@example.com", "member")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let listed: Value = call(&app, Method::GET, "/v1/users", &member)
        .await
        .json()
        .await
        .unwrap();
    let roles: Vec<_> = listed["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["role"].clone())
        .collect();
    assert_eq!(roles, vec![json!("owner"), json!("admin"), json!("member")]);

    // Only the owner changes roles.
    let promote = Some(json!({ "role": "admin" }));
    let path = format!("/v1/users/{member_id}");
    assert_eq!(
        send(&app, Method::PATCH, &path, &admin, promote.clone())
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&app, Method::PATCH, &path, &owner, promote)
            .await
            .status(),
        StatusCode::OK
    );
    let demote = Some(json!({ "role": "member" }));
    assert_eq!(
        send(&app, Method::PATCH, &path, &owner, demote)
            .await
            .status(),
        StatusCode::OK
    );

    // An admin removes a member, whose sessions end at once; not an admin.
    let admin_path = format!("/v1/users/{admin_id}");
    assert_eq!(
        call(&app, Method::DELETE, &admin_path, &admin)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, Method::DELETE, &path, &admin).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, Method::GET, "/v1/me", &member).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, "member@example.com", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, Method::DELETE, &admin_path, &owner)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, Method::GET, "/v1/me", &admin).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let report = sluice_events::replay::replay(&mut app.conn(), false).unwrap();
    assert!(report.is_equal(), "{report:?}");
}

#[tokio::test]
async fn personal_data_and_secrets_never_reach_the_database_in_clear() {
    let app = spawn_app().await;
    let (token, _) = account(&app, "ada.secretmail@example.com").await;
    let dump = std::process::Command::new("pg_dump")
        .args(["--data-only", "--dbname", &app.db.url])
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8(dump.stdout).unwrap();
    assert!(dump.contains("account.created"), "the dump has the events");
    for clear in [
        "ada.secretmail",
        "Lovelace",
        "Analytical Engines",
        PASSWORD,
        &token,
        &token[20..],
    ] {
        assert!(!dump.contains(clear), "{clear:?} is stored in clear");
    }
    assert!(
        dump.contains("$argon2id$v=19$m=19456,t=2,p=1$"),
        "passwords are argon2id hashes"
    );
}

#[tokio::test]
async fn log_ins_sent_all_at_once_get_no_more_guesses_than_the_limit() {
    let app = spawn_app().await;
    account(&app, "ada@example.com").await;
    let attempts = (0..20).map(|_| login(&app, "ada@example.com", "not the password at all"));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(reqwest::Response::status)
        .collect();
    let guessed = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    // Five failures block the account; log-ins hash a few at a time (half
    // the cores), and each reads the throttle again in its turn.
    let at_once = std::thread::available_parallelism().map_or(1, usize::from) / 2;
    assert!(
        (5..5 + at_once.max(1)).contains(&guessed),
        "{guessed} guesses: {statuses:?}"
    );
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS));
    let res = login(&app, "ada@example.com", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}
