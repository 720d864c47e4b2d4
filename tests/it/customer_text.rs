//! What a customer typed (job and connection names, column names, target
//! objects, connection parameters, API token names, mapping templates) or what came from their
//! data (a run's failure message quoting a table) is sealed under the
//! account's subject key wherever it is stored or published: a dump of the
//! database and the audit stream hold none of it, the API and the worker
//! still read it, and erasure makes it unreadable. Ids, kinds and Sluice's
//! enums stay in clear.

use crate::accounts::{account, call_json};
use crate::imports::{run_to_end, upload, wait_for_run};
use crate::support::{read_audit_wire, relay_reached};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_events::event::{ConnectionCreated, JobCreated, RunFinished, RunRequested, TokenIssued};
use sluice_events::{append, AppendRequest, DomainEvent, ExpectedVersion, Metadata, NewEvent};
use sluice_schema::ids::AccountId;
use sluice_schema::schema::{events, subject_keys};
use sluice_testkit::{spawn_app, TestApp, TestDb};
use sluice_vault::{owner, SubjectKey};
use std::time::Duration;

/// Every marker below holds this (in either case), and nothing of Sluice's does.
const MARK: &str = "quokka";
const JOB_NAME: &str = "Nightly Quokkafarm sync";
const COLUMN: &str = "QuokkaEmailColumn";
const TABLE: &str = "quokka_contacts";
const CONNECTION: &str = "Quokkafarm warehouse";
const ARCHIVE: &str = "Quokkafarm archive";
const HOST: &str = "quokka-db.internal.example";
const DBNAME: &str = "quokka_sales";
const DB_USER: &str = "quokka_reader";
const TOKEN_NAME: &str = "Quokkafarm nightly loader";
const TEMPLATE: &str = "Quokkafarm monthly mapping";

fn target() -> TestDb {
    let db = TestDb::empty();
    db.connect()
        .batch_execute(&format!(
            "CREATE TABLE {TABLE} (id SERIAL PRIMARY KEY, email TEXT NOT NULL)"
        ))
        .unwrap();
    db
}

