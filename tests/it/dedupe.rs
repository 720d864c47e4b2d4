//! De-duplication through the API: rows that repeat an earlier (or later)
//! row on some mapped fields are skipped, counted in `rows_skipped` and
//! listed in skipped.csv with the row kept, into a PostgreSQL table and
//! into the Salesforce stand-in; the preview marks them; a de-duplication
//! on a field the mapping does not set refuses the job.

use crate::accounts::{account, call, call_json};
use crate::imports::{connect_target, result_file, run_to_end, target_db, upload};
use crate::salesforce_runs::{app_for, connect_org, contacts_by_email, create_job_into, run};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_testkit::salesforce::SalesforceStandIn;
use sluice_testkit::{spawn_app, TestApp, TestDb};

/// Ada three times (in two cases), Bob twice (once filtered out), a row
/// without an email and one whose name is too long (both fail), then Cy.
fn people() -> Vec<u8> {
    b"Email,Name,Country\n\
      ada@example.com,Ada,DE\n\
      bob@example.com,Bob,FR\n\
      ADA@example.com,Ada Two,DE\n\
      bob@example.com,Bob Two,DE\n\
      ,Nobody,DE\n\
      cy@example.com,A name far too long for the column,DE\n\
      cy@example.com,Cy,DE\n\
      ada@example.com,Ada Three,DE\n"
        .to_vec()
}

struct Setup {
    app: TestApp,
    target: TestDb,
    owner: String,
    connection: String,
    upload: String,
}

impl Setup {
    async fn new() -> Self {
        let app = spawn_app().await;
        let target = target_db();
        let (owner, _) = account(&app, "ada@example.com").await;
        let connection = connect_target(&app, &owner, &target).await;
        let upload = upload(&app, &owner, people()).await;
        Self {
            app,
            target,
            owner,
            connection,
            upload,
        }
    }

