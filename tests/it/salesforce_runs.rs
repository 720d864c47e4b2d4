//! Runs into a Salesforce org, against the stand-in: small runs by sObject
//! Collections, large ones by Bulk API 2.0 jobs, result files, API calls
//! counted, renewed tokens kept, batches in doubt after a crash, and
//! rollbacks (delete, restore, undelete, conflicts).

use crate::accounts::{account, call};
use crate::imports::{result_file, upload, wait_for_run};
use crate::salesforce_connect::consent;
use crate::salesforce_login::no_redirects;
use crate::salesforce_target::client;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_events::event::RunBatchSent;
use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, Metadata, NewEvent};
use sluice_testkit::salesforce::SalesforceStandIn;
use sluice_testkit::{spawn_app_with, AppOptions, TestApp};
use std::collections::HashMap;

/// The service with a worker that writes to the stand-in; Bulk above
/// `bulk_above_rows` rows.
pub async fn app_for(standin: &SalesforceStandIn, bulk_above_rows: usize, worker: bool) -> TestApp {
    standin.define_account_and_contact();
    spawn_app_with(AppOptions {
        salesforce: Some(standin.config()),
        salesforce_bulk_above_rows: bulk_above_rows,
        worker,
        ..AppOptions::default()
    })
    .await
}

