//! The clean step through the API: fields computed by formulas, a filter
//! that skips rows (counted in `rows_skipped`, listed in skipped.csv),
//! into a PostgreSQL table and into the Salesforce stand-in, and in the
//! preview exactly as a run writes them. A formula that is wrong refuses
//! the job; a row a formula cannot compute fails alone, and its reason
//! never quotes the cell.

use crate::accounts::{account, call, call_json};
use crate::imports::{connect_target, result_file, run_to_end, target_db, upload, Contact};
use crate::salesforce_runs::{app_for, connect_org, contacts_by_email, create_job_into, run};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_testkit::salesforce::SalesforceStandIn;
use sluice_testkit::{spawn_app, TestApp, TestDb};

/// A cell no error message may quote.
const SECRET_QTY: &str = "seven-and-a-half";

/// Four people: one from France (filtered out), one whose quantity is not
/// a number, one whose quantity is 0, and Ada.
fn people() -> Vec<u8> {
    format!(
        "Email,Name,Price,Qty,Country\n\
         \x20Ada@Example.com ,Ada Lovelace,2.5,4,DE\n\
         bob@example.com,Bob Builder,1,1,FR\n\
         cy@example.com,Cy Young,3,{SECRET_QTY},DE\n\
         di@example.com,Di Prince,5,0,DE\n"
    )
    .into_bytes()
}

fn formula_mapping() -> Value {
    json!([
        {"formula": "LOWER(TRIM([Email]))", "target": "email"},
        {"formula": "LEFT([Name], 3)", "target": "first_name", "transform": {"type": "upper"}},
        {"formula": "[Price] / [Qty]", "target": "amount"},
        {"formula": "TODAY()", "target": "joined"},
        {"target": "source", "transform": {"type": "constant", "value": "import"}},
    ])
}