    /// `POST /v1/jobs` inserting the people with `extra` fields.
    async fn post_job(&self, extra: Value) -> reqwest::Response {
        let mut body = json!({
            "name": "people",
            "source": {"upload_id": self.upload},
            "target": {"connection_id": self.connection, "object": "contacts"},
            "operation": "insert",
            "mapping": [
                {"source": "Email", "target": "email"},
                {"source": "Name", "target": "first_name"},
            ],
            "filter": "[Country] = \"DE\"",
        });
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        self.app
            .client
            .post(self.app.url("/v1/jobs"))
            .bearer_auth(&self.owner)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn job(&self, extra: Value) -> String {
        let res = self.post_job(extra).await;
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }
}

/// `PATCH /v1/jobs/{job}` with `body`.
pub async fn patch_job(app: &TestApp, token: &str, job: &str, body: Value) -> reqwest::Response {
    app.client
        .patch(app.url(&format!("/v1/jobs/{job}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Person {
    #[diesel(sql_type = diesel::sql_types::Text)]
    email: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    first_name: Option<String>,
}

fn people_in(target: &TestDb) -> Vec<(String, Option<String>)> {
    diesel::sql_query("SELECT email, first_name FROM contacts ORDER BY email")
        .load::<Person>(&mut target.connect())
        .unwrap()
        .into_iter()
        .map(|p| (p.email, p.first_name))
        .collect()
}

/// The rows of a result file by their number, with their second column.
fn by_row(file: &[Vec<String>]) -> Vec<(String, String)> {
    file[1..]
        .iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect()
}

fn name(s: &str) -> Option<String> {
    Some(s.to_owned())
}

#[tokio::test]
async fn dedupe_keeps_the_first_of_rows_the_filter_and_mapping_let_through() {
    let s = Setup::new().await;
    let (app, owner) = (&s.app, &s.owner);
    let job = s
        .job(json!({"dedupe": {"fields": ["email"], "case_insensitive": true}}))
        .await;
    let shown = call_json(app, Method::GET, &format!("/v1/jobs/{job}"), owner).await;
    assert_eq!(
        shown["dedupe"],
        json!({"fields": ["email"], "case_insensitive": true, "keep": "first"})
    );
    assert_eq!(shown["blank_values"], "clear");

    let done = run_to_end(app, owner, &job).await;
    assert_eq!(done["status"], "partially_succeeded", "{done}");
    assert_eq!(done["rows_total"], 8);
    assert_eq!(done["rows_ok"], 3);
    assert_eq!(done["rows_failed"], 2);
    assert_eq!(done["rows_skipped"], 3);
    assert_eq!(
        people_in(&s.target),
        [
            ("ada@example.com".into(), name("Ada")),
            ("bob@example.com".into(), name("Bob Two")),
            ("cy@example.com".into(), name("Cy")),
        ]
    );
    let run_id = done["id"].as_str().unwrap();
    let skipped = result_file(app, owner, run_id, "skipped").await;
    assert_eq!(skipped[0], ["ROW", "REASON", "Email", "Name", "Country"]);
    let dup = "duplicate of row 1 (email)".to_owned();
    assert_eq!(
        by_row(&skipped),
        [
            ("2".into(), "the job's filter is false for this row".into()),
            ("3".into(), dup.clone()),
            ("8".into(), dup),
        ]
    );
    let errors = result_file(app, owner, run_id, "errors").await;
    let failed: Vec<&str> = errors[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(failed, ["5", "6"], "rows that fail are not de-duplicated");
}

#[tokio::test]
async fn dedupe_can_keep_the_last_reading_the_source_twice() {
    let s = Setup::new().await;
    let (app, owner) = (&s.app, &s.owner);
    let dedupe = json!({"fields": ["email"], "case_insensitive": true, "keep": "last"});
    let job = s.job(json!({ "dedupe": dedupe })).await;

    let done = run_to_end(app, owner, &job).await;
    assert_eq!(done["rows_ok"], 3, "{done}");
    assert_eq!(done["rows_failed"], 2);
    assert_eq!(done["rows_skipped"], 3);
    assert_eq!(
        people_in(&s.target),
        [
            ("ada@example.com".into(), name("Ada Three")),
            ("bob@example.com".into(), name("Bob Two")),
            ("cy@example.com".into(), name("Cy")),
        ]
    );
    let run_id = done["id"].as_str().unwrap();
    let skipped = result_file(app, owner, run_id, "skipped").await;
    let dup = "duplicate of row 8 (email)".to_owned();
    assert_eq!(
        by_row(&skipped),
        [
            ("1".into(), dup.clone()),
            ("2".into(), "the job's filter is false for this row".into()),
            ("3".into(), dup),
        ]
    );

    // Compared exactly, the capitalised Ada is a row of her own.
    let res = patch_job(
        app,
        owner,
        &job,
        json!({"dedupe": {"fields": ["email"], "keep": "last"}}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let preview = call_json(app, Method::POST, &format!("/v1/jobs/{job}/preview"), owner).await;
    let skipped: Vec<(u64, &str)> = preview["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| Some((r["row"].as_u64()?, r["skipped"].as_str()?)))
        .collect();
    assert_eq!(
        skipped,
        [
            (1, "duplicate of row 8 (email)"),
            (2, "the job's filter is false for this row")
        ]
    );
    assert_eq!(preview["rows"][2]["values"]["email"], "ADA@example.com");

    // Keeping the last, the preview reads the whole file first, as a run
    // does: the first row's duplicate is past the two rows shown.
    let preview = call_json(
        app,
        Method::POST,
        &format!("/v1/jobs/{job}/preview?rows=2"),
        owner,
    )
    .await;
    assert_eq!(preview["rows"].as_array().unwrap().len(), 2);
    assert_eq!(preview["rows"][0]["skipped"], "duplicate of row 8 (email)");
}

#[tokio::test]
async fn a_preview_marks_the_rows_a_run_would_skip_as_duplicates() {
    let s = Setup::new().await;
    let (app, owner) = (&s.app, &s.owner);
    let job = s
        .job(json!({"dedupe": {"fields": ["email", "first_name"]}}))
        .await;
    let preview = call_json(app, Method::POST, &format!("/v1/jobs/{job}/preview"), owner).await;
    let rows = preview["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 8);
    // Email and name together repeat nowhere: nothing is a duplicate.
    assert!(rows
        .iter()
        .all(|r| r["skipped"] != json!("duplicate of row 1 (email, first_name)")));

    let res = patch_job(
        app,
        owner,
        &job,
        json!({"dedupe": {"fields": ["email"], "case_insensitive": true}}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let preview = call_json(app, Method::POST, &format!("/v1/jobs/{job}/preview"), owner).await;
    let rows = preview["rows"].as_array().unwrap();
    assert_eq!(rows[2]["skipped"], "duplicate of row 1 (email)");
    assert_eq!(rows[2]["values"], json!({}));
    assert_eq!(rows[7]["skipped"], "duplicate of row 1 (email)");
    assert!(rows[3].get("skipped").is_none(), "{}", rows[3]);
    assert!(!rows[4]["errors"].as_array().unwrap().is_empty());
    assert_eq!(people_in(&s.target), [], "a preview writes nothing");
}

/// The 422 a job is refused with: its field.
async fn refused_field(res: reqwest::Response) -> String {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(!message.contains("sometimes"), "{message}");
    body["error"]["field"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn dedupe_and_blank_values_that_are_wrong_refuse_the_job_and_nothing_is_saved() {
    let s = Setup::new().await;
    let (app, owner) = (&s.app, &s.owner);
    let cases = [
        (
            json!({"dedupe": {"fields": ["email", "phone"]}}),
            "dedupe.fields[1]",
        ),
        (json!({"dedupe": {"fields": []}}), "dedupe.fields"),
        (
            json!({"dedupe": {"fields": vec!["email"; sluice_schema::job::MAX_DEDUPE_FIELDS + 1]}}),
            "dedupe.fields",
        ),
        (
            json!({"dedupe": {"fields": ["email"], "keep": "sometimes"}}),
            "dedupe.keep",
        ),
        (json!({"blank_values": "sometimes"}), "blank_values"),
    ];
    for (extra, field) in cases {
        assert_eq!(
            refused_field(s.post_job(extra.clone()).await).await,
            field,
            "{extra}"
        );
    }
    let jobs = call_json(app, Method::GET, "/v1/jobs", owner).await;
    assert_eq!(jobs["jobs"], json!([]), "no refused job was saved");

    let job = s.job(json!({})).await;
    let res = patch_job(
        app,
        owner,
        &job,
        json!({"dedupe": {"fields": ["phone"]}, "blank_values": "leave"}),
    )
    .await;
    assert_eq!(refused_field(res).await, "dedupe.fields[0]");
    let shown = call_json(app, Method::GET, &format!("/v1/jobs/{job}"), owner).await;
    assert!(shown.get("dedupe").is_none(), "{shown}");
    assert_eq!(shown["blank_values"], "clear");
}

#[tokio::test]
async fn dedupe_skips_the_same_rows_into_salesforce() {
    let standin = SalesforceStandIn::start().await;
    let app = app_for(&standin, 2_000, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    let upload_id = upload(&app, &owner, people()).await;
    let job = json!({
        "operation": "insert",
        "key_fields": [],
        "mapping": [
            {"source": "Email", "target": "Email", "transform": {"type": "lower"}},
            {"source": "Name", "target": "LastName"},
        ],
        "filter": "[Country] = \"DE\" AND NOT ISBLANK([Email])",
        "dedupe": {"fields": ["Email"], "keep": "last"},
    });
    let job = create_job_into(&app, &owner, &upload_id, &org, "Contact", job).await;
    let done = run(&app, &owner, &job).await;
    assert_eq!(done["rows_ok"], 3, "{done}");
    assert_eq!(done["rows_skipped"], 5, "{done}");
    let stored = contacts_by_email(&standin);
    assert_eq!(stored.len(), 3);
    assert_eq!(stored["ada@example.com"]["LastName"], "Ada Three");
    assert_eq!(stored["cy@example.com"]["LastName"], "Cy");
    let run_id = done["id"].as_str().unwrap();
    let skipped = result_file(&app, &owner, run_id, "skipped").await;
    let reasons: Vec<(String, String)> = by_row(&skipped);
    assert_eq!(
        reasons[0],
        ("1".into(), "duplicate of row 8 (Email)".into())
    );
    assert_eq!(
        reasons[4],
        ("6".into(), "duplicate of row 7 (Email)".into())
    );
}

#[tokio::test]
async fn a_preview_keeping_the_last_of_duplicates_reads_at_most_a_bounded_source() {
    let s = Setup::new().await;
    let rows = sluice_api::PREVIEW_LAST_PASS_ROWS + 1;
    let job = s
        .job(json!({
            "source": {
                "connection_id": s.connection,
                "query": format!(
                    "SELECT 'p' || g || '@example.com' AS \"Email\", 'P' AS \"Name\", 'DE' AS \"Country\" \
                     FROM generate_series(1, {rows}) AS g"
                ),
            },
            "dedupe": {"fields": ["email"], "keep": "last"},
        }))
        .await;
    let res = call(
        &s.app,
        Method::POST,
        &format!("/v1/jobs/{job}/preview?rows=2"),
        &s.owner,
    )
    .await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "dedupe");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("run a trial"), "{message}");

    // Keeping the first, the preview reads only the rows it shows.
    patch_job(
        &s.app,
        &s.owner,
        &job,
        json!({"dedupe": {"fields": ["email"]}}),
    )
    .await;
    let preview = call_json(
        &s.app,
        Method::POST,
        &format!("/v1/jobs/{job}/preview?rows=2"),
        &s.owner,
    )
    .await;
    assert_eq!(preview["rows"].as_array().unwrap().len(), 2, "{preview}");
}