fn dump(app: &TestApp) -> String {
    let out = std::process::Command::new("pg_dump")
        .args(["--data-only", "--dbname", &app.db.url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn holds_a_marker(text: &str) -> bool {
    text.to_lowercase().contains(MARK)
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let res = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED, "{path}");
    res.json().await.unwrap()
}

/// A connection to `target` named [`CONNECTION`], one never tested with
/// the marked host, database and user, and a job from a marked column into
/// the marked table: the job's id.
async fn define(app: &TestApp, token: &str, target: &TestDb) -> String {
    let mut params = crate::connections::params_for(app, "unused-password");
    params["dbname"] = json!(target.name);
    let body = json!({ "name": CONNECTION, "kind": "postgres", "params": params });
    let connection = post(app, token, "/v1/connections", body).await;
    assert_eq!(connection["name"], CONNECTION);
    let body = json!({
        "name": ARCHIVE,
        "kind": "postgres",
        "test": false,
        "params": {"host": HOST, "dbname": DBNAME, "user": DB_USER, "password": "pw",
                   "sslmode": "require"},
    });
    let archive = post(app, token, "/v1/connections", body).await;
    assert_eq!(archive["params"]["host"], HOST, "{archive}");
    assert_eq!(archive["params"]["sslmode"], "require", "{archive}");

    let csv = format!("{COLUMN}\nann@example.com\nbob@example.com\n");
    let upload_id = upload(app, token, csv.into_bytes()).await;
    let body = json!({
        "name": "first name",
        "source": {"upload_id": upload_id},
        "target": {"connection_id": connection["id"], "object": TABLE},
        "operation": "insert",
        "mapping": [{"source": COLUMN, "target": "email"}],
    });
    let job = post(app, token, "/v1/jobs", body).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let res = app
        .client
        .patch(app.url(&format!("/v1/jobs/{id}")))
        .bearer_auth(token)
        .json(&json!({ "name": JOB_NAME }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    id
}

#[tokio::test]
async fn job_and_connection_text_never_reaches_the_database_or_the_audit_stream_in_clear() {
    let app = spawn_app().await;
    let (token, _) = account(&app, "ada@example.com").await;
    let target = target();
    let job = define(&app, &token, &target).await;

    // The API and the worker read it all the same.
    let shown = call_json(&app, Method::GET, &format!("/v1/jobs/{job}"), &token).await;
    assert_eq!(shown["name"], JOB_NAME, "{shown}");
    assert_eq!(shown["mapping"][0]["source"], COLUMN, "{shown}");
    assert_eq!(shown["target"]["object"], TABLE, "{shown}");
    let listed = call_json(&app, Method::GET, "/v1/connections", &token).await;
    let names: Vec<&str> = listed["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, [CONNECTION, ARCHIVE], "{listed}");
    let run = run_to_end(&app, &token, &job).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["rows_ok"], 2, "{run}");
    let template = json!({"name": TEMPLATE, "entries": [{"source": COLUMN, "target": "email"}]});
    let saved = post(&app, &token, "/v1/mapping-templates", template).await;
    assert_eq!(saved["name"], TEMPLATE, "{saved}");

    let kinds = [
        "job.created.v2",
        "job.updated.v2",
        "connection.created.v2",
        "mapping_template.saved",
    ];
    let markers = [
        JOB_NAME, COLUMN, TABLE, CONNECTION, HOST, DBNAME, DB_USER, TEMPLATE,
    ];
    nothing_in_clear(&app, &kinds, &markers).await;
}

/// A `pg_dump --data-only` has events of `kinds` and none of `markers` (nor
/// anything else marked); the audit stream has every event and nothing
/// marked; replay rebuilds the projections equal.
async fn nothing_in_clear(app: &TestApp, kinds: &[&str], markers: &[&str]) {
    let dumped = dump(app);
    for kind in kinds {
        assert!(dumped.contains(kind), "the dump has {kind}");
    }
    assert!(!holds_a_marker(&dumped), "customer text is stored in clear");
    for marker in markers {
        assert!(!dumped.contains(marker), "{marker} is stored in clear");
    }

    let mut conn = app.conn();
    let last: i64 = events::table
        .select(diesel::dsl::max(events::global_seq))
        .first::<Option<i64>>(&mut conn)
        .unwrap()
        .unwrap();
    relay_reached(app, last, Duration::from_secs(30)).await;
    let published = read_audit_wire(
        &app.broker.url,
        &app.broker.topology.audit_queue(),
        usize::try_from(last).unwrap(),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(published.len(), usize::try_from(last).unwrap());
    for message in &published {
        let text = String::from_utf8_lossy(message);
        assert!(!holds_a_marker(&text), "published in clear: {text}");
    }

    let report = sluice_events::replay::replay(&mut conn, false).unwrap();
    assert!(report.is_equal(), "{report:?}");
}

/// The sealed `details` of the account's events of `kind`.
fn sealed_details(conn: &mut PgConnection, kind: &str) -> Vec<(uuid::Uuid, String)> {
    sealed_fields(conn, kind, "details")
}

/// The sealed `field` of the events of `kind` that have it, by stream.
fn sealed_fields(conn: &mut PgConnection, kind: &str, field: &str) -> Vec<(uuid::Uuid, String)> {
    events::table
        .filter(events::event_type.eq(kind))
        .select((events::stream_id, events::payload))
        .load::<(uuid::Uuid, Value)>(conn)
        .unwrap()
        .into_iter()
        .filter_map(|(id, payload)| Some((id, payload[field].as_str()?.to_owned())))
        .collect()
}

/// The account's subject key, unwrapped.
fn subject_of(app: &TestApp, conn: &mut PgConnection, account: uuid::Uuid) -> SubjectKey {
    let (version, wrapped): (i32, Vec<u8>) = subject_keys::table
        .find(account)
        .select((subject_keys::kek_version, subject_keys::wrapped_key))
        .first(conn)
        .unwrap();
    let version = u32::try_from(version).unwrap();
    SubjectKey::unwrap(&app.keyring.get(), &account.to_string(), version, &wrapped).unwrap()
}

#[tokio::test]
async fn erasure_makes_job_and_connection_text_unreadable() {
    let app = spawn_app().await;
    let (token, account) = account(&app, "ada@example.com").await;
    let account: uuid::Uuid = account["account_id"].as_str().unwrap().parse().unwrap();
    let target = target();
    define(&app, &token, &target).await;

    let mut conn = app.conn();
    let jobs = sealed_details(&mut conn, "job.updated.v2");
    let connections = sealed_details(&mut conn, "connection.created.v2");
    assert_eq!((jobs.len(), connections.len()), (1, 2));
    let subject = subject_of(&app, &mut conn, account);
    let (job, sealed) = &jobs[0];
    let plain = subject
        .decrypt(sealed, &owner::job_details(account, job))
        .unwrap();
    assert!(
        plain.contains(JOB_NAME) && plain.contains(COLUMN),
        "opens before"
    );

    erase(&app, &token).await;

    // The sealed text is still in the log, and the one key that opens it is gone.
    assert_eq!(sealed_details(&mut conn, "job.updated.v2"), jobs);
    assert_eq!(
        sealed_details(&mut conn, "connection.created.v2"),
        connections
    );
    assert_eq!(subject_keys_of(&mut conn, account), 0, "destroyed");
    let other = SubjectKey::generate();
    assert!(other
        .decrypt(sealed, &owner::job_details(account, job))
        .is_err());
    assert!(!holds_a_marker(&dump(&app)));
    let report = sluice_events::replay::replay(&mut conn, false).unwrap();
    assert!(report.is_equal(), "{report:?}");
}

async fn erase(app: &TestApp, token: &str) {
    let res = app
        .client
        .delete(app.url("/v1/account"))
        .bearer_auth(token)
        .json(&json!({"confirm": "erase this account"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

fn subject_keys_of(conn: &mut PgConnection, account: uuid::Uuid) -> i64 {
    subject_keys::table
        .filter(subject_keys::account_id.eq(account))
        .count()
        .get_result(conn)
        .unwrap()
}

/// `event` appended to stream `id` for `account` as earlier code did it.
fn as_old(account: AccountId, stream: &str, id: uuid::Uuid, event: DomainEvent) -> AppendRequest {
    let event = NewEvent::new(event, Metadata::actor("user:old")).for_account(account);
    AppendRequest::new(stream, id, ExpectedVersion::NoStream, vec![event])
}

/// A job reading a query on `connection` into its `contacts`, as earlier
/// code recorded it: the definition in clear.
fn old_job(connection: uuid::Uuid) -> DomainEvent {
    let defined: JobCreated = serde_json::from_value(json!({
        "name": "old job",
        "source": {"connection_id": connection, "query": "SELECT 1 AS one"},
        "target": {"connection_id": connection, "object": "contacts"},
        "operation": "insert",
        "key_fields": [],
        "mapping": [{"source": "one", "target": "id"}],
    }))
    .unwrap();
    DomainEvent::JobCreated(defined)
}

#[tokio::test]
async fn jobs_and_connections_recorded_in_clear_before_sealing_still_read_and_replay() {
    let app = spawn_app().await;
    let (token, account) = account(&app, "ada@example.com").await;
    let account = AccountId(account["account_id"].as_str().unwrap().parse().unwrap());
    let (connection, job) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let old = |stream: &str, id: uuid::Uuid, event: DomainEvent| as_old(account, stream, id, event);
    let mut conn = app.conn();
    let created = DomainEvent::ConnectionCreated(ConnectionCreated {
        name: "old warehouse".into(),
        kind: sluice_schema::kinds::ConnectionKind::Postgres,
        params: json!({"host": "db.example", "port": 5432, "dbname": "sales", "user": "u",
                       "sslmode": "verify-full"}),
    });
    append(&mut conn, &old("connection", connection, created)).unwrap();
    append(&mut conn, &old("job", job, old_job(connection))).unwrap();

    let shown = call_json(
        &app,
        Method::GET,
        &format!("/v1/connections/{connection}"),
        &token,
    )
    .await;
    assert_eq!(shown["name"], "old warehouse", "{shown}");
    assert_eq!(shown["params"]["host"], "db.example", "{shown}");
    let shown = call_json(&app, Method::GET, &format!("/v1/jobs/{job}"), &token).await;
    assert_eq!(shown["name"], "old job", "{shown}");
    assert_eq!(shown["source"]["query"], "SELECT 1 AS one", "{shown}");
    assert_eq!(shown["mapping"][0]["source"], "one", "{shown}");
    let report = sluice_events::replay::replay(&mut conn, false).unwrap();
    assert!(report.is_equal(), "{report:?}");
}

/// A job whose stored definition does not read as one (here an old job's
/// clear target, its object gone) fails its run saying so, rather than
/// running with a blank object.
#[tokio::test]
async fn a_run_of_a_job_whose_definition_does_not_read_fails_saying_so() {
    let app = spawn_app().await;
    let (token, account) = account(&app, "ada@example.com").await;
    let account = AccountId(account["account_id"].as_str().unwrap().parse().unwrap());
    let (connection, job, run) = (
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
    );
    let request =
        |stream: &str, id: uuid::Uuid, event: DomainEvent| as_old(account, stream, id, event);
    let mut conn = app.conn();
    append(&mut conn, &request("job", job, old_job(connection))).unwrap();
    conn.batch_execute(&format!(
        "UPDATE jobs SET target = '{{\"connection_id\": \"{connection}\"}}' WHERE job_id = '{job}'"
    ))
    .unwrap();
    let requested = DomainEvent::RunRequested(RunRequested::import(job));
    append(&mut conn, &request("run", run, requested)).unwrap();

    let shown = wait_for_run(&app, &token, &run.to_string()).await;
    assert_eq!(shown["status"], "failed", "{shown}");
    let message = shown["message"].as_str().unwrap();
    assert!(
        message.contains("the job's definition cannot be read"),
        "{message}"
    );
    assert!(message.contains("object"), "{message}");
}

/// Drops the job's marked target table, then runs the job: the run fails
/// with a message naming the table. The run as the API shows it.
async fn run_failing_on_the_marked_table(
    app: &TestApp,
    token: &str,
    target: &TestDb,
    job: &str,
) -> Value {
    target
        .connect()
        .batch_execute(&format!("DROP TABLE {TABLE}"))
        .unwrap();
    let run = run_to_end(app, token, job).await;
    assert_eq!(run["status"], "failed", "{run}");
    let message = run["message"].as_str().unwrap();
    assert!(message.contains(TABLE), "the message is opened: {run}");
    run
}

/// An API token named [`TOKEN_NAME`]: its id.
async fn named_token(app: &TestApp, token: &str) -> String {
    let created = post(app, token, "/v1/api-tokens", json!({ "name": TOKEN_NAME })).await;
    assert_eq!(created["name"], TOKEN_NAME, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_run_failure_message_and_a_token_name_never_reach_the_database_or_the_audit_stream_in_clear(
) {
    let app = spawn_app().await;
    let (token, _) = account(&app, "ada@example.com").await;
    let target = target();
    let job = define(&app, &token, &target).await;
    let run = run_failing_on_the_marked_table(&app, &token, &target, &job).await;
    let id = run["id"].as_str().unwrap();
    let named = named_token(&app, &token).await;

    // The API opens them: the run, the run history, the token list, the export.
    let history = call_json(&app, Method::GET, &format!("/v1/jobs/{job}/runs"), &token).await;
    assert_eq!(history["runs"][0]["message"], run["message"], "{history}");
    let tokens = call_json(&app, Method::GET, "/v1/api-tokens", &token).await;
    let listed = &tokens["api_tokens"][0];
    assert_eq!(
        (listed["id"].as_str(), &listed["name"]),
        (Some(named.as_str()), &json!(TOKEN_NAME))
    );
    let res = crate::account_export::export(&app, &token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = res.bytes().await.unwrap().to_vec();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let runs: Value =
        serde_json::from_str(&crate::account_export::entry(&mut archive, "runs.json")).unwrap();
    assert_eq!(runs[0]["message"], run["message"], "{runs}");
    let events = crate::account_export::entry(&mut archive, "events.jsonl");
    let exported = |kind: &str, stream: &str| -> Value {
        events
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .find(|e| e["event_type"] == kind && e["stream_id"] == stream)
            .unwrap_or_else(|| panic!("{kind} is exported"))
    };
    let finished = exported("run.finished.v2", id);
    assert_eq!(finished["payload"]["message"], run["message"], "{finished}");
    let issued = exported("token.issued.v2", &named);
    assert_eq!(issued["payload"]["name"], TOKEN_NAME, "{issued}");

    nothing_in_clear(
        &app,
        &["run.finished.v2", "token.issued.v2"],
        &[TABLE, TOKEN_NAME],
    )
    .await;
}

#[tokio::test]
async fn erasure_makes_a_run_failure_message_and_a_token_name_unreadable() {
    let app = spawn_app().await;
    let (token, account) = account(&app, "ada@example.com").await;
    let account: uuid::Uuid = account["account_id"].as_str().unwrap().parse().unwrap();
    let target = target();
    let job = define(&app, &token, &target).await;
    run_failing_on_the_marked_table(&app, &token, &target, &job).await;
    named_token(&app, &token).await;

    let mut conn = app.conn();
    let messages = sealed_fields(&mut conn, "run.finished.v2", "message");
    let names = sealed_fields(&mut conn, "token.issued.v2", "name");
    assert_eq!(
        (messages.len(), names.len()),
        (1, 1),
        "a session has no name"
    );
    let subject = subject_of(&app, &mut conn, account);
    let (run, message) = &messages[0];
    let (named, name) = &names[0];
    let opened = subject
        .decrypt(message, &owner::run_message(account, run))
        .unwrap();
    assert!(opened.contains(TABLE), "opens before: {}", *opened);
    let opened = subject
        .decrypt(name, &owner::token_name(account, named))
        .unwrap();
    assert_eq!(opened.as_str(), TOKEN_NAME);

    erase(&app, &token).await;

    assert_eq!(
        sealed_fields(&mut conn, "run.finished.v2", "message"),
        messages
    );
    assert_eq!(sealed_fields(&mut conn, "token.issued.v2", "name"), names);
    assert_eq!(subject_keys_of(&mut conn, account), 0, "destroyed");
    let other = SubjectKey::generate();
    assert!(other
        .decrypt(message, &owner::run_message(account, run))
        .is_err());
    assert!(other
        .decrypt(name, &owner::token_name(account, named))
        .is_err());
    assert!(!holds_a_marker(&dump(&app)));
    let report = sluice_events::replay::replay(&mut conn, false).unwrap();
    assert!(report.is_equal(), "{report:?}");
}

#[tokio::test]
async fn run_messages_and_token_names_recorded_in_clear_before_sealing_still_read_and_replay() {
    let app = spawn_app().await;
    let (token, created) = account(&app, "ada@example.com").await;
    let account = AccountId(created["account_id"].as_str().unwrap().parse().unwrap());
    let user: uuid::Uuid = created["user_id"].as_str().unwrap().parse().unwrap();
    let target = target();
    let job: uuid::Uuid = define(&app, &token, &target).await.parse().unwrap();
    let (run, named) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let old = |events: Vec<DomainEvent>| {
        events
            .into_iter()
            .map(|e| NewEvent::new(e, Metadata::actor("user:old")).for_account(account))
            .collect::<Vec<_>>()
    };
    // Requested and finished at once: no worker takes the run up.
    let ran = old(vec![
        DomainEvent::RunRequested(RunRequested::import(job)),
        DomainEvent::RunFinished(RunFinished {
            status: sluice_schema::kinds::RunStatus::Failed,
            rows_total: 0,
            rows_ok: 0,
            rows_failed: 0,
            rows_skipped: 0,
            message: Some("the database has no table public.contacts".into()),
            results_expire_at: None,
            api_calls: None,
        }),
    ]);
    let issued = old(vec![DomainEvent::TokenIssued(TokenIssued {
        user_id: user,
        kind: "api".into(),
        name: Some("old loader".into()),
        expires_at: chrono::Utc::now() + chrono::Duration::days(30),
        via: None,
    })]);
    let mut conn = app.conn();
    append(
        &mut conn,
        &AppendRequest::new("run", run, ExpectedVersion::NoStream, ran),
    )
    .unwrap();
    append(
        &mut conn,
        &AppendRequest::new("token", named, ExpectedVersion::NoStream, issued),
    )
    .unwrap();

    let shown = call_json(&app, Method::GET, &format!("/v1/runs/{run}"), &token).await;
    assert_eq!(
        shown["message"], "the database has no table public.contacts",
        "{shown}"
    );
    let tokens = call_json(&app, Method::GET, "/v1/api-tokens", &token).await;
    assert_eq!(tokens["api_tokens"][0]["name"], "old loader", "{tokens}");
    let report = sluice_events::replay::replay(&mut conn, false).unwrap();
    assert!(report.is_equal(), "{report:?}");
}