async fn created(res: reqwest::Response) -> String {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// An account with a PostgreSQL target and the people file uploaded.
struct Setup {
    app: TestApp,
    target: TestDb,
    owner: String,
    connection: String,
    upload: String,
}

impl Setup {
    /// `POST /v1/jobs` of `mapping` and `filter` into `contacts`.
    async fn post_job(&self, mapping: Value, filter: Value) -> reqwest::Response {
        self.app
            .client
            .post(self.app.url("/v1/jobs"))
            .bearer_auth(&self.owner)
            .json(&json!({
                "name": "people",
                "source": {"upload_id": self.upload},
                "target": {"connection_id": self.connection, "object": "contacts"},
                "operation": "insert",
                "mapping": mapping,
                "filter": filter,
            }))
            .send()
            .await
            .unwrap()
    }

    /// A job of [`formula_mapping`] with `filter`: its id.
    async fn job(&self, filter: Value) -> String {
        created(self.post_job(formula_mapping(), filter).await).await
    }
}

async fn setup() -> Setup {
    let app = spawn_app().await;
    let target = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let upload = upload(&app, &owner, people()).await;
    Setup {
        app,
        target,
        owner,
        connection,
        upload,
    }
}

#[tokio::test]
async fn formulas_compute_fields_and_a_filter_skips_rows_into_a_postgres_table() {
    let s = setup().await;
    let (app, owner, target) = (&s.app, &s.owner, &s.target);
    let job = s.job(json!("[Country] = \"DE\"")).await;
    let shown = call_json(app, Method::GET, &format!("/v1/jobs/{job}"), owner).await;
    assert_eq!(shown["filter"], "[Country] = \"DE\"");
    assert_eq!(shown["mapping"][2]["formula"], "[Price] / [Qty]");

    let done = run_to_end(app, owner, &job).await;
    assert_eq!(done["status"], "partially_succeeded", "{done}");
    assert_eq!(done["rows_total"], 4);
    assert_eq!(done["rows_ok"], 1);
    assert_eq!(done["rows_failed"], 2);
    assert_eq!(done["rows_skipped"], 1);

    // TODAY() is the day the run was requested, by the platform's clock.
    let requested: chrono::DateTime<chrono::Utc> =
        done["requested_at"].as_str().unwrap().parse().unwrap();
    let rows: Vec<Contact> = diesel::sql_query(
        "SELECT email, first_name, amount::text AS amount, joined::text AS joined, source \
         FROM contacts",
    )
    .load(&mut target.connect())
    .unwrap();
    assert_eq!(
        rows,
        [Contact {
            email: "ada@example.com".into(),
            first_name: Some("ADA".into()),
            amount: "0.625".into(),
            joined: requested.format("%Y-%m-%d").to_string(),
            source: "import".into(),
        }]
    );

    let run_id = done["id"].as_str().unwrap();
    let errors = result_file(app, owner, run_id, "errors").await;
    assert_eq!(
        errors[0],
        ["ROW", "ERROR", "Email", "Name", "Price", "Qty", "Country"]
    );
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert_eq!(errors[1][0], "3");
    assert!(
        errors[1][1].starts_with("amount: [Qty] is not a number"),
        "{:?}",
        errors[1]
    );
    assert!(!errors[1][1].contains(SECRET_QTY), "{:?}", errors[1]);
    assert_eq!(errors[1][5], SECRET_QTY, "the row is there as it was read");
    assert_eq!(errors[2][0], "4");
    assert!(
        errors[2][1].starts_with("amount: division by zero"),
        "{:?}",
        errors[2]
    );

    let skipped = result_file(app, owner, run_id, "skipped").await;
    assert_eq!(
        skipped,
        [
            vec!["ROW", "REASON", "Email", "Name", "Price", "Qty", "Country"],
            vec![
                "2",
                "the job's filter is false for this row",
                "bob@example.com",
                "Bob Builder",
                "1",
                "1",
                "FR"
            ],
        ]
    );
    let success = result_file(app, owner, run_id, "success").await;
    assert_eq!(success.len(), 2);
    assert_eq!(success[1][0], "1");
}

#[tokio::test]
async fn a_filter_that_drops_every_row_gives_a_run_that_succeeds_with_all_skipped() {
    let s = setup().await;
    let (app, owner, target) = (&s.app, &s.owner, &s.target);
    let job = s.job(json!("[Country] = \"XX\"")).await;

    let done = run_to_end(app, owner, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["rows_total"], 4);
    assert_eq!(done["rows_ok"], 0);
    assert_eq!(done["rows_failed"], 0);
    assert_eq!(done["rows_skipped"], 4);
    let run_id = done["id"].as_str().unwrap();
    let skipped = result_file(app, owner, run_id, "skipped").await;
    let numbers: Vec<&str> = skipped[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(numbers, ["1", "2", "3", "4"]);
    assert_eq!(result_file(app, owner, run_id, "errors").await.len(), 1);
    assert_eq!(result_file(app, owner, run_id, "success").await.len(), 1);
    let count: i64 = contacts_count(target);
    assert_eq!(count, 0);
}

fn contacts_count(target: &TestDb) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query("SELECT count(*) AS n FROM contacts")
        .get_result::<N>(&mut target.connect())
        .unwrap()
        .n
}

/// The 422 a job is refused with: its error body.
async fn refused(res: reqwest::Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid", "{body}");
    body["error"].clone()
}

#[tokio::test]
async fn a_formula_or_filter_that_is_wrong_refuses_the_job_and_nothing_is_saved() {
    let s = setup().await;
    let (app, owner) = (&s.app, &s.owner);
    let with = |at: usize, formula: &str| {
        let mut mapping = formula_mapping();
        mapping[at]["formula"] = json!(formula);
        mapping
    };

    let res = s.post_job(with(0, "[Emial]"), Value::Null).await;
    let error = refused(res).await;
    assert_eq!(error["field"], "mapping[0].formula");
    assert_eq!(
        error["message"],
        "mapping[0].formula: at position 1: no column named Emial; did you mean Email?"
    );

    let res = s.post_job(with(2, "[Price] /"), Value::Null).await;
    let error = refused(res).await;
    assert_eq!(error["field"], "mapping[2].formula");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("mapping[2].formula: at position 10: "),
        "{message}"
    );

    let too_long = format!("\"{}\"", "x".repeat(sluice_connectors::formula::MAX_CHARS));
    let res = s.post_job(with(1, &too_long), Value::Null).await;
    let error = refused(res).await;
    assert!(
        error["message"].as_str().unwrap().contains("at most 4096"),
        "{error}"
    );

    let filter = json!("[Contry] = \"DE\"");
    let res = s.post_job(formula_mapping(), filter).await;
    let error = refused(res).await;
    assert_eq!(error["field"], "filter");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("filter: at position 1: no column named Contry; did you mean Country?"),
        "{error}"
    );
    let jobs = call_json(app, Method::GET, "/v1/jobs", owner).await;
    assert_eq!(jobs["jobs"], json!([]), "no refused job was saved");

    // A change is checked the same way, and a refused one changes nothing.
    let job = s.job(Value::Null).await;
    let patch = |body: Value| {
        app.client
            .patch(app.url(&format!("/v1/jobs/{job}")))
            .bearer_auth(owner)
            .json(&body)
            .send()
    };
    let error = refused(patch(json!({"filter": "NOT"})).await.unwrap()).await;
    assert_eq!(error["field"], "filter");
    let res = patch(json!({"filter": "[Qty] > 0"})).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let shown = call_json(app, Method::GET, &format!("/v1/jobs/{job}"), owner).await;
    assert_eq!(shown["filter"], "[Qty] > 0");
    let res = patch(json!({"filter": null})).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let shown = call_json(app, Method::GET, &format!("/v1/jobs/{job}"), owner).await;
    assert!(shown.get("filter").is_none(), "{shown}");
}

