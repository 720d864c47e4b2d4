//! Connections: secrets sealed, never returned, testable, and destroyed on Disconnect.

use crate::accounts::{account, call, member};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_testkit::{spawn_app, TestApp};

/// Parameters that reach the test database server the way the test kit does.
pub fn params_for(app: &TestApp, password: &str) -> Value {
    let url = sluice_testkit::database_server_url();
    let (host, port, user) = match url.split_once("host=") {
        Some((_, socket)) => (
            socket.split('&').next().unwrap().to_owned(),
            5432,
            std::env::var("USER").unwrap_or_else(|_| "root".into()),
        ),
        None => {
            let rest = url.split_once("://").unwrap().1;
            let (auth, hostport) = rest
                .split('/')
                .next()
                .unwrap()
                .rsplit_once('@')
                .unwrap_or(("", rest.split('/').next().unwrap()));
            let user = auth
                .split(':')
                .next()
                .filter(|u| !u.is_empty())
                .unwrap_or("postgres")
                .to_owned();
            let (host, port) = hostport
                .split_once(':')
                .map_or((hostport, 5432), |(h, p)| (h, p.parse().unwrap()));
            (host.to_owned(), port, user)
        }
    };
    json!({
        "host": host,
        "port": port,
        "dbname": app.db.name,
        "user": user,
        "password": password,
        "sslmode": "disable",
    })
}

