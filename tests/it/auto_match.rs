//! Auto-match: an upload's header matched to a target's fields by name,
//! label and synonym, shown by `POST /v1/mappings/suggest` and kept by a
//! job created with `"mapping": "auto"`.

use crate::accounts::account;
use crate::imports::{connect_target, run_to_end, upload};
use crate::targets::{connected_org, people_db, send};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_testkit::salesforce::SalesforceStandIn;
use sluice_testkit::{spawn_app, TestApp};

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    send(app, Method::POST, token, path, Some(body)).await
}

/// `(source, target, rule, confidence)` of each match.
fn matches(found: &Value) -> Vec<(String, String, String, f64)> {
    found["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["source"].as_str().unwrap().to_owned(),
                m["target"].as_str().unwrap().to_owned(),
                m["rule"].as_str().unwrap().to_owned(),
                (m["confidence"].as_f64().unwrap() * 100.0).round() / 100.0,
            )
        })
        .collect()
}

fn m(source: &str, target: &str, rule: &str, confidence: f64) -> (String, String, String, f64) {
    (source.into(), target.into(), rule.into(), confidence)
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Person {
    #[diesel(sql_type = diesel::sql_types::Text)]
    email: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    first_name: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    phone: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    company: String,
}

#[tokio::test]
async fn an_auto_mapped_job_matches_the_header_and_loads_its_rows() {
    let app = spawn_app().await;
    let target = people_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let people = json!({"connection_id": connection, "object": "people"});

    // No column for `company`, which a row needs.
    let short = upload(
        &app,
        &owner,
        b"email,First Name,Telephone,Shoe size\na@example.com,Ada,1,42\n".to_vec(),
    )
    .await;
    let (status, found) = post(
        &app,
        &owner,
        "/v1/mappings/suggest",
        json!({"source": {"upload_id": short}, "target": people}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(
        matches(&found),
        [
            m("email", "email", "exact", 1.0),
            m("First Name", "first_name", "name", 0.9),
            m("Telephone", "phone", "synonym", 0.7),
        ]
    );
    assert_eq!(found["unmatched_columns"], json!(["Shoe size"]));
    assert_eq!(found["unmapped_required"], json!(["company"]));
    let job = |upload: &str| {
        json!({
            "name": "people",
            "source": {"upload_id": upload},
            "target": people,
            "operation": "insert",
            "mapping": "auto",
        })
    };
    let (status, refused) = post(&app, &owner, "/v1/jobs", job(&short)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["field"], "mapping");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("company"),
        "{refused}"
    );

    let csv = "EMAIL,First Name,Telephone,Organisation,Shoe size\n\
               ada@example.com,Ada,+44 1,Analytical Engines,38\n\
               grace@example.com,Grace,+1 2,Navy,37\n";
    let full = upload(&app, &owner, csv.as_bytes().to_vec()).await;
    let (status, created) = post(&app, &owner, "/v1/jobs", job(&full)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        matches(&created["auto_match"]),
        [
            m("EMAIL", "email", "name", 0.9),
            m("First Name", "first_name", "name", 0.9),
            m("Telephone", "phone", "synonym", 0.7),
            m("Organisation", "company", "synonym", 0.7),
        ]
    );
    assert_eq!(
        created["auto_match"]["unmatched_columns"],
        json!(["Shoe size"])
    );
    assert_eq!(
        created["mapping"][3],
        json!({"source": "Organisation", "target": "company"})
    );

    // A job changed to a file without the telephone column is matched
    // again when asked: the phone is no longer mapped.
    let id = created["id"].as_str().unwrap();
    let fewer = "EMAIL,First Name,Organisation\nlin@example.com,Lin,Mint\n";
    let fewer = upload(&app, &owner, fewer.as_bytes().to_vec()).await;
    let (status, changed) = send(
        &app,
        Method::PATCH,
        &owner,
        &format!("/v1/jobs/{id}"),
        Some(json!({"source": {"upload_id": fewer}, "mapping": "auto"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        matches(&changed["auto_match"]),
        [
            m("EMAIL", "email", "name", 0.9),
            m("First Name", "first_name", "name", 0.9),
            m("Organisation", "company", "synonym", 0.7),
        ]
    );
    assert_eq!(changed["mapping"].as_array().unwrap().len(), 3);
    // Changed back to the full file and matched again.
    let (status, changed) = send(
        &app,
        Method::PATCH,
        &owner,
        &format!("/v1/jobs/{id}"),
        Some(json!({"source": {"upload_id": full}, "mapping": "auto"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["mapping"], created["mapping"]);

    let run = run_to_end(&app, &owner, created["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let rows: Vec<Person> =
        diesel::sql_query("SELECT email, first_name, phone, company FROM people ORDER BY id")
            .load(&mut target.connect())
            .unwrap();
    assert_eq!(
        rows,
        [
            Person {
                email: "ada@example.com".into(),
                first_name: Some("Ada".into()),
                phone: Some("+44 1".into()),
                company: "Analytical Engines".into(),
            },
            Person {
                email: "grace@example.com".into(),
                first_name: Some("Grace".into()),
                phone: Some("+1 2".into()),
                company: "Navy".into(),
            },
        ]
    );
}

#[tokio::test]
async fn salesforce_fields_match_by_label_and_synonym_and_no_field_takes_two_columns() {
    let standin = SalesforceStandIn::start().await;
    standin.define_account_and_contact();
    let (app, owner, connection) = connected_org(&standin).await;
    let csv =
        "Email,E-mail,first name,Business Phone,Given name,Notes\nada@example.com,x,Ada,1,A,n\n";
    let file = upload(&app, &owner, csv.as_bytes().to_vec()).await;
    let (status, found) = post(
        &app,
        &owner,
        "/v1/mappings/suggest",
        json!({
            "source": {"upload_id": file},
            "target": {"connection_id": connection, "object": "Contact"},
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(
        matches(&found),
        [
            m("Email", "Email", "exact", 1.0),
            m("first name", "FirstName", "name", 0.9),
            m("Business Phone", "Phone", "label", 0.8),
        ]
    );
    // Email and FirstName went to better matches.
    assert_eq!(
        found["unmatched_columns"],
        json!(["E-mail", "Given name", "Notes"])
    );
    assert_eq!(found["unmapped_required"], json!(["LastName"]));

    let (status, missing) = post(
        &app,
        &owner,
        "/v1/mappings/suggest",
        json!({
            "source": {"upload_id": file},
            "target": {"connection_id": connection, "object": "Spaceship__c"},
        }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{missing}");
    assert_eq!(missing["error"]["field"], "target.object");
}

#[tokio::test]
async fn another_accounts_upload_or_connection_cannot_be_matched() {
    let app = spawn_app().await;
    let target = people_db();
    let (ada, _) = account(&app, "ada@example.com").await;
    let (bob, _) = account(&app, "bob@example.com").await;
    let connection = connect_target(&app, &ada, &target).await;
    let file = upload(&app, &ada, b"email\na@example.com\n".to_vec()).await;
    let own = upload(&app, &bob, b"email\na@example.com\n".to_vec()).await;
    for (upload, field) in [(&file, "source.upload_id"), (&own, "target.connection_id")] {
        let (status, body) = post(
            &app,
            &bob,
            "/v1/mappings/suggest",
            json!({
                "source": {"upload_id": upload},
                "target": {"connection_id": connection, "object": "people"},
            }),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
}
