//! What a blank value does to a field a run changes: `clear` (the default,
//! as runs always did) sets it to NULL in PostgreSQL and to null in
//! Salesforce (`#N/A` in a Bulk upload, `null` in a Collections record);
//! `leave` keeps the field's value. The preview says which, field by field.

use crate::accounts::{account, call_json};
use crate::dedupe::patch_job;
use crate::imports::{connect_target, run_to_end, target_db, upload};
use crate::salesforce_runs::{app_for, connect_org, create_job_into, run};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_testkit::salesforce::SalesforceStandIn;
use sluice_testkit::TestDb;

#[derive(QueryableByName, Debug, PartialEq)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::Text)]
    email: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    first_name: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    amount: Option<String>,
}

fn rows(target: &TestDb) -> Vec<(String, Option<String>, Option<String>)> {
    diesel::sql_query(
        "SELECT email, first_name, amount::text AS amount FROM contacts ORDER BY email",
    )
    .load::<Row>(&mut target.connect())
    .unwrap()
    .into_iter()
    .map(|r| (r.email, r.first_name, r.amount))
    .collect()
}

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

#[tokio::test]
async fn blank_values_leave_or_clear_postgres_fields_an_update_or_upsert_changes() {
    let app = sluice_testkit::spawn_app().await;
    let target = target_db();
    target
        .connect()
        .batch_execute(
            "INSERT INTO contacts (email, first_name, amount) VALUES \
             ('ada@example.com', 'Ada', 5), ('bob@example.com', 'Bob', 7)",
        )
        .unwrap();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let csv =
        b"Email,Name,Amount\nada@example.com,,1\nbob@example.com,Robert,\ncy@example.com,,2\n";
    let upload = upload(&app, &owner, csv.to_vec()).await;
    let res = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(&owner)
        .json(&json!({
            "name": "people",
            "source": {"upload_id": upload},
            "target": {"connection_id": connection, "object": "contacts"},
            "operation": "update",
            "key_fields": ["email"],
            "mapping": [
                {"source": "Email", "target": "email"},
                {"source": "Name", "target": "first_name"},
                {"source": "Amount", "target": "amount"},
            ],
            "blank_values": "leave",
        }))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let job: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["blank_values"], "leave");
    let job = job["id"].as_str().unwrap().to_owned();

    let preview = call_json(
        &app,
        Method::POST,
        &format!("/v1/jobs/{job}/preview"),
        &owner,
    )
    .await;
    assert_eq!(preview["rows"][0]["blanks"], json!({"first_name": "left"}));
    assert_eq!(preview["rows"][1]["blanks"], json!({"amount": "left"}));

    let done = run_to_end(&app, &owner, &job).await;
    assert_eq!(done["rows_ok"], 2, "{done}");
    assert_eq!(done["rows_failed"], 1, "cy has no row to update");
    assert_eq!(
        rows(&target),
        [
            ("ada@example.com".into(), some("Ada"), some("1")),
            ("bob@example.com".into(), some("Robert"), some("7")),
        ]
    );

    // Cleared, as an upsert: the blanks become NULL; a new row's too.
    let res = patch_job(
        &app,
        &owner,
        &job,
        json!({"blank_values": "clear", "operation": "upsert"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let preview = call_json(
        &app,
        Method::POST,
        &format!("/v1/jobs/{job}/preview"),
        &owner,
    )
    .await;
    assert_eq!(
        preview["rows"][0]["blanks"],
        json!({"first_name": "cleared"})
    );
    let done = run_to_end(&app, &owner, &job).await;
    assert_eq!(done["rows_ok"], 3, "{done}");
    assert_eq!(
        rows(&target),
        [
            ("ada@example.com".into(), None, some("1")),
            ("bob@example.com".into(), some("Robert"), None),
            ("cy@example.com".into(), None, some("2")),
        ]
    );

    // Leaving blanks as an upsert keeps the fields; an insert writes NULL.
    target
        .connect()
        .batch_execute("UPDATE contacts SET first_name = 'Ada', amount = 9")
        .unwrap();
    let res = patch_job(&app, &owner, &job, json!({"blank_values": "leave"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let done = run_to_end(&app, &owner, &job).await;
    assert_eq!(done["rows_ok"], 3, "{done}");
    assert_eq!(
        rows(&target),
        [
            ("ada@example.com".into(), some("Ada"), some("1")),
            ("bob@example.com".into(), some("Robert"), some("9")),
            ("cy@example.com".into(), some("Ada"), some("2")),
        ]
    );
}

/// Two contacts with titles, updated by a job that leaves blanks (Ada's)
/// and one that clears them (Bob's), by Collections or, with
/// `bulk_above_rows` 0, by Bulk: Ada's and Bob's titles as stored.
async fn titles_after_updates(bulk_above_rows: usize) -> (Value, Value) {
    let standin = SalesforceStandIn::start().await;
    let app = app_for(&standin, bulk_above_rows, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    let ids = standin.insert_records(
        "Contact",
        [
            json!({"LastName": "Lovelace", "Email": "ada@example.com", "Title": "Dr"}),
            json!({"LastName": "Builder", "Email": "bob@example.com", "Title": "Prof"}),
        ],
    );
    for (id, blanks) in ids.iter().zip(["leave", "clear"]) {
        let csv = format!("Id,Name,Title\n{id},Renamed,\n");
        let upload_id = upload(&app, &owner, csv.into_bytes()).await;
        let job = json!({
            "operation": "update",
            "key_fields": [],
            "mapping": [
                {"source": "Id", "target": "Id"},
                {"source": "Name", "target": "LastName"},
                {"source": "Title", "target": "Title"},
            ],
            "blank_values": blanks,
        });
        let job = create_job_into(&app, &owner, &upload_id, &org, "Contact", job).await;
        let done = run(&app, &owner, &job).await;
        assert_eq!(done["rows_ok"], 1, "{done}");
    }
    let records = standin.records("Contact");
    let title = |id: &str| {
        let record = records
            .iter()
            .find(|r| r.get("Id").and_then(Value::as_str) == Some(id))
            .unwrap();
        assert_eq!(record["LastName"], "Renamed");
        record.get("Title").cloned().unwrap_or(Value::Null)
    };
    (title(&ids[0]), title(&ids[1]))
}

#[tokio::test]
async fn blank_values_leave_or_clear_salesforce_fields_by_collections() {
    let (left, cleared) = titles_after_updates(2_000).await;
    assert_eq!(left, "Dr");
    assert_eq!(cleared, Value::Null);
}

#[tokio::test]
async fn blank_values_leave_or_clear_salesforce_fields_by_bulk() {
    let (left, cleared) = titles_after_updates(0).await;
    assert_eq!(left, "Dr");
    assert_eq!(cleared, Value::Null);
}