pub async fn create(app: &TestApp, token: &str, name: &str, params: Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/connections"))
        .bearer_auth(token)
        .json(&json!({ "name": name, "kind": "postgres", "params": params }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_connection_keeps_its_password_to_itself_and_can_be_tested() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let marker = "pw-marker-6f1d2a9c";
    let res = create(&app, &owner, "warehouse", params_for(&app, marker)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    assert!(!created.to_string().contains(marker));
    assert_eq!(created["params"]["dbname"], app.db.name.as_str());
    let id = created["id"].as_str().unwrap();

    for path in [
        "/v1/connections".to_owned(),
        format!("/v1/connections/{id}"),
    ] {
        let body = call(&app, Method::GET, &path, &owner)
            .await
            .text()
            .await
            .unwrap();
        assert!(body.contains("warehouse"), "{body}");
        assert!(!body.contains(marker), "{path} shows the password");
        assert!(!body.contains("password"), "{path} names a password field");
    }
    let tested: Value = call(
        &app,
        Method::POST,
        &format!("/v1/connections/{id}/test"),
        &owner,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(tested, json!({ "ok": true }));

    let res = create(&app, &owner, "nul", params_for(&app, "a\u{0}b")).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["field"],
        "params.password"
    );

    let mut wrong = params_for(&app, marker);
    wrong["dbname"] = json!("no_such_database_here");
    let res = create(&app, &owner, "broken", wrong.clone()).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused: Value = res.json().await.unwrap();
    assert_eq!(refused["error"]["code"], "connection_failed", "{refused}");
    assert_eq!(refused["error"]["reason"], "no_such_database", "{refused}");
    assert!(!refused.to_string().contains(marker));
    assert!(!refused.to_string().contains("no_such_database_here"));
    let listed: Value = call(&app, Method::GET, "/v1/connections", &owner)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["connections"].as_array().unwrap().len(),
        1,
        "{listed}"
    );
    assert_eq!(
        listed["connections"][0]["last_test"]["ok"], true,
        "{listed}"
    );

    let res = app
        .client
        .post(app.url("/v1/connections"))
        .bearer_auth(&owner)
        .json(&json!({ "name": "broken", "kind": "postgres", "params": wrong, "test": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let untested: Value = res.json().await.unwrap();
    assert_eq!(untested["last_test"], Value::Null, "{untested}");
    let broken = untested["id"].as_str().unwrap().to_owned();
    let tested: Value = call(
        &app,
        Method::POST,
        &format!("/v1/connections/{broken}/test"),
        &owner,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(tested["ok"], false);
    assert_eq!(tested["reason"], "no_such_database", "{tested}");
    assert!(
        tested["message"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{tested}"
    );
    assert!(!tested.to_string().contains(marker));
    let shown: Value = call(
        &app,
        Method::GET,
        &format!("/v1/connections/{broken}"),
        &owner,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(shown["last_test"]["ok"], false, "{shown}");
    assert_eq!(shown["last_test"]["reason"], "no_such_database", "{shown}");
    let mut conn = app.conn();
    assert_eq!(
        crate::support::count_events_of_type(&mut conn, "connection.tested"),
        3
    );
    let report = sluice_events::replay::replay(&mut conn, false).unwrap();
    assert!(report.is_equal(), "{report:?}");

    let dump = std::process::Command::new("pg_dump")
        .args(["--data-only", "--dbname", &app.db.url])
        .output()
        .unwrap();
    let dump = String::from_utf8(dump.stdout).unwrap();
    assert!(dump.contains("connection.created"));
    assert!(!dump.contains(marker), "the password is stored in clear");
}

#[tokio::test]
async fn disconnect_destroys_the_secret_and_records_it() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let res = create(&app, &owner, "warehouse", params_for(&app, "secret-pw")).await;
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/connections/{id}");
    assert_eq!(
        call(&app, Method::DELETE, &path, &owner).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, Method::GET, &path, &owner).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, Method::DELETE, &path, &owner).await.status(),
        StatusCode::NOT_FOUND
    );
    let mut conn = app.conn();
    assert_eq!(
        crate::support::count_events_of_type(&mut conn, "connection.disconnected"),
        1
    );
    use diesel::prelude::*;
    let secrets: i64 = sluice_schema::schema::connection_secrets::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(secrets, 0, "the secret is gone");
    let report = sluice_events::replay::replay(&mut conn, false).unwrap();
    assert!(report.is_equal(), "{report:?}");
}

#[tokio::test]
async fn members_may_look_but_not_add() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let member = &member(&app, &owner, "member@example.com").await;
    let res = create(&app, member, "mine", params_for(&app, "x")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        call(&app, Method::GET, "/v1/connections", member)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_sealed_secret_copied_to_another_connection_does_not_open() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let a = create(&app, &owner, "a", params_for(&app, "pw-of-a-7781"))
        .await
        .json::<Value>()
        .await
        .unwrap();
    let b = create(&app, &owner, "b", params_for(&app, "pw-of-b-7782"))
        .await
        .json::<Value>()
        .await
        .unwrap();
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    {
        use diesel::prelude::*;
        use sluice_schema::schema::connection_secrets::dsl::*;
        let mut conn = app.conn();
        let a_id: uuid::Uuid = a.parse().unwrap();
        let b_id: uuid::Uuid = b.parse().unwrap();
        let sealed: Vec<u8> = connection_secrets
            .find(a_id)
            .select(secret)
            .first(&mut conn)
            .unwrap();
        diesel::update(connection_secrets.find(b_id))
            .set(secret.eq(sealed))
            .execute(&mut conn)
            .unwrap();
    }
    let res = call(
        &app,
        Method::POST,
        &format!("/v1/connections/{b}/test"),
        &owner,
    )
    .await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = res.text().await.unwrap();
    assert!(!body.contains("pw-of-a"), "{body}");
    assert!(body.contains("internal error"), "{body}");
}

#[tokio::test]
async fn a_wrong_password_or_a_closed_port_is_refused_with_its_reason() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let server = sluice_testkit::TlsPostgres::start(&["localhost"]);
    let mut params = server.params("localhost");
    params["sslmode"] = json!("require");
    params["password"] = json!("wrong-pw-marker-41");
    let res = create(&app, &owner, "wrong", params.clone()).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["reason"], "authentication_failed", "{body}");
    assert!(!body.to_string().contains("wrong-pw-marker-41"));

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    params["port"] = json!(port);
    let res = create(&app, &owner, "closed", params).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["reason"], "unreachable", "{body}");
    let listed: Value = call(&app, Method::GET, "/v1/connections", &owner)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["connections"], json!([]), "nothing was saved");
}