#[tokio::test]
async fn a_preview_shows_formula_results_and_marks_the_rows_the_filter_skips() {
    let s = setup().await;
    let (app, owner, target) = (&s.app, &s.owner, &s.target);
    let job = s.job(json!("[Country] = \"DE\"")).await;

    let res = call(app, Method::POST, &format!("/v1/jobs/{job}/preview"), owner).await;
    assert_eq!(res.status(), StatusCode::OK);
    let preview: Value = res.json().await.unwrap();
    let rows = preview["rows"].as_array().unwrap();
    let numbers: Vec<u64> = rows.iter().map(|r| r["row"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(
        rows[0]["values"],
        json!({"email": "ada@example.com", "first_name": "ADA", "amount": "0.625", "joined": today, "source": "import"})
    );
    assert!(rows[0].get("skipped").is_none(), "{}", rows[0]);
    assert_eq!(rows[1]["skipped"], "the job's filter is false for this row");
    assert_eq!(rows[1]["values"], json!({}));
    assert_eq!(rows[1]["errors"], json!([]));
    let reason = rows[2]["errors"][0].as_str().unwrap();
    assert!(
        reason.starts_with("amount: [Qty] is not a number"),
        "{reason}"
    );
    assert!(!reason.contains(SECRET_QTY), "{reason}");
    assert!(rows[3]["errors"][0]
        .as_str()
        .unwrap()
        .starts_with("amount: division by zero"));
    assert_eq!(contacts_count(target), 0, "a preview writes nothing");
}

#[tokio::test]
async fn formulas_and_a_filter_write_to_salesforce_as_to_postgres() {
    let standin = SalesforceStandIn::start().await;
    let app = app_for(&standin, 2_000, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    let upload_id = upload(&app, &owner, people()).await;
    let job = json!({
        "operation": "insert",
        "key_fields": [],
        "mapping": [
            {"formula": "SPLIT([Name], \" \", -1)", "target": "LastName", "transform": {"type": "upper"}},
            {"formula": "LOWER(TRIM([Email]))", "target": "Email"},
            {"formula": "DATE(\"2000-01-01\", \"%Y-%m-%d\") + [Qty] / [Qty] - 1", "target": "Birthdate"},
        ],
        "filter": "[Country] <> \"FR\"",
    });
    let job = create_job_into(&app, &owner, &upload_id, &org, "Contact", job).await;

    let preview: Value = call_json(
        &app,
        Method::POST,
        &format!("/v1/jobs/{job}/preview"),
        &owner,
    )
    .await;
    assert_eq!(
        preview["rows"][0]["values"],
        json!({"LastName": "LOVELACE", "Email": "ada@example.com", "Birthdate": "2000-01-01"})
    );
    assert_eq!(
        preview["rows"][1]["skipped"],
        "the job's filter is false for this row"
    );

    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "partially_succeeded", "{done}");
    assert_eq!(done["rows_ok"], 1);
    assert_eq!(done["rows_failed"], 2);
    assert_eq!(done["rows_skipped"], 1);
    let stored = contacts_by_email(&standin);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored["ada@example.com"]["LastName"], "LOVELACE");
    assert_eq!(stored["ada@example.com"]["Birthdate"], "2000-01-01");

    let run_id = done["id"].as_str().unwrap();
    let errors = result_file(&app, &owner, run_id, "errors").await;
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[1][1].starts_with("Birthdate: "), "{:?}", errors[1]);
    assert!(!errors[1][1].contains(SECRET_QTY), "{:?}", errors[1]);
    let skipped = result_file(&app, &owner, run_id, "skipped").await;
    assert_eq!(skipped.len(), 2);
    assert_eq!(skipped[1][0], "2");
    assert_eq!(skipped[1][2], "bob@example.com");
}

#[tokio::test]
async fn a_formula_is_tried_on_the_first_rows_as_it_is_typed_and_a_wrong_one_is_placed() {
    let s = setup().await;
    let check = |body: Value| {
        s.app
            .client
            .post(s.app.url("/v1/formulas/check"))
            .bearer_auth(&s.owner)
            .json(&body)
            .send()
    };
    let source = json!({"upload_id": s.upload});

    // A value per row, as a run would compute it; a row it cannot be
    // computed for says why without quoting the cell.
    let res = check(json!({"source": source, "formula": "[Price] * [Qty]"}))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let tried: Value = res.json().await.unwrap();
    let rows = tried["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["value"], "10");
    assert_eq!(rows[3]["value"], "0");
    let reason = rows[2]["error"].as_str().unwrap();
    assert!(rows[2]["value"].is_null());
    assert!(!reason.contains(SECRET_QTY), "{reason}");

    // As a condition: which rows a filter keeps.
    let tried: Value =
        check(json!({"source": source, "formula": "[Country] = \"DE\"", "condition": true}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let verdicts: Vec<&str> = tried["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["kept", "skipped", "kept", "kept"]);

    // A wrong formula is placed, with what was meant.
    let error = refused(
        check(json!({"source": source, "formula": "UPPER([Nmae])"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(error["field"], "formula");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("did you mean Name?"), "{message}");

    // Another account's upload is not there for this one.
    let (other, _) = account(&s.app, "eve@example.com").await;
    let res = s
        .app
        .client
        .post(s.app.url("/v1/formulas/check"))
        .bearer_auth(&other)
        .json(&json!({"source": source, "formula": "[Name]"}))
        .send()
        .await
        .unwrap();
    assert!(
        res.status() == StatusCode::NOT_FOUND || res.status() == StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        res.status()
    );
    let body = res.text().await.unwrap();
    assert!(!body.contains("Ada"), "{body}");
}
