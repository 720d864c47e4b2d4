//! Mapping templates: saved per account, listed, applied to a new upload
//! by a job, refused when the upload lacks a column they map, bounded,
//! deleted, exported and erased with the account, and invisible to
//! another account.

use crate::account_export::{entry, export};
use crate::accounts::{account, call, member};
use crate::imports::{connect_target, contacts_csv, run_to_end, target_db, upload};
use crate::targets::send;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_testkit::{spawn_app, TestApp};

/// The mapping `contacts_csv` needs, as a template's entries.
fn entries() -> Value {
    crate::imports::contacts_mapping()
}

/// [`entries`] as the API writes them back (every setting named).
fn entries_shown() -> Value {
    let typed: Vec<sluice_connectors::mapping::FieldMapping> =
        serde_json::from_value(entries()).unwrap();
    serde_json::to_value(typed).unwrap()
}

async fn save(app: &TestApp, token: &str, name: &str, entries: Value) -> (StatusCode, Value) {
    let body = json!({"name": name, "entries": entries});
    send(
        app,
        Method::POST,
        token,
        "/v1/mapping-templates",
        Some(body),
    )
    .await
}

fn job_from(upload: &str, connection: &str, template: &str) -> Value {
    json!({
        "name": "contacts",
        "source": {"upload_id": upload},
        "target": {"connection_id": connection, "object": "contacts"},
        "operation": "insert",
        "mapping_template": template,
    })
}

