//! Schedules: jobs' runs started by the scheduler of every worker, each slot
//! once however many workers run, missed slots once; the system's
//! schedules (the retention sweep, the key-rotation reminder).

use crate::accounts::{account, call, call_json};
use crate::imports::{connect_target, target_db};
use crate::uploads::{marked_csv, upload_multipart};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_schema::schema::{events, upload_keys};
use sluice_testkit::{eventually, spawn_app_with, AppOptions, TestApp, TestDb};
use std::time::Duration;

async fn app_with_scheduler() -> TestApp {
    spawn_app_with(AppOptions {
        scheduler: true,
        ..AppOptions::default()
    })
    .await
}

/// The events of `kind` in the stream of schedule `name`.
fn fired(app: &TestApp, name: &str) -> Vec<Value> {
    events::table
        .filter(events::stream_id.eq(sluice_worker::scheduler::stream_id(name)))
        .filter(events::event_type.eq("schedule.fired"))
        .order(events::global_seq.asc())
        .select(events::payload)
        .load(&mut app.conn())
        .unwrap()
}

fn payloads(app: &TestApp, kind: &str) -> Vec<Value> {
    events::table
        .filter(events::event_type.eq(kind))
        .order(events::global_seq.asc())
        .select(events::payload)
        .load(&mut app.conn())
        .unwrap()
}

/// Moves the platform's clock to one second past the next whole minute.
pub fn to_next_minute(app: &TestApp) {
    let now = app.platform.clock.now();
    let past = i64::from(chrono::Timelike::second(&now)) * 1000
        + i64::from(chrono::Timelike::nanosecond(&now) / 1_000_000);
    app.platform
        .clock
        .advance(chrono::Duration::milliseconds(61_000 - past));
}

