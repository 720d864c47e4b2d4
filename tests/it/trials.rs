//! Trial runs and their rest, and retries of failed rows, through the API
//! into a PostgreSQL table and the Salesforce stand-in: a trial writes N
//! rows (at random, or the first N) and says so; its rest writes every row
//! the trial did not; a retry writes the rows of a run's errors.csv again,
//! read from its result files (the upload long expired), with the job's
//! mapping as it is now, and the values come back exactly as read.

use crate::accounts::{account, call, call_json};
use crate::imports::{connect_target, result_file, target_db, upload, wait_for_run};
use crate::object_store_hosts::emails;
use crate::salesforce_runs::{app_for, connect_org, contacts_by_email, create_job_into, roll_back};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_testkit::salesforce::SalesforceStandIn;
use sluice_testkit::{spawn_app, TestApp, TestDb};
use std::collections::BTreeSet;

/// `rows` people; the rows in `bad` have an amount that is not a number.
fn people(rows: usize, bad: &[usize]) -> Vec<u8> {
    let mut csv = String::from("Email,Name,Amount\n");
    for i in 1..=rows {
        let amount = if bad.contains(&i) {
            "n/a".to_owned()
        } else {
            format!("{i}.5")
        };
        csv.push_str(&format!("p{i}@example.com,Person {i},{amount}\n"));
    }
    csv.into_bytes()
}

fn mapping(amount: bool) -> Value {
    let mut fields = vec![
        json!({"source": "Email", "target": "email"}),
        json!({"source": "Name", "target": "first_name"}),
    ];
    if amount {
        fields.push(json!({"source": "Amount", "target": "amount"}));
    }
    Value::Array(fields)
}

struct Setup {
    app: TestApp,
    target: TestDb,
    owner: String,
    job: String,
}

/// An account, a PostgreSQL target, `csv` uploaded and a job inserting it
/// into `contacts`.
async fn setup(csv: Vec<u8>) -> Setup {
    let app = spawn_app().await;
    let target = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let upload = upload(&app, &owner, csv).await;
    let res = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(&owner)
        .json(&json!({
            "name": "people",
            "source": {"upload_id": upload},
            "target": {"connection_id": connection, "object": "contacts"},
            "operation": "insert",
            "mapping": mapping(true),
        }))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    let job = body["id"].as_str().expect("the job").to_owned();
    Setup {
        app,
        target,
        owner,
        job,
    }
}

