//! The target catalog: the tables of a PostgreSQL connection and the
//! sObjects of a Salesforce org, with their fields, as a mapping wizard
//! lists them.

use crate::accounts::account;
use crate::imports::connect_target;
use crate::salesforce_runs::connect_org;
use diesel::connection::SimpleConnection;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_testkit::salesforce::{Fault, FieldDef, FieldType, ObjectDef, SalesforceStandIn};
use sluice_testkit::{spawn_app, spawn_app_with, AppOptions, TestApp, TestDb};

/// `method path` as `token`, with a JSON `body` if given: the answer's
/// status and JSON (`null` when it has none).
pub async fn send(
    app: &TestApp,
    method: Method,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let res = request.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// `GET path` as `token`: its status and body.
pub async fn get(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    send(app, Method::GET, token, path, None).await
}

/// An app that knows `standin`, an account and its connection to the org:
/// `(app, owner's token, connection id)`.
pub async fn connected_org(standin: &SalesforceStandIn) -> (TestApp, String, String) {
    let app = spawn_app_with(AppOptions {
        salesforce: Some(standin.config()),
        ..AppOptions::default()
    })
    .await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_org(&app, &owner, standin).await;
    (app, owner, connection)
}

fn names(listed: &Value) -> Vec<&str> {
    listed["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect()
}

fn field<'a>(fields: &'a Value, name: &str) -> &'a Value {
    fields["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no field {name} in {fields}"))
}

/// A database with `people`: a primary key, a unique NOT NULL column, a
/// default, a NOT NULL column without one.
pub fn people_db() -> TestDb {
    let db = TestDb::empty();
    db.connect()
        .batch_execute(
            "CREATE TABLE people (
                id         SERIAL PRIMARY KEY,
                email      TEXT NOT NULL UNIQUE,
                first_name VARCHAR(40),
                phone      TEXT,
                company    TEXT NOT NULL,
                joined     DATE NOT NULL DEFAULT CURRENT_DATE
            )",
        )
        .unwrap();
    db
}

/// [`people_db`] with `crm.deals` and a table named as Sluice's own
/// checkpoint table.
fn catalog_db() -> TestDb {
    let db = people_db();
    db.connect()
        .batch_execute(
            "CREATE SCHEMA crm;
            CREATE TABLE crm.deals (code TEXT PRIMARY KEY, amount NUMERIC);
            CREATE TABLE _sluice_checkpoints (run_id UUID PRIMARY KEY);",
        )
        .unwrap();
    db
}