#[tokio::test]
async fn a_saved_template_maps_a_new_upload_and_a_missing_column_is_named() {
    let app = spawn_app().await;
    let target = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;

    let (status, saved) = save(&app, &owner, "Monthly contacts", entries()).await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    assert_eq!(saved["name"], "Monthly contacts");
    assert_eq!(saved["entries"], entries_shown());
    let id = saved["id"].as_str().unwrap();
    let (_, listed) = send(&app, Method::GET, &owner, "/v1/mapping-templates", None).await;
    assert_eq!(listed["templates"], json!([saved]));
    let (status, shown) = send(
        &app,
        Method::GET,
        &owner,
        &format!("/v1/mapping-templates/{id}"),
        None,
    )
    .await;
    assert_eq!((status, &shown), (StatusCode::OK, &saved));

    let file = upload(&app, &owner, contacts_csv(3)).await;
    let (status, job) = send(
        &app,
        Method::POST,
        &owner,
        "/v1/jobs",
        Some(job_from(&file, &connection, id)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["mapping"], entries_shown());
    let run = run_to_end(&app, &owner, job["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let loaded: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM contacts WHERE source = 'import')",
    ))
    .get_result(&mut target.connect())
    .unwrap();
    assert_eq!(loaded, 3);

    // A file without `Amount` and `Joined`: refused, naming both.
    let short = upload(
        &app,
        &owner,
        b"Email;First Name\na@example.com;Ada\n".to_vec(),
    )
    .await;
    let (status, refused) = send(
        &app,
        Method::POST,
        &owner,
        "/v1/jobs",
        Some(job_from(&short, &connection, id)),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["field"], "mapping_template");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("Amount, Joined"), "{message}");

    let mut both = job_from(&file, &connection, id);
    both["mapping"] = entries();
    let (status, refused) = send(&app, Method::POST, &owner, "/v1/jobs", Some(both)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["field"], "mapping_template");

    // A job whose mapping was changed by hand takes the template again by
    // a change; the short file with it is refused and changes nothing.
    let job_path = format!("/v1/jobs/{}", job["id"].as_str().unwrap());
    let one_field = json!({"mapping": [{"source": "Email", "target": "email"}]});
    let (status, changed) = send(&app, Method::PATCH, &owner, &job_path, Some(one_field)).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["mapping"].as_array().unwrap().len(), 1);
    let (status, changed) = send(
        &app,
        Method::PATCH,
        &owner,
        &job_path,
        Some(json!({"mapping_template": id})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["mapping"], entries_shown());
    let (status, refused) = send(
        &app,
        Method::PATCH,
        &owner,
        &job_path,
        Some(json!({"source": {"upload_id": short}, "mapping_template": id})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["field"], "mapping_template");
    let (_, kept) = send(&app, Method::GET, &owner, &job_path, None).await;
    assert_eq!(kept["source"]["upload_id"], json!(file));
}

#[tokio::test]
async fn a_template_is_bounded_at_the_edge() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let many: Vec<Value> = (0..1_001)
        .map(|i| json!({"source": format!("c{i}"), "target": format!("f{i}")}))
        .collect();
    let twice = json!([{"source": "A", "target": "x"}, {"source": "B", "target": "x"}]);
    for (name, entries, field) in [
        ("x".repeat(201), entries(), "name"),
        ("   ".to_owned(), entries(), "name"),
        ("ok".to_owned(), json!([]), "entries"),
        ("ok".to_owned(), json!(many), "entries"),
        ("ok".to_owned(), twice, "entries"),
        (
            "ok".to_owned(),
            json!([{"source": "A", "target": "x", "transform": {"type": "shout"}}]),
            "mapping",
        ),
    ] {
        let (status, body) = save(&app, &owner, &name, entries).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    let (status, _) = save(&app, &owner, &"x".repeat(200), entries()).await;
    assert_eq!(status, StatusCode::CREATED);
    let teammate = member(&app, &owner, "grace@example.com").await;
    let (status, _) = save(&app, &teammate, "mine", entries()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, listed) = send(&app, Method::GET, &teammate, "/v1/mapping-templates", None).await;
    assert_eq!(
        listed["templates"].as_array().unwrap().len(),
        1,
        "members read them"
    );
}

#[tokio::test]
async fn a_deleted_template_is_gone_and_another_account_never_sees_one() {
    let app = spawn_app().await;
    let target = target_db();
    let (ada, _) = account(&app, "ada@example.com").await;
    let (bob, _) = account(&app, "bob@example.com").await;
    let (_, saved) = save(&app, &ada, "Monthly contacts", entries()).await;
    let id = saved["id"].as_str().unwrap();
    let path = format!("/v1/mapping-templates/{id}");

    let bobs = connect_target(&app, &bob, &target).await;
    let file = upload(&app, &bob, contacts_csv(1)).await;
    let (_, listed) = send(&app, Method::GET, &bob, "/v1/mapping-templates", None).await;
    assert_eq!(listed["templates"], json!([]));
    for method in [Method::GET, Method::DELETE] {
        let (status, body) = send(&app, method, &bob, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "not_found");
    }
    let (status, refused) = send(
        &app,
        Method::POST,
        &bob,
        "/v1/jobs",
        Some(job_from(&file, &bobs, id)),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["message"], "no such mapping template");

    assert_eq!(
        call(&app, Method::DELETE, &path, &ada).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, Method::GET, &path, &ada).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, Method::DELETE, &path, &ada).await.status(),
        StatusCode::NOT_FOUND
    );
    let (_, listed) = send(&app, Method::GET, &ada, "/v1/mapping-templates", None).await;
    assert_eq!(listed["templates"], json!([]));
}

#[tokio::test]
async fn templates_are_exported_and_erased_with_the_account() {
    let app = spawn_app().await;
    let (owner, me) = account(&app, "ada@example.com").await;
    let (_, saved) = save(&app, &owner, "Quartermaine orchard contacts", entries()).await;

    let res = export(&app, &owner).await;
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = res.bytes().await.unwrap().to_vec();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let exported: Value =
        serde_json::from_str(&entry(&mut archive, "mapping_templates.json")).unwrap();
    assert_eq!(exported, json!([saved]));
    let events = entry(&mut archive, "events.jsonl");
    assert!(
        events.contains("Quartermaine orchard contacts"),
        "opened in the history"
    );

    let account_id: uuid::Uuid = me["account_id"].as_str().unwrap().parse().unwrap();
    let res = app
        .client
        .delete(app.url("/v1/account"))
        .bearer_auth(&owner)
        .json(&json!({"confirm": "erase this account"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    use sluice_schema::schema::mapping_templates as t;
    let left: i64 = t::table
        .filter(t::account_id.eq(account_id))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(left, 0);
    let replayed = sluice_events::replay::replay(&mut app.conn(), false).unwrap();
    assert!(replayed.is_equal(), "{replayed:?}");
}