/// `POST` of `body` to `path`: its status and body.
async fn post(app: &TestApp, token: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = app.client.post(app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Starts a run of `job` with `body` and waits for its end.
async fn run_with(app: &TestApp, token: &str, job: &str, body: Value) -> Value {
    let (status, queued) = post(app, token, &format!("/v1/jobs/{job}/runs"), Some(body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    wait_for_run(app, token, queued["run_id"].as_str().unwrap()).await
}

/// Retries `run`'s failed rows and waits for the retry's end.
async fn retry(app: &TestApp, token: &str, run: &str) -> Value {
    let (status, queued) = post(app, token, &format!("/v1/runs/{run}/retry"), None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    wait_for_run(app, token, queued["run_id"].as_str().unwrap()).await
}

/// The row numbers of `run`'s result file `name`.
async fn numbers(app: &TestApp, token: &str, run: &Value, name: &str) -> BTreeSet<u64> {
    let id = run["id"].as_str().unwrap();
    result_file(app, token, id, name).await[1..]
        .iter()
        .map(|r| r[0].parse().unwrap())
        .collect()
}

#[tokio::test]
async fn a_random_trial_writes_its_sample_and_its_rest_writes_every_other_row_once() {
    let s = setup(people(40, &[7, 23])).await;
    let (app, owner, job) = (&s.app, &s.owner, &s.job);

    let trial = run_with(app, owner, job, json!({"sample": 12})).await;
    assert_eq!(
        trial["sample"],
        json!({"rows": 12, "order": "random"}),
        "{trial}"
    );
    assert_eq!(trial["rows_total"], 12);
    assert_eq!(trial["kind"], "import");
    let trial_ok = numbers(app, owner, &trial, "success").await;
    let trial_failed = numbers(app, owner, &trial, "errors").await;
    assert_eq!(trial_ok.len() + trial_failed.len(), 12);
    assert_eq!(trial_ok.len() as i64, trial["rows_ok"].as_i64().unwrap());
    // Chosen across the file, not its first rows.
    assert_ne!(
        trial_ok.union(&trial_failed).copied().collect::<Vec<_>>(),
        (1..=12).collect::<Vec<u64>>()
    );
    assert_eq!(emails(&s.target).len(), trial_ok.len());

    let trial_id = trial["id"].as_str().unwrap();
    let rest = run_with(app, owner, job, json!({"remaining_of": trial_id})).await;
    assert_eq!(rest["remaining_of"], trial_id, "{rest}");
    assert_eq!(rest["sample"], Value::Null);
    assert_eq!(rest["rows_total"], 40 - trial_ok.len() as i64);
    let rest_ok = numbers(app, owner, &rest, "success").await;
    assert!(rest_ok.is_disjoint(&trial_ok), "no row is written twice");
    let all: BTreeSet<u64> = rest_ok.union(&trial_ok).copied().collect();
    let expected: BTreeSet<u64> = (1..=40).filter(|n| *n != 7 && *n != 23).collect();
    assert_eq!(all, expected, "every good row is written once");
    assert_eq!(
        numbers(app, owner, &rest, "errors").await,
        [7, 23].into(),
        "the failed rows fail in the rest whether or not the trial chose them"
    );
    assert_eq!(emails(&s.target).len(), 38);

    // A trial has one rest; a rest, a run in full or an unknown run has none.
    let path = format!("/v1/jobs/{job}/runs");
    let again = post(app, owner, &path, Some(json!({"remaining_of": trial_id}))).await;
    assert_eq!(again.0, StatusCode::CONFLICT, "{}", again.1);
    let of_rest = json!({"remaining_of": rest["id"]});
    assert_eq!(
        post(app, owner, &path, Some(of_rest)).await.0,
        StatusCode::CONFLICT
    );
    let unknown = json!({"remaining_of": uuid::Uuid::now_v7()});
    assert_eq!(
        post(app, owner, &path, Some(unknown)).await.0,
        StatusCode::NOT_FOUND
    );

    let history = call_json(app, Method::GET, &path, owner).await;
    let runs = history["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["remaining_of"], trial_id);
    assert_eq!(runs[1]["sample"]["rows"], 12);
}

#[tokio::test]
async fn a_trial_of_the_first_rows_rolls_back_and_one_larger_than_the_file_writes_it_all() {
    let s = setup(people(9, &[])).await;
    let (app, owner, job) = (&s.app, &s.owner, &s.job);
    let path = format!("/v1/jobs/{job}/runs");
    for (body, field) in [
        (json!({"sample": 0}), "sample"),
        (json!({"sample": 100_001}), "sample"),
        (json!({"sample_order": "first"}), "sample_order"),
        (
            json!({"sample": 5, "remaining_of": uuid::Uuid::now_v7()}),
            "remaining_of",
        ),
    ] {
        let (status, error) = post(app, owner, &path, Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
        assert_eq!(error["error"]["field"], field, "{error}");
    }

    let first = run_with(
        app,
        owner,
        job,
        json!({"sample": 3, "sample_order": "first"}),
    )
    .await;
    assert_eq!(first["sample"], json!({"rows": 3, "order": "first"}));
    assert_eq!(
        numbers(app, owner, &first, "success").await,
        [1, 2, 3].into()
    );
    assert_eq!(
        emails(&s.target),
        BTreeSet::from(["p1@example.com", "p2@example.com", "p3@example.com"].map(String::from))
    );
    let undone = roll_back(app, owner, &first, json!({})).await;
    assert_eq!(undone["status"], "rolled_back", "{undone}");
    assert!(emails(&s.target).is_empty());
    // A trial rolled back has no rest.
    let rest = json!({"remaining_of": first["id"]});
    assert_eq!(
        post(app, owner, &path, Some(rest)).await.0,
        StatusCode::CONFLICT
    );

    let whole = run_with(app, owner, job, json!({"sample": 1_000})).await;
    assert_eq!(whole["status"], "succeeded", "{whole}");
    assert_eq!(
        whole["sample"]["rows"], 1_000,
        "the run says what was asked"
    );
    assert_eq!(whole["rows_total"], 9, "and how many rows there were");
    assert_eq!(whole["rows_ok"], 9);
    assert_eq!(emails(&s.target).len(), 9);
}

#[tokio::test]
async fn a_retry_writes_the_failed_rows_after_the_upload_expired_with_their_cells_as_read() {
    let csv = "Email,Name,Amount\n\
               p1@example.com,Ada,1\n\
               p2@example.com,=SUM(A1),n/a\n\
               p3@example.com,'quoted,n/a\n\
               p4@example.com,-dash,n/a\n\
               p5@example.com,too,many,fields\n";
    let s = setup(csv.as_bytes().to_vec()).await;
    let (app, owner, job) = (&s.app, &s.owner, &s.job);
    let first = run_with(app, owner, job, json!({})).await;
    assert_eq!(first["rows_failed"], 4, "{first}");
    let first_id = first["id"].as_str().unwrap();
    let first_errors = result_file(app, owner, first_id, "errors").await;
    assert_eq!(first_errors[1][3], "'=SUM(A1)", "the formula is defused");
    assert_eq!(
        first_errors[2][3], "''quoted",
        "a leading apostrophe is doubled"
    );

    // The mapping no longer writes the amount; the upload then expires.
    let res = app
        .client
        .patch(app.url(&format!("/v1/jobs/{job}")))
        .bearer_auth(owner)
        .json(&json!({"mapping": mapping(false)}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    app.platform.clock.advance(chrono::Duration::minutes(61));
    let full = run_with(app, owner, job, json!({})).await;
    assert_eq!(full["status"], "failed", "the upload is gone: {full}");

    let retried = retry(app, owner, first_id).await;
    assert_eq!(retried["retry_of"], first_id, "{retried}");
    assert_eq!(retried["rows_total"], 4);
    assert_eq!(retried["rows_ok"], 3);
    assert_eq!(retried["rows_failed"], 1);
    let retry_id = retried["id"].as_str().unwrap();
    assert_eq!(
        numbers(app, owner, &retried, "success").await,
        [2, 3, 4].into()
    );
    let errors = result_file(app, owner, retry_id, "errors").await;
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[1][0], "5", "the row keeps its number");
    assert_eq!(
        errors[1][1], first_errors[4][1],
        "and fails with its reason"
    );

    use diesel::prelude::*;
    #[derive(QueryableByName, Debug, PartialEq)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        first_name: String,
    }
    let names: Vec<String> = diesel::sql_query(
        "SELECT first_name FROM contacts WHERE email <> 'p1@example.com' ORDER BY email",
    )
    .load::<Name>(&mut s.target.connect())
    .unwrap()
    .into_iter()
    .map(|n| n.first_name)
    .collect();
    assert_eq!(
        names,
        ["=SUM(A1)", "'quoted", "-dash"],
        "the cells read back exactly"
    );

    // The retry is a run like any: rolled back, it undoes its rows only.
    let undone = roll_back(app, owner, &retried, json!({})).await;
    assert_eq!(undone["status"], "rolled_back", "{undone}");
    assert_eq!(
        emails(&s.target),
        BTreeSet::from(["p1@example.com".to_owned()])
    );

    // A rollback, a run without failed rows, an unknown run and another
    // account's run have no retry.
    let path = |run: &str| format!("/v1/runs/{run}/retry");
    let undone_id = undone["id"].as_str().unwrap();
    assert_eq!(
        post(app, owner, &path(undone_id), None).await.0,
        StatusCode::CONFLICT
    );
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_eq!(
        post(app, owner, &path(&unknown), None).await.0,
        StatusCode::NOT_FOUND
    );
    let (stranger, _) = account(app, "eve@example.com").await;
    assert_eq!(
        post(app, &stranger, &path(first_id), None).await.0,
        StatusCode::NOT_FOUND
    );

    // Once the result files expire, so does what to retry.
    app.platform.clock.advance(chrono::Duration::days(15));
    let (status, gone) = post(app, owner, &path(first_id), None).await;
    assert_eq!(status, StatusCode::GONE, "{gone}");
    assert_eq!(gone["error"]["code"], "gone");
    let _ = call(app, Method::GET, "/v1/me", owner).await;
}

#[tokio::test]
async fn failed_rows_are_retried_into_salesforce() {
    let standin = SalesforceStandIn::start().await;
    let app = app_for(&standin, 2_000, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    let csv = "Last,Email,Born\n\
               Lovelace,ada@example.com,1815-12-10\n\
               Hopper,grace@example.com,someday\n\
               -Turing,alan@example.com,sometime\n";
    let upload_id = upload(&app, &owner, csv.as_bytes().to_vec()).await;
    let fields = |born: bool| {
        let mut fields = vec![
            json!({"source": "Last", "target": "LastName"}),
            json!({"source": "Email", "target": "Email"}),
        ];
        if born {
            fields.push(json!({"source": "Born", "target": "Birthdate"}));
        }
        Value::Array(fields)
    };
    let job = json!({"operation": "insert", "key_fields": [], "mapping": fields(true)});
    let job = create_job_into(&app, &owner, &upload_id, &org, "Contact", job).await;
    let first = run_with(&app, &owner, &job, json!({})).await;
    assert_eq!(first["rows_failed"], 2, "{first}");
    assert_eq!(contacts_by_email(&standin).len(), 1);

    let res = app
        .client
        .patch(app.url(&format!("/v1/jobs/{job}")))
        .bearer_auth(&owner)
        .json(&json!({"mapping": fields(false)}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let retried = retry(&app, &owner, first["id"].as_str().unwrap()).await;
    assert_eq!(retried["status"], "succeeded", "{retried}");
    assert_eq!(retried["rows_ok"], 2);
    assert_eq!(
        numbers(&app, &owner, &retried, "success").await,
        [2, 3].into()
    );
    let stored = contacts_by_email(&standin);
    assert_eq!(stored.len(), 3);
    assert_eq!(stored["alan@example.com"]["LastName"], "-Turing");
}

#[tokio::test]
async fn a_random_trial_into_salesforce_then_its_rest_writes_each_contact_once() {
    let standin = SalesforceStandIn::start().await;
    let app = app_for(&standin, 2_000, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    let mut csv = String::from("Last,Email\n");
    for i in 1..=12 {
        csv.push_str(&format!("Person {i},p{i}@example.com\n"));
    }
    let upload_id = upload(&app, &owner, csv.into_bytes()).await;
    let mapping = json!([
        {"source": "Last", "target": "LastName"},
        {"source": "Email", "target": "Email"},
    ]);
    let job = json!({"operation": "insert", "key_fields": [], "mapping": mapping});
    let job = create_job_into(&app, &owner, &upload_id, &org, "Contact", job).await;

    let trial = run_with(&app, &owner, &job, json!({"sample": 4})).await;
    assert_eq!(trial["rows_ok"], 4, "{trial}");
    assert_eq!(trial["sample"]["rows"], 4, "{trial}");
    let chosen = numbers(&app, &owner, &trial, "success").await;
    assert_eq!(chosen.len(), 4);
    assert_eq!(contacts_by_email(&standin).len(), 4);

    let trial_id = trial["id"].as_str().unwrap();
    let rest = run_with(&app, &owner, &job, json!({"remaining_of": trial_id})).await;
    assert_eq!(rest["rows_ok"], 8, "{rest}");
    let written = numbers(&app, &owner, &rest, "success").await;
    assert!(written.is_disjoint(&chosen), "{written:?} {chosen:?}");
    assert_eq!(contacts_by_email(&standin).len(), 12);
    assert_eq!(standin.record_count("Contact"), 12, "each contact once");
}

#[tokio::test]
async fn the_rest_of_a_trial_counts_the_trials_rows_as_duplicates_as_a_whole_run_does() {
    // Row 3 repeats row 1's email; the trial writes rows 1 and 2.
    let csv = b"Email,Name,Amount\n\
        p1@example.com,Ada,1\n\
        p2@example.com,Bob,2\n\
        p1@example.com,Ada again,3\n\
        p4@example.com,Di,4\n"
        .to_vec();
    let s = setup(csv).await;
    let (app, owner, job) = (&s.app, &s.owner, &s.job);
    let res = app
        .client
        .patch(app.url(&format!("/v1/jobs/{job}")))
        .bearer_auth(owner)
        .json(&json!({"dedupe": {"fields": ["email"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let trial = run_with(
        app,
        owner,
        job,
        json!({"sample": 2, "sample_order": "first"}),
    )
    .await;
    assert_eq!(trial["rows_ok"], 2, "{trial}");

    let rest = run_with(app, owner, job, json!({"remaining_of": trial["id"]})).await;
    assert_eq!(
        (
            rest["rows_ok"].clone(),
            rest["rows_failed"].clone(),
            rest["rows_skipped"].clone()
        ),
        (json!(1), json!(0), json!(1)),
        "{rest}"
    );
    let skipped = result_file(app, owner, rest["id"].as_str().unwrap(), "skipped").await;
    assert_eq!(skipped[1][..2], ["3", "duplicate of row 1 (email)"]);
    assert_eq!(
        emails(&s.target),
        BTreeSet::from(["p1@example.com", "p2@example.com", "p4@example.com"].map(String::from))
    );
}