/// Connects the stand-in's org through the API: the connection's id.
pub async fn connect_org(app: &TestApp, token: &str, standin: &SalesforceStandIn) -> String {
    standin.sign_in_as("admin@org.example", true);
    let callback = consent(app, token, "salesforce", "Production org").await;
    let res = no_redirects().get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A CSV of contacts: `Last,Email,Born` for rows `numbers`.
pub(crate) fn contacts(numbers: impl IntoIterator<Item = usize>) -> Vec<u8> {
    let mut csv = String::from("Last,Email,Born\n");
    for n in numbers {
        csv.push_str(&format!(
            "Person {n},p{n}@example.com,1990-01-{:02}\n",
            n % 28 + 1
        ));
    }
    csv.into_bytes()
}

pub async fn create_job(
    app: &TestApp,
    token: &str,
    upload: &str,
    connection: &str,
    operation: &str,
    key_fields: Value,
    mapping: Value,
) -> String {
    let job = json!({
        "operation": operation,
        "key_fields": key_fields,
        "mapping": mapping,
    });
    create_job_into(app, token, upload, connection, "Contact", job).await
}

/// A job writing the rows of `upload` into `object` of the org
/// `connection`, as `job` (its operation, key fields, mapping and filter,
/// if any) says.
pub async fn create_job_into(
    app: &TestApp,
    token: &str,
    upload: &str,
    connection: &str,
    object: &str,
    job: Value,
) -> String {
    let res = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(token)
        .json(&json!({
            "name": format!("{object} records to Salesforce"),
            "source": {"upload_id": upload},
            "target": {"connection_id": connection, "object": object},
            "operation": job["operation"],
            "key_fields": job["key_fields"],
            "mapping": job["mapping"],
            "filter": job["filter"],
            "dedupe": job["dedupe"],
            "blank_values": job.get("blank_values").cloned().unwrap_or_else(|| json!("clear")),
        }))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// A job upserting the rows of `upload` into contacts by `External_Id__c`.
pub(crate) async fn upsert_job(
    app: &TestApp,
    token: &str,
    upload: &str,
    org: &str,
    mapping: Value,
) -> String {
    create_job(
        app,
        token,
        upload,
        org,
        "upsert",
        json!(["External_Id__c"]),
        mapping,
    )
    .await
}

/// A job inserting the contacts of `upload` with [`insert_mapping`].
pub(crate) async fn insert_job(app: &TestApp, token: &str, upload: &str, org: &str) -> String {
    create_job(
        app,
        token,
        upload,
        org,
        "insert",
        json!([]),
        insert_mapping(),
    )
    .await
}

fn insert_mapping() -> Value {
    json!([
        {"source": "Last", "target": "LastName"},
        {"source": "Email", "target": "Email"},
        {"source": "Born", "target": "Birthdate"},
    ])
}

pub async fn run(app: &TestApp, token: &str, job: &str) -> Value {
    let res = call(app, Method::POST, &format!("/v1/jobs/{job}/runs"), token).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let queued: Value = res.json().await.unwrap();
    wait_for_run(app, token, queued["run_id"].as_str().unwrap()).await
}

pub async fn roll_back(app: &TestApp, token: &str, run: &Value, body: Value) -> Value {
    let res = app
        .client
        .post(app.url(&format!(
            "/v1/runs/{}/rollback",
            run["id"].as_str().unwrap()
        )))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let queued: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    wait_for_run(app, token, queued["run_id"].as_str().unwrap()).await
}

/// The stand-in's contacts by email.
pub fn contacts_by_email(
    standin: &SalesforceStandIn,
) -> HashMap<String, serde_json::Map<String, Value>> {
    standin
        .records("Contact")
        .into_iter()
        .map(|r| {
            let email = r.get("Email").and_then(Value::as_str).unwrap_or_default();
            (email.to_owned(), r)
        })
        .collect()
}

#[tokio::test]
async fn a_small_run_writes_by_collections_and_is_rolled_back() {
    let standin = SalesforceStandIn::start().await;
    let app = app_for(&standin, 2_000, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    // 450 good rows and one whose birth date is no date.
    let mut csv = contacts(1..=450);
    csv.extend_from_slice(b"Person 451,p451@example.com,31.12.1990\n");
    let upload_id = upload(&app, &owner, csv).await;
    let job = insert_job(&app, &owner, &upload_id, &org).await;
    let calls_before = standin.api_call_counts();

    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "partially_succeeded", "{done}");
    assert_eq!(done["rows_ok"], 450);
    assert_eq!(done["rows_failed"], 1);
    let counts = standin.api_call_counts();
    assert_eq!(
        counts.bulk, calls_before.bulk,
        "a small run uses no Bulk job"
    );
    assert_eq!(
        done["api_calls"].as_u64().unwrap(),
        counts.total - calls_before.total,
        "the run reports every call it made"
    );

    let stored = contacts_by_email(&standin);
    assert_eq!(stored.len(), 450);
    assert_eq!(stored["p7@example.com"]["Birthdate"], "1990-01-08");
    // success.csv names each row's new record by its Id, as Data Loader does.
    let success = result_file(&app, &owner, done["id"].as_str().unwrap(), "success").await;
    assert_eq!(&success[0][..4], ["ROW", "ID", "STATUS", "Last"]);
    assert_eq!(success.len(), 451);
    for row in &success[1..] {
        let email = &row[4];
        assert_eq!(stored[email.as_str()]["Id"], row[1].as_str(), "{row:?}");
        assert_eq!(row[2], "created");
    }
    let errors = result_file(&app, &owner, done["id"].as_str().unwrap(), "errors").await;
    assert_eq!(&errors[0][..2], ["ROW", "ERROR"]);
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[1][0], "451");
    assert!(errors[1][1].contains("Birthdate"), "{:?}", errors[1]);

    let undone = roll_back(&app, &owner, &done, json!({})).await;
    assert_eq!(undone["status"], "rolled_back", "{undone}");
    assert_eq!(undone["rows_ok"], 450);
    assert!(standin.records("Contact").is_empty());
    assert_eq!(standin.recycle_bin("Contact").len(), 450);
}

#[tokio::test]
async fn a_large_run_writes_one_bulk_job_in_six_calls_and_maps_results_to_rows() {
    let standin = SalesforceStandIn::start().await;
    standin.complete_bulk_jobs_after_polls(2);
    let app = app_for(&standin, 100, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    // 600 rows; two share an email, which the second cannot take.
    let mut csv = contacts(1..=600);
    csv.extend_from_slice(b"Person 601,p601@example.com,not a date\n");
    let upload_id = upload(&app, &owner, csv).await;
    let job = insert_job(&app, &owner, &upload_id, &org).await;
    let before = standin.api_call_counts();

    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "partially_succeeded", "{done}");
    assert_eq!(done["rows_ok"], 600);
    assert_eq!(done["rows_failed"], 1);
    let after = standin.api_call_counts();
    assert_eq!(
        after.bulk - before.bulk,
        6,
        "one job: create, upload, close, three result files"
    );
    assert!(after.bulk_polls > before.bulk_polls);
    assert_eq!(
        done["api_calls"].as_u64().unwrap(),
        after.total - before.total
    );

    // Salesforce returns results in its own order; each row gets its own id.
    let stored = contacts_by_email(&standin);
    assert_eq!(stored.len(), 600);
    let success = result_file(&app, &owner, done["id"].as_str().unwrap(), "success").await;
    assert_eq!(success.len(), 601);
    for row in &success[1..] {
        let number: usize = row[0].parse().unwrap();
        assert_eq!(row[4], format!("p{number}@example.com"));
        assert_eq!(stored[row[4].as_str()]["Id"], row[1].as_str());
    }

    let undone = roll_back(&app, &owner, &done, json!({})).await;
    assert_eq!(undone["status"], "rolled_back", "{undone}");
    assert!(standin.records("Contact").is_empty());
}

#[tokio::test]
async fn an_upsert_is_rolled_back_to_its_before_images_except_records_changed_since() {
    let standin = SalesforceStandIn::start().await;
    let app = app_for(&standin, 2_000, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    standin.insert_records(
        "Contact",
        (1..=3).map(|n| {
            json!({"LastName": format!("Old {n}"), "Email": format!("old{n}@example.com"),
                   "External_Id__c": format!("C-{n}")})
        }),
    );
    let csv = b"Key,Last,Email\nC-1,New 1,new1@example.com\nC-2,New 2,new2@example.com\nC-9,New 9,new9@example.com\n".to_vec();
    let upload_id = upload(&app, &owner, csv).await;
    let mapping = json!([
        {"source": "Key", "target": "External_Id__c"},
        {"source": "Last", "target": "LastName"},
        {"source": "Email", "target": "Email"},
    ]);
    let job = upsert_job(&app, &owner, &upload_id, &org, mapping).await;
    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let success = result_file(&app, &owner, done["id"].as_str().unwrap(), "success").await;
    let statuses: Vec<&str> = success[1..].iter().map(|r| r[2].as_str()).collect();
    assert_eq!(statuses, ["updated", "updated", "created"]);
    let stored = contacts_by_email(&standin);
    assert!(stored.contains_key("new1@example.com") && stored.contains_key("new9@example.com"));

    // Someone edits C-2's name (a field the run wrote) after the run: a
    // rollback leaves it as it is.
    let edited = stored["new2@example.com"]["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    standin.update_record("Contact", &edited, json!({"LastName": "Edited by hand"}));
    let undone = roll_back(&app, &owner, &done, json!({})).await;
    assert_eq!(undone["status"], "partially_succeeded", "{undone}");
    assert_eq!(undone["rows_ok"], 2);
    assert_eq!(undone["rows_failed"], 1);
    let stored = contacts_by_email(&standin);
    assert_eq!(stored["old1@example.com"]["LastName"], "Old 1");
    assert!(
        stored.contains_key("new2@example.com"),
        "a record changed since is left alone"
    );
    assert!(
        !stored.contains_key("new9@example.com"),
        "the record the run created is gone"
    );
    let errors = result_file(&app, &owner, undone["id"].as_str().unwrap(), "errors").await;
    assert!(
        errors[1][1].contains("changed in Salesforce since the run: LastName no longer holds"),
        "{errors:?}"
    );
    assert!(!errors[1][1].contains("Edited by hand"), "no value in it");
    assert!(errors[1][1].contains(&edited));
}

#[tokio::test]
async fn a_delete_is_rolled_back_by_undelete_and_renewed_tokens_are_kept() {
    let standin = SalesforceStandIn::start().await;
    let app = app_for(&standin, 2_000, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    let ids = standin.insert_records(
        "Contact",
        (1..=3).map(|n| json!({"LastName": format!("P {n}")})),
    );
    let csv = format!("Id\n{}\n{}\n", ids[0], ids[2]).into_bytes();
    let upload_id = upload(&app, &owner, csv).await;
    let job = create_job(
        &app,
        &owner,
        &upload_id,
        &org,
        "delete",
        json!([]),
        json!([{"source": "Id", "target": "Id"}]),
    )
    .await;
    // The access token expires before the run: the worker renews it.
    standin.expire_access_tokens();
    let issued = standin.issued_tokens().len();
    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(standin.records("Contact").len(), 1);
    assert_eq!(standin.recycle_bin("Contact").len(), 2);
    assert_eq!(standin.issued_tokens().len(), issued + 1, "one renewal");

    // The renewed token was kept: the rollback needs no renewal of its own.
    let undone = roll_back(&app, &owner, &done, json!({})).await;
    assert_eq!(undone["status"], "rolled_back", "{undone}");
    assert_eq!(standin.issued_tokens().len(), issued + 1);
    assert_eq!(standin.records("Contact").len(), 3);
    assert!(
        standin.api_call_counts().soap > 0,
        "undelete is a SOAP call"
    );
}

/// An insert run queued with no worker running, and what it runs in.
struct Queued {
    standin: SalesforceStandIn,
    app: TestApp,
    owner: String,
    /// The account, as signing up answered.
    created: Value,
    run_id: uuid::Uuid,
}

/// Queues a run inserting `contacts(1..=rows)` (Bulk above
/// `bulk_above_rows`), with no worker running.
async fn queued_insert(bulk_above_rows: usize, rows: usize) -> Queued {
    let standin = SalesforceStandIn::start().await;
    standin.complete_bulk_jobs_after_polls(1);
    let app = app_for(&standin, bulk_above_rows, false).await;
    let (owner, created) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    let upload_id = upload(&app, &owner, contacts(1..=rows)).await;
    let job = insert_job(&app, &owner, &upload_id, &org).await;
    let run_id = queue_run(&app, &owner, &job).await;
    Queued {
        standin,
        app,
        owner,
        created,
        run_id,
    }
}

#[tokio::test]
async fn an_insert_batch_in_doubt_after_a_crash_is_not_written_twice() {
    let Queued {
        standin,
        app,
        owner,
        created,
        run_id,
    } = queued_insert(2_000, 450).await;
    // An earlier worker sent the run's first batch (200 rows) and stopped
    // before it could record what became of it.
    sent_by_a_worker_that_stopped(&app, &created, run_id, 1, 1, None).await;
    app.start_worker(std::time::Duration::from_secs(30));

    let done = wait_for_run(&app, &owner, &run_id.to_string()).await;
    assert_eq!(done["status"], "partially_succeeded", "{done}");
    assert_eq!(done["rows_ok"], 250);
    assert_eq!(done["rows_failed"], 200);
    // The batch in doubt was not sent again: no record is there twice.
    let stored = contacts_by_email(&standin);
    assert_eq!(stored.len(), 250);
    assert!(stored.contains_key("p201@example.com") && !stored.contains_key("p1@example.com"));
    let errors = result_file(&app, &owner, &run_id.to_string(), "errors").await;
    assert_eq!(errors.len(), 201);
    assert!(
        errors[1][1].contains("may or may not have been created"),
        "{:?}",
        errors[1]
    );
}

/// The run's events, as stored.
fn run_events(app: &TestApp, run: &str) -> Vec<(String, Value)> {
    use diesel::prelude::*;
    use sluice_schema::schema::events;
    let run: uuid::Uuid = run.parse().unwrap();
    events::table
        .filter(events::stream_id.eq(run))
        .order(events::stream_version.asc())
        .select((events::event_type, events::payload))
        .load(&mut app.conn())
        .unwrap()
}

#[tokio::test]
async fn a_run_above_the_upload_limit_takes_several_bulk_jobs_and_record_errors_stay_in_errors_csv()
{
    let standin = SalesforceStandIn::start().await;
    standin.complete_bulk_jobs_after_polls(1);
    standin.define_account_and_contact();
    let app = spawn_app_with(AppOptions {
        salesforce: Some(standin.config()),
        salesforce_bulk_above_rows: 100,
        salesforce_bulk_upload_bytes: 10_000,
        ..AppOptions::default()
    })
    .await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    // An external id already taken: Salesforce refuses the row, quoting it.
    standin.insert_records(
        "Contact",
        [json!({"LastName": "Taken", "External_Id__c": "p7@example.com"})],
    );
    let upload_id = upload(&app, &owner, contacts(1..=600)).await;
    let mapping = json!([
        {"source": "Last", "target": "LastName"},
        {"source": "Email", "target": "Email"},
        {"source": "Email", "target": "External_Id__c"},
    ]);
    let job = create_job(&app, &owner, &upload_id, &org, "insert", json!([]), mapping).await;
    let before = standin.api_call_counts();
    let done = run(&app, &owner, &job).await;
    let after = standin.api_call_counts();
    // About 40 bytes a row: three jobs of at most 10,000 bytes.
    let jobs = (after.bulk - before.bulk) / 6;
    assert_eq!((after.bulk - before.bulk) % 6, 0);
    assert!(jobs >= 3, "{jobs} jobs");
    assert_eq!(done["status"], "partially_succeeded", "{done}");
    let errors = result_file(&app, &owner, done["id"].as_str().unwrap(), "errors").await;
    assert_eq!(done["rows_ok"], 599, "{errors:?}");
    assert_eq!(done["rows_failed"], 1);
    assert_eq!(
        contacts_by_email(&standin).len(),
        600,
        "599 and the one seeded"
    );

    let id = done["id"].as_str().unwrap();
    let errors = result_file(&app, &owner, id, "errors").await;
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[1][0], "7");
    assert!(errors[1][1].contains("DUPLICATE_VALUE"), "{:?}", errors[1]);
    // Neither the row nor Salesforce's reason (which quotes it) reaches
    // the event log.
    for (kind, payload) in run_events(&app, id) {
        let text = payload.to_string();
        assert!(!text.contains("@example.com"), "{kind}: {text}");
        assert!(!text.contains("DUPLICATE_VALUE"), "{kind}: {text}");
    }
}

#[tokio::test]
async fn an_update_sets_references_by_external_id_and_its_rollback_restores_them() {
    let standin = SalesforceStandIn::start().await;
    let app = app_for(&standin, 2_000, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    let accounts = standin.insert_records(
        "Account",
        [json!({"Name": "Acme", "External_Id__c": "ACME"})],
    );
    let ids = standin.insert_records(
        "Contact",
        (1..=2).map(|n| json!({"LastName": format!("P {n}"), "Title": "Old"})),
    );
    let csv = format!("Id,Company,Title\n{},ACME,New\n{},,\n", ids[0], ids[1]).into_bytes();
    let upload_id = upload(&app, &owner, csv).await;
    let mapping = json!([
        {"source": "Id", "target": "Id"},
        {"source": "Company", "target": "AccountId",
         "transform": {"type": "lookup", "object": "Account", "key": "External_Id__c"}},
        {"source": "Title", "target": "Title"},
    ]);
    let job = create_job(&app, &owner, &upload_id, &org, "update", json!([]), mapping).await;
    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let by_id = |id: &str| {
        standin
            .records("Contact")
            .into_iter()
            .find(|r| r["Id"] == id)
            .unwrap()
    };
    assert_eq!(by_id(&ids[0])["AccountId"], accounts[0].as_str());
    assert_eq!(by_id(&ids[0])["Title"], "New");
    // An empty cell clears the field, as an update should.
    assert_eq!(by_id(&ids[1])["Title"], Value::Null);

    let undone = roll_back(&app, &owner, &done, json!({})).await;
    assert_eq!(undone["status"], "rolled_back", "{undone}");
    assert_eq!(by_id(&ids[0])["AccountId"], Value::Null);
    assert_eq!(by_id(&ids[0])["Title"], "Old");
    assert_eq!(by_id(&ids[1])["Title"], "Old");
}

#[tokio::test]
async fn a_run_stopped_by_the_orgs_request_limit_fails_with_the_reason_and_keeps_what_it_wrote() {
    let standin = SalesforceStandIn::start().await;
    let app = app_for(&standin, 2_000, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    let upload_id = upload(&app, &owner, contacts(1..=450)).await;
    let job = insert_job(&app, &owner, &upload_id, &org).await;
    // The org's daily limit runs out part-way through.
    standin.limit_requests(5);
    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert!(
        done["message"]
            .as_str()
            .unwrap()
            .contains("API request limit"),
        "{done}"
    );
    // What was written before is in the results (and can be rolled back).
    let written = contacts_by_email(&standin).len();
    assert!(written > 0 && written < 450, "{written}");
    assert_eq!(done["rows_ok"], written);
    let success = result_file(&app, &owner, done["id"].as_str().unwrap(), "success").await;
    assert_eq!(success.len(), written + 1);
    standin.lift_request_limit();
    let undone = roll_back(&app, &owner, &done, json!({"force": true})).await;
    assert_eq!(undone["rows_ok"], written, "{undone}");
    assert!(standin.records("Contact").is_empty());
}

/// The upload a run of `contacts(numbers)` sends in its Bulk job.
fn bulk_batch(
    numbers: std::ops::RangeInclusive<usize>,
) -> sluice_connectors::salesforce::BulkBatch {
    let header = ["LastName", "Email", "Birthdate"].map(String::from);
    let mut batch = sluice_connectors::salesforce::BulkBatch::new(
        sluice_connectors::salesforce::Operation::Insert,
        &header,
    )
    .unwrap();
    for n in numbers {
        let (last, email, born) = (
            format!("Person {n}"),
            format!("p{n}@example.com"),
            format!("1990-01-{:02}", n % 28 + 1),
        );
        assert!(batch
            .push(&[Some(&last), Some(&email), Some(&born)])
            .unwrap());
    }
    batch
}

/// Queues a run of `job` with no worker running: its id.
async fn queue_run(app: &TestApp, token: &str, job: &str) -> uuid::Uuid {
    let res = call(app, Method::POST, &format!("/v1/jobs/{job}/runs"), token).await;
    res.json::<Value>().await.unwrap()["run_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Records, as a worker that then stopped would have, that batches
/// `first..=through` of `run` were sent (by Bulk `job`).
async fn sent_by_a_worker_that_stopped(
    app: &TestApp,
    account: &Value,
    run: uuid::Uuid,
    first: i64,
    through: i64,
    job: Option<String>,
) {
    let account_id =
        sluice_schema::ids::AccountId(account["account_id"].as_str().unwrap().parse().unwrap());
    let sent = NewEvent::new(
        DomainEvent::RunBatchSent(RunBatchSent {
            batch: first,
            through,
            bulk_job: job,
        }),
        Metadata::actor("worker:gone"),
    )
    .for_account(account_id);
    app.platform
        .appender
        .append(AppendRequest::new(
            "run",
            run,
            ExpectedVersion::Any,
            vec![sent],
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_bulk_job_in_doubt_is_picked_up_by_its_id_not_sent_again() {
    let Queued {
        standin,
        app,
        owner,
        created,
        run_id,
    } = queued_insert(100, 300).await;
    // The worker that stopped had created the job and closed its upload:
    // Salesforce wrote the 300 records.
    let sf = client(&standin, false);
    let polling = sluice_testkit::fast_polling();
    let bulk_job = sf
        .bulk_open(
            "Contact",
            sluice_connectors::salesforce::Operation::Insert,
            None,
        )
        .await
        .unwrap();
    sf.bulk_run(&bulk_job, &mut bulk_batch(1..=300), polling)
        .await
        .unwrap();
    sent_by_a_worker_that_stopped(&app, &created, run_id, 1, 2, Some(bulk_job)).await;
    let before = standin.api_call_counts();

    app.start_worker(std::time::Duration::from_secs(30));
    let done = wait_for_run(&app, &owner, &run_id.to_string()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["rows_ok"], 300);
    assert_eq!(contacts_by_email(&standin).len(), 300, "no record twice");
    // The job's state and its three result files; no new job.
    let after = standin.api_call_counts();
    assert_eq!(after.bulk - before.bulk, 3);
    let success = result_file(&app, &owner, &run_id.to_string(), "success").await;
    assert_eq!(success.len(), 301);
    // Its rollback deletes what the job created.
    let undone = roll_back(&app, &owner, &done, json!({})).await;
    assert_eq!(undone["status"], "rolled_back", "{undone}");
    assert!(standin.records("Contact").is_empty());
}

#[tokio::test]
async fn a_bulk_job_left_open_is_aborted_and_its_rows_sent_in_a_new_one() {
    let Queued {
        standin,
        app,
        owner,
        created,
        run_id,
    } = queued_insert(100, 300).await;
    // The worker that stopped had created the job, not closed its upload.
    let bulk_job = client(&standin, false)
        .bulk_open(
            "Contact",
            sluice_connectors::salesforce::Operation::Insert,
            None,
        )
        .await
        .unwrap();
    sent_by_a_worker_that_stopped(&app, &created, run_id, 1, 2, Some(bulk_job)).await;

    app.start_worker(std::time::Duration::from_secs(30));
    let done = wait_for_run(&app, &owner, &run_id.to_string()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(contacts_by_email(&standin).len(), 300);
}

#[tokio::test]
async fn a_bulk_job_that_fails_part_way_reports_the_rows_it_did_not_reach() {
    let standin = SalesforceStandIn::start().await;
    standin.complete_bulk_jobs_after_polls(1);
    standin.fail_bulk_jobs_after(120);
    let app = app_for(&standin, 100, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    let upload_id = upload(&app, &owner, contacts(1..=300)).await;
    let job = insert_job(&app, &owner, &upload_id, &org).await;
    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert!(
        done["message"]
            .as_str()
            .unwrap()
            .contains("Bulk job ended early"),
        "{done}"
    );
    assert_eq!(done["rows_ok"], 120);
    assert_eq!(done["rows_failed"], 180);
    assert_eq!(contacts_by_email(&standin).len(), 120);
    let errors = result_file(&app, &owner, done["id"].as_str().unwrap(), "errors").await;
    assert_eq!(errors.len(), 181);
    assert!(
        errors[1][1].contains("did not process this row"),
        "{:?}",
        errors[1]
    );
    // What the job wrote can be rolled back.
    let undone = roll_back(&app, &owner, &done, json!({})).await;
    assert_eq!(undone["status"], "rolled_back", "{undone}");
    assert!(standin.records("Contact").is_empty());
}

#[tokio::test]
async fn a_bulk_upsert_is_rolled_back_to_the_before_images_it_read() {
    let standin = SalesforceStandIn::start().await;
    standin.complete_bulk_jobs_after_polls(1);
    let app = app_for(&standin, 100, true).await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let org = connect_org(&app, &owner, &standin).await;
    standin.insert_records(
        "Contact",
        (1..=100)
            .map(|n| json!({"LastName": format!("Old {n}"), "External_Id__c": format!("K{n}")})),
    );
    // 100 records updated, 50 created.
    let mut csv = String::from("Key,Last\n");
    for n in 1..=150 {
        csv.push_str(&format!("K{n},New {n}\n"));
    }
    let upload_id = upload(&app, &owner, csv.into_bytes()).await;
    let mapping = json!([
        {"source": "Key", "target": "External_Id__c"},
        {"source": "Last", "target": "LastName"},
    ]);
    let job = upsert_job(&app, &owner, &upload_id, &org, mapping).await;
    let before = standin.api_call_counts();
    let done = run(&app, &owner, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(standin.api_call_counts().bulk - before.bulk, 6);
    let success = result_file(&app, &owner, done["id"].as_str().unwrap(), "success").await;
    let created = success[1..].iter().filter(|r| r[2] == "created").count();
    assert_eq!(created, 50);
    assert_eq!(standin.records("Contact").len(), 150);

    let undone = roll_back(&app, &owner, &done, json!({})).await;
    assert_eq!(undone["status"], "rolled_back", "{undone}");
    let names: Vec<String> = standin
        .records("Contact")
        .iter()
        .map(|r| r["LastName"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 100);
    assert!(names.iter().all(|n| n.starts_with("Old ")), "{names:?}");
}