async fn runs_of(app: &TestApp, token: &str, job: &str) -> Vec<Value> {
    let res = call(app, Method::GET, &format!("/v1/jobs/{job}/runs"), token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    body.as_array()
        .or_else(|| body["runs"].as_array())
        .cloned()
        .unwrap_or_default()
}

/// Waits until `job` has `count` runs, all finished.
async fn finished_runs(app: &TestApp, token: &str, job: &str, count: usize) -> Vec<Value> {
    eventually(Duration::from_secs(30), "the scheduled runs", || async {
        let runs = runs_of(app, token, job).await;
        (runs.len() == count && runs.iter().all(|r| r["finished_at"].is_string())).then_some(runs)
    })
    .await
}

/// A database with a `people` table of `rows` addresses, to read from.
pub fn people(rows: usize) -> TestDb {
    let source = TestDb::empty();
    source
        .connect()
        .batch_execute(&format!(
            "CREATE TABLE people (mail TEXT);
             INSERT INTO people SELECT 'p' || i || '@example.com' FROM generate_series(1, {rows}) i;"
        ))
        .unwrap();
    source
}

/// A job, created as `token`, that upserts [`people`] read from `from`
/// into `contacts` of `into` on `schedule`: the job as shown.
pub async fn crm_job(app: &TestApp, token: &str, from: &str, into: &str, schedule: Value) -> Value {
    let res = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(token)
        .json(&json!({
            "name": "nightly from the crm",
            "source": {"connection_id": from, "query": "SELECT mail FROM people ORDER BY mail"},
            "target": {"connection_id": into, "object": "contacts"},
            "operation": "upsert",
            "key_fields": ["email"],
            "mapping": [
                {"source": "mail", "target": "email"},
                {"target": "source", "transform": {"type": "constant", "value": "crm"}},
            ],
            "schedule": schedule,
        }))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let job: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{job}");
    job
}

#[tokio::test]
async fn a_job_schedule_fires_each_slot_once_with_two_workers_and_missed_slots_once() {
    let app = app_with_scheduler().await;
    // A second worker, with its own scheduler, beside the first.
    app.start_worker(Duration::from_secs(30));
    let target = target_db();
    let source = people(20);
    let (owner, _) = account(&app, "ada@example.com").await;
    let into = connect_target(&app, &owner, &target).await;
    let from = connect_target(&app, &owner, &source).await;
    // The job is made early in a minute, so that no slot comes by itself
    // while the test looks.
    to_next_minute(&app);
    let job = crm_job(&app, &owner, &from, &into, json!("* * * * *")).await;
    assert_eq!(job["schedule"], "* * * * *");
    let id = job["id"].as_str().unwrap().to_owned();
    let name = format!("job:{id}");

    // Nothing fires before the next slot.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(runs_of(&app, &owner, &id).await.is_empty());

    to_next_minute(&app);
    let runs = finished_runs(&app, &owner, &id, 1).await;
    assert_eq!(runs[0]["status"], "succeeded", "{runs:?}");
    assert_eq!(runs[0]["rows_ok"], 20);
    // Both schedulers looked at the slot a few times: it fired once.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(fired(&app, &name).len(), 1);
    assert_eq!(runs_of(&app, &owner, &id).await.len(), 1);

    // Ten minutes without a look (the workers were down): the latest slot
    // fires, once.
    app.platform.clock.advance(chrono::Duration::minutes(10));
    finished_runs(&app, &owner, &id, 2).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let slots = fired(&app, &name);
    assert_eq!(slots.len(), 2, "{slots:?}");
    assert_eq!(runs_of(&app, &owner, &id).await.len(), 2);
    let first = chrono::DateTime::parse_from_rfc3339(slots[0]["slot"].as_str().unwrap()).unwrap();
    let second = chrono::DateTime::parse_from_rfc3339(slots[1]["slot"].as_str().unwrap()).unwrap();
    assert_eq!((second - first).num_minutes(), 10);

    // Without its schedule the job runs only when asked.
    let res = app
        .client
        .patch(app.url(&format!("/v1/jobs/{id}")))
        .bearer_auth(&owner)
        .json(&json!({"schedule": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    app.platform.clock.advance(chrono::Duration::minutes(5));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(fired(&app, &name).len(), 2);
}

#[tokio::test]
async fn a_scheduled_job_first_retries_the_rows_its_last_run_failed_then_runs() {
    let app = app_with_scheduler().await;
    let target = target_db();
    let source = TestDb::empty();
    source
        .connect()
        .batch_execute(
            "CREATE TABLE people (mail TEXT, name TEXT);
             INSERT INTO people SELECT 'p' || i || '@example.com', 'Person ' || i
               FROM generate_series(1, 5) i;
             UPDATE people SET name = 'A name far longer than twenty' WHERE mail = 'p3@example.com';",
        )
        .unwrap();
    let (owner, _) = account(&app, "ada@example.com").await;
    let into = connect_target(&app, &owner, &target).await;
    let from = connect_target(&app, &owner, &source).await;
    let job = |schedule: Value, retry_failed: bool| {
        json!({
            "name": "nightly from the crm",
            "source": {"connection_id": from, "query": "SELECT mail, name FROM people ORDER BY mail"},
            "target": {"connection_id": into, "object": "contacts"},
            "operation": "upsert",
            "key_fields": ["email"],
            "mapping": [
                {"source": "mail", "target": "email"},
                {"source": "name", "target": "first_name"},
            ],
            "schedule": schedule,
            "retry_failed": retry_failed,
        })
    };
    let create = |body: Value| {
        app.client
            .post(app.url("/v1/jobs"))
            .bearer_auth(&owner)
            .json(&body)
            .send()
    };
    // Only a scheduled job retries by itself.
    let res = create(job(Value::Null, true)).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused: Value = res.json().await.unwrap();
    assert_eq!(refused["error"]["field"], "retry_failed", "{refused}");

    to_next_minute(&app);
    let res = create(job(json!("* * * * *"), true)).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["retry_failed"], true);
    let id = created["id"].as_str().unwrap().to_owned();

    // The first slot: the row whose name is too long fails.
    to_next_minute(&app);
    let runs = finished_runs(&app, &owner, &id, 1).await;
    assert_eq!(
        (runs[0]["rows_ok"].clone(), runs[0]["rows_failed"].clone()),
        (json!(4), json!(1))
    );
    let first = runs[0]["id"].as_str().unwrap().to_owned();

    // The long name is cut to fit; the next slot retries that row first,
    // then reads the source anew.
    source
        .connect()
        .batch_execute("UPDATE people SET name = 'Short' WHERE mail = 'p3@example.com'")
        .unwrap();
    let res = app
        .client
        .patch(app.url(&format!("/v1/jobs/{id}")))
        .bearer_auth(&owner)
        .json(&json!({"mapping": [
            {"source": "mail", "target": "email"},
            {"formula": "LEFT([name], 20)", "target": "first_name"},
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    to_next_minute(&app);
    let runs = finished_runs(&app, &owner, &id, 3).await;
    let retry = runs
        .iter()
        .find(|r| r["retry_of"] == json!(first))
        .unwrap_or_else(|| panic!("no retry of the first run: {runs:?}"));
    assert_eq!(
        (retry["rows_ok"].clone(), retry["rows_failed"].clone()),
        (json!(1), json!(0))
    );
    let after = runs
        .iter()
        .find(|r| r["id"] != json!(first) && r["retry_of"].is_null())
        .unwrap();
    assert_eq!(after["rows_ok"], 5, "{runs:?}");
    // Asked for by the retry as it ended, under an id derived from it.
    let retry_id: uuid::Uuid = retry["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        after["id"],
        json!(uuid::Uuid::new_v5(&retry_id, b"then-run")),
        "{runs:?}"
    );
    let kept: String =
        diesel::sql_query("SELECT first_name FROM contacts WHERE email = 'p3@example.com'")
            .get_result::<Name>(&mut target.connect())
            .unwrap()
            .first_name;
    assert_eq!(kept, "Short");

    // A later slot finds nothing failed: just the job's run.
    to_next_minute(&app);
    let runs = finished_runs(&app, &owner, &id, 4).await;
    assert_eq!(runs.iter().filter(|r| !r["retry_of"].is_null()).count(), 1);
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    first_name: String,
}

#[tokio::test]
async fn schedules_are_checked_and_need_a_source_read_anew_at_each_run() {
    let app = spawn_app_with(AppOptions::default()).await;
    let target = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let into = connect_target(&app, &owner, &target).await;
    let upload: Value = upload_multipart(&app, &owner, "people.csv", marked_csv())
        .await
        .json()
        .await
        .unwrap();
    for (schedule, says) in [
        ("0 6 * * 1-5", "name the days"),
        ("every day", "five fields"),
        ("0 25 * * *", "cannot be read"),
        ("0 6 * * MON-FRI", "query"),
    ] {
        let res = app
            .client
            .post(app.url("/v1/jobs"))
            .bearer_auth(&owner)
            .json(&json!({
                "name": "people",
                "source": {"upload_id": upload["id"]},
                "target": {"connection_id": into, "object": "contacts"},
                "operation": "insert",
                "mapping": [{"source": "Email", "target": "email"}],
                "schedule": schedule,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{schedule}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["field"], "schedule", "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(says),
            "{schedule}: {body}"
        );
    }
}

#[tokio::test]
async fn the_retention_schedule_sweeps_by_itself_and_records_what_went() {
    let app = app_with_scheduler().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let upload: Value = upload_multipart(&app, &owner, "people.csv", marked_csv())
        .await
        .json()
        .await
        .unwrap();
    let id = upload["id"].as_str().unwrap().to_owned();
    assert_eq!(app.store.list("uploads").unwrap().len(), 1);

    // Past the upload's hour: the next 5-minute slot sweeps it.
    app.platform.clock.advance(chrono::Duration::minutes(65));
    let purged = eventually(Duration::from_secs(20), "the sweep", || async {
        payloads(&app, "retention.purged")
            .into_iter()
            .find(|p| p["uploads"].as_array().is_some_and(|u| !u.is_empty()))
    })
    .await;
    assert_eq!(purged["uploads"], json!([id]), "ids only: {purged}");
    assert!(
        app.store.list("uploads").unwrap().is_empty(),
        "no file left"
    );
    let keys: i64 = upload_keys::table
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(keys, 0, "no key left");
    assert!(!fired(&app, "retention").is_empty());
}

#[tokio::test]
async fn the_daily_reminder_asks_for_a_key_rotation_once_the_key_is_old() {
    let app = app_with_scheduler().await;
    account(&app, "ada@example.com").await;
    // Today's reminder finds a young key and says nothing.
    eventually(Duration::from_secs(20), "the first reminder", || async {
        (!fired(&app, "key_rotation_reminder").is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(payloads(&app, "keys.rotation_due").is_empty());

    app.platform.clock.advance(chrono::Duration::days(91));
    let due = eventually(Duration::from_secs(20), "the reminder", || async {
        payloads(&app, "keys.rotation_due").into_iter().next()
    })
    .await;
    assert!(due["age_days"].as_i64().unwrap() >= 90, "{due}");
    assert_eq!(due["primary"], 1);
}

/// `PATCH /v1/jobs/{id}` with `body`, as `token`: the status and the job.
async fn patch_job(app: &TestApp, token: &str, id: &str, body: Value) -> (StatusCode, Value) {
    let res = app
        .client
        .patch(app.url(&format!("/v1/jobs/{id}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

#[tokio::test]
async fn a_paused_schedule_lets_its_slots_pass_and_resumes_from_the_next_slot() {
    let app = app_with_scheduler().await;
    let target = target_db();
    let source = people(3);
    let (owner, created) = account(&app, "ada@example.com").await;
    let into = connect_target(&app, &owner, &target).await;
    let from = connect_target(&app, &owner, &source).await;
    to_next_minute(&app);
    let job = crm_job(&app, &owner, &from, &into, json!("* * * * *")).await;
    assert_eq!(job["schedule_paused"], false);
    assert!(job["next_run_at"].is_string(), "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let name = format!("job:{id}");

    let (status, paused) = patch_job(&app, &owner, &id, json!({"schedule_paused": true})).await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["schedule_paused"], true);
    assert_eq!(paused["schedule"], "* * * * *");
    assert!(paused["next_run_at"].is_null(), "{paused}");
    let shown = call_json(&app, Method::GET, &format!("/v1/jobs/{id}"), &owner).await;
    assert_eq!(shown["schedule_paused"], true);
    let listed = call_json(&app, Method::GET, "/v1/jobs", &owner).await;
    assert_eq!(listed["jobs"][0]["schedule_paused"], true);

    // Its slots pass: a minute, then ten more without a run.
    to_next_minute(&app);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app.platform.clock.advance(chrono::Duration::minutes(10));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(runs_of(&app, &owner, &id).await.is_empty());
    assert!(fired(&app, &name).is_empty());

    // Resumed early in a minute: the slots missed are not made up; the next
    // one runs.
    to_next_minute(&app);
    let (status, resumed) = patch_job(&app, &owner, &id, json!({"schedule_paused": false})).await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["schedule_paused"], false);
    assert!(resumed["next_run_at"].is_string(), "{resumed}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(runs_of(&app, &owner, &id).await.is_empty());
    to_next_minute(&app);
    let runs = finished_runs(&app, &owner, &id, 1).await;
    assert_eq!(runs[0]["status"], "succeeded", "{runs:?}");
    assert_eq!(fired(&app, &name).len(), 1);

    // The log says who paused and resumed it.
    let user = created["user_id"].as_str().unwrap();
    let changes: Vec<(Value, Value)> = events::table
        .filter(events::stream_id.eq(uuid::Uuid::parse_str(&id).unwrap()))
        .filter(events::event_type.eq("job.updated.v2"))
        .order(events::global_seq.asc())
        .select((events::payload, events::metadata))
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0].0["schedule_paused"], true);
    assert!(changes[1].0.get("schedule_paused").is_none(), "{changes:?}");
    for (_, metadata) in &changes {
        assert_eq!(metadata["actor"], format!("user:{user}"), "{metadata}");
    }

    // Removing the schedule clears the pause; a job without one cannot be
    // paused.
    patch_job(&app, &owner, &id, json!({"schedule_paused": true})).await;
    let (status, removed) = patch_job(&app, &owner, &id, json!({"schedule": null})).await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert_eq!(removed["schedule_paused"], false);
    assert!(removed["next_run_at"].is_null());
    let (status, refused) = patch_job(&app, &owner, &id, json!({"schedule_paused": true})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["error"]["field"], "schedule_paused", "{refused}");
}