#[tokio::test]
async fn a_postgres_targets_tables_and_fields_are_listed_without_sluices_own() {
    let app = spawn_app().await;
    let target = catalog_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;

    let (status, listed) = get(&app, &owner, &format!("/v1/targets/{connection}/objects")).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(names(&listed), ["crm.deals", "people"], "{listed}");
    assert_eq!(listed["next"], Value::Null);
    let (_, found) = get(
        &app,
        &owner,
        &format!("/v1/targets/{connection}/objects?q=DEAL"),
    )
    .await;
    assert_eq!(names(&found), ["crm.deals"]);

    let (status, fields) = get(
        &app,
        &owner,
        &format!("/v1/targets/{connection}/objects/people/fields"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{fields}");
    let shown = |name: &str| {
        let f = field(&fields, name);
        (
            f["type"].as_str().unwrap().to_owned(),
            f["required"].clone(),
            f["key"].clone(),
        )
    };
    assert_eq!(shown("id"), ("integer".into(), json!(false), json!(true)));
    assert_eq!(shown("email"), ("text".into(), json!(true), json!(true)));
    assert_eq!(
        shown("first_name"),
        ("character varying".into(), json!(false), json!(false))
    );
    assert_eq!(shown("company"), ("text".into(), json!(true), json!(false)));
    assert_eq!(shown("joined"), ("date".into(), json!(false), json!(false)));
    assert!(field(&fields, "email").get("createable").is_none());

    let (status, deals) = get(
        &app,
        &owner,
        &format!("/v1/targets/{connection}/objects/crm.deals/fields"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(field(&deals, "code")["key"], true);
    let (status, _) = get(
        &app,
        &owner,
        &format!("/v1/targets/{connection}/objects/nothing_here/fields"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_long_list_of_tables_comes_a_page_at_a_time() {
    let app = spawn_app().await;
    let target = TestDb::empty();
    let tables: String = (0..205)
        .map(|i| format!("CREATE TABLE t{i:03} (id INT);"))
        .collect();
    target.connect().batch_execute(&tables).unwrap();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;

    let path = format!("/v1/targets/{connection}/objects");
    let (_, first) = get(&app, &owner, &path).await;
    assert_eq!(names(&first).len(), 200);
    assert_eq!(first["next"], "t199");
    let (_, second) = get(&app, &owner, &format!("{path}?after=t199")).await;
    assert_eq!(names(&second), ["t200", "t201", "t202", "t203", "t204"]);
    assert_eq!(second["next"], Value::Null);
    let (status, body) = get(&app, &owner, &format!("{path}?q={}", "x".repeat(201))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn another_accounts_connection_is_not_found() {
    let app = spawn_app().await;
    let target = catalog_db();
    let (ada, _) = account(&app, "ada@example.com").await;
    let (bob, _) = account(&app, "bob@example.com").await;
    let connection = connect_target(&app, &ada, &target).await;
    for path in [
        format!("/v1/targets/{connection}/objects"),
        format!("/v1/targets/{connection}/objects/people/fields"),
        format!("/v1/targets/{}/objects", uuid::Uuid::new_v4()),
    ] {
        let (status, body) = get(&app, &bob, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["error"]["code"], "not_found");
    }
}

#[tokio::test]
async fn a_target_that_cannot_be_reached_or_refuses_is_reported_not_a_server_error() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let saved = |params: Value| {
        let (app, owner) = (&app, &owner);
        async move {
            let res = app
                .client
                .post(app.url("/v1/connections"))
                .bearer_auth(owner)
                .json(&json!({ "name": "broken", "kind": "postgres", "params": params, "test": false }))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::CREATED);
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let mut params = crate::connections::params_for(&app, "unused-password");
    params["dbname"] = json!("no_such_database_here");
    let missing = saved(params).await;
    let (status, body) = get(&app, &owner, &format!("/v1/targets/{missing}/objects")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "connection_failed");
    assert_eq!(body["error"]["reason"], "no_such_database");

    let server = sluice_testkit::TlsPostgres::start(&["localhost"]);
    let mut params = server.params("localhost");
    params["sslmode"] = json!("require");
    params["password"] = json!("wrong-pw-marker-77");
    let refused = saved(params).await;
    let (status, body) = get(&app, &owner, &format!("/v1/targets/{refused}/objects")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["reason"], "authentication_failed");
    assert!(!body.to_string().contains("wrong-pw-marker-77"));

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut params = crate::connections::params_for(&app, "unused-password");
    params["host"] = json!("127.0.0.1");
    params["port"] = json!(port);
    let unreachable = saved(params).await;
    let (status, body) = get(&app, &owner, &format!("/v1/targets/{unreachable}/objects")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "upstream_failed");
}

#[tokio::test]
async fn a_salesforce_orgs_writable_objects_and_their_fields_are_listed() {
    let standin = SalesforceStandIn::start().await;
    standin.define_account_and_contact();
    standin.define_object(
        ObjectDef::new("ContactHistory")
            .label("Contact History")
            .read_only(),
    );
    standin.define_object(
        ObjectDef::new("Invoice__c").label("Invoice").field(
            FieldDef::new("Number__c", FieldType::String)
                .external_id()
                .unique(),
        ),
    );
    let (app, owner, connection) = connected_org(&standin).await;

    let (status, listed) = get(&app, &owner, &format!("/v1/targets/{connection}/objects")).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(
        names(&listed),
        ["Account", "Contact", "Invoice__c"],
        "{listed}"
    );
    let invoice = &listed["objects"][2];
    assert_eq!(
        (
            &invoice["label"],
            &invoice["custom"],
            &invoice["createable"]
        ),
        (&json!("Invoice"), &json!(true), &json!(true))
    );
    let (_, found) = get(
        &app,
        &owner,
        &format!("/v1/targets/{connection}/objects?q=invoi"),
    )
    .await;
    assert_eq!(names(&found), ["Invoice__c"]);

    let (status, fields) = get(
        &app,
        &owner,
        &format!("/v1/targets/{connection}/objects/Contact/fields"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{fields}");
    let last = field(&fields, "LastName");
    assert_eq!(
        (&last["label"], &last["required"], &last["key"]),
        (&json!("Last Name"), &json!(true), &json!(false))
    );
    let first = field(&fields, "FirstName");
    assert_eq!(first["required"], false);
    let external = field(&fields, "External_Id__c");
    assert_eq!(
        (
            &external["key"],
            &external["external_id"],
            &external["createable"]
        ),
        (&json!(true), &json!(true), &json!(true))
    );
    let id = field(&fields, "Id");
    assert_eq!(
        (
            &id["key"],
            &id["required"],
            &id["createable"],
            &id["updateable"]
        ),
        (&json!(true), &json!(false), &json!(false), &json!(false))
    );
    assert_eq!(field(&fields, "Email")["type"], "email");

    let (status, _) = get(
        &app,
        &owner,
        &format!("/v1/targets/{connection}/objects/Spaceship__c/fields"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Salesforce down: its trouble, reported as such.
    standin.fail_next_calls(5, Fault::ServerUnavailable);
    let (status, body) = get(&app, &owner, &format!("/v1/targets/{connection}/objects")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "upstream_failed");
}

/// A login role of the test server, dropped when the guard goes (declare
/// it before the databases it has privileges in, so they go first).
struct Role(String);

impl Drop for Role {
    fn drop(&mut self) {
        use diesel::Connection;
        if let Ok(mut admin) =
            diesel::PgConnection::establish(&sluice_testkit::database_server_url())
        {
            let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS {}", self.0));
        }
    }
}

#[tokio::test]
async fn a_user_who_may_not_insert_into_a_table_is_not_offered_it() {
    use diesel::Connection;
    let role = Role(format!("sluice_loader_{}", uuid::Uuid::new_v4().simple()));
    let mut admin =
        diesel::PgConnection::establish(&sluice_testkit::database_server_url()).unwrap();
    admin
        .batch_execute(&format!(
            "CREATE ROLE {} LOGIN PASSWORD 'loader-password'",
            role.0
        ))
        .unwrap();
    let target = catalog_db();
    // May read people and crm.deals, and write only crm.deals.
    target
        .connect()
        .batch_execute(&format!(
            "GRANT USAGE ON SCHEMA crm TO {0};
             GRANT SELECT ON people, crm.deals TO {0};
             GRANT INSERT ON crm.deals TO {0};",
            role.0
        ))
        .unwrap();
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let mut params = crate::connections::params_for(&app, "loader-password");
    params["dbname"] = json!(target.name);
    params["user"] = json!(role.0);
    let res = crate::connections::create(&app, &owner, "loader", params).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let connection = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, listed) = get(&app, &owner, &format!("/v1/targets/{connection}/objects")).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(names(&listed), ["crm.deals"], "{listed}");
    drop(target);
}
