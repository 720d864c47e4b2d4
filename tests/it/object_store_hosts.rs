//! An API and two workers as if on separate hosts: three `sluice`
//! processes, each with its own empty local directory, sharing only
//! PostgreSQL, RabbitMQ and the object store. The worker that holds a run
//! is killed mid-run (`kill -9`); the other ends the run whole, and the
//! run is rolled back.

use crate::accounts::{account, call};
use crate::imports::{
    connect_target, create_job, result_file, target_db, upload, wait_for_run_within,
};
use crate::phases::{numbers, people_csv};
use crate::support::files_under;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_testkit::{spawn_app_with, AppOptions, TestApp};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

/// Twelve batches of 5,000 rows (the worker's batch size).
const ROWS: u64 = 60_000;

/// How long a run that a killed worker slows down may take.
const LONG: Duration = Duration::from_secs(300);

/// Every 1,000th row's name does not fit `first_name VARCHAR(20)`.
const REFUSED_EVERY: u64 = 1_000;

/// A `sluice` process, killed when dropped (a failed test leaves none).
struct Process(std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `sluice <role>` on the test's database, broker namespace, keyring and
/// bucket, with `local` as its own directory.
fn host(app: &TestApp, role: &str, local: &Path, name: &str, bind: &str) -> Process {
    let bucket = app.object_store.as_ref().unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg(role)
        .env("SLUICE_DATABASE_URL", &app.db.url)
        .env("SLUICE_AMQP_URL", &app.broker.url)
        .env("SLUICE_AMQP_NAMESPACE", &app.broker.topology.namespace)
        .env("SLUICE_KEYRING", &app.keyring_file)
        .envs(bucket.env("app", local))
        .env("SLUICE_ALLOW_LOCAL_CONNECTIONS", "true")
        .env("SLUICE_BIND", bind)
        .env("SLUICE_WORKER_NAME", name)
        .env("SLUICE_DATABASE_POOL_SIZE", "4")
        .env("SLUICE_LOG", "warn")
        .env_remove("FAILPOINTS")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    Process(child)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The names of the workers that started (or resumed) `run`, in order,
/// and the batch each resumed after.
fn starts(app: &TestApp, run: &str) -> Vec<(String, i64)> {
    use sluice_schema::schema::events;
    let rows: Vec<(Value, Value)> = events::table
        .filter(events::event_type.eq("run.started"))
        .filter(events::stream_id.eq(uuid::Uuid::parse_str(run).unwrap()))
        .order(events::global_seq.asc())
        .select((events::payload, events::metadata))
        .load(&mut app.conn())
        .unwrap();
    rows.into_iter()
        .map(|(payload, metadata)| {
            (
                metadata["actor"].as_str().unwrap_or_default().to_owned(),
                payload["resumed_after_batch"].as_i64().unwrap_or(0),
            )
        })
        .collect()
}

/// The table's emails.
pub(crate) fn emails(target: &sluice_testkit::TestDb) -> BTreeSet<String> {
    #[derive(QueryableByName)]
    struct Email {
        #[diesel(sql_type = diesel::sql_types::Text)]
        email: String,
    }
    diesel::sql_query("SELECT email FROM contacts")
        .load::<Email>(&mut target.connect())
        .unwrap()
        .into_iter()
        .map(|e| e.email)
        .collect()
}

#[tokio::test]
async fn an_api_and_two_workers_sharing_only_database_broker_and_bucket_survive_a_killed_worker() {
    let mut app = spawn_app_with(AppOptions {
        worker: false,
        relay: false,
        object_store: true,
        ..AppOptions::default()
    })
    .await;
    let disks: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let bind = format!("127.0.0.1:{}", free_port());
    let _api = host(&app, "api", disks[0].path(), "api-host", &bind);
    // From here on every request goes to the `sluice api` process.
    app.address = format!("http://{bind}");
    let health = app.url("/healthz");
    sluice_testkit::eventually(Duration::from_secs(60), "the API process", || {
        let request = app.client.get(&health).send();
        async move { request.await.ok().filter(|r| r.status().is_success()) }
    })
    .await;
    let mut workers = vec![
        Some(host(
            &app,
            "worker",
            disks[1].path(),
            "host-a",
            "127.0.0.1:0",
        )),
        Some(host(
            &app,
            "worker",
            disks[2].path(),
            "host-b",
            "127.0.0.1:0",
        )),
    ];

    let target = target_db();
    target
        .connect()
        .batch_execute(
            "INSERT INTO contacts (email, first_name) VALUES ('kept@example.com', 'Kept')",
        )
        .unwrap();
    let before = emails(&target);
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let upload = upload(&app, &owner, people_csv(ROWS, REFUSED_EVERY)).await;
    let mapping = json!([
        {"source": "Email", "target": "email"},
        {"source": "Name", "target": "first_name"},
    ]);
    let job: Value = create_job(&app, &owner, &upload, &connection, mapping)
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/v1/jobs/{}/runs", job["id"].as_str().unwrap());
    let queued: Value = call(&app, Method::POST, &path, &owner)
        .await
        .json()
        .await
        .unwrap();
    let run = queued["run_id"].as_str().unwrap().to_owned();

    // Once some batches are in, the worker holding the run dies.
    let shown = format!("/v1/runs/{run}");
    let seen = sluice_testkit::eventually(Duration::from_secs(120), "some batches", || {
        let (app, shown, owner) = (&app, &shown, &owner);
        async move {
            let run: Value = call(app, Method::GET, shown, owner)
                .await
                .json()
                .await
                .ok()?;
            (run["rows_ok"].as_i64()? >= 10_000).then_some(run)
        }
    })
    .await;
    assert_eq!(seen["status"], "running", "{seen}");
    let holder = starts(&app, &run)[0].0.clone();
    let (killed, survivor) = match holder.as_str() {
        "worker:host-a" => (0, "worker:host-b"),
        "worker:host-b" => (1, "worker:host-a"),
        other => panic!("the run was started by {other}"),
    };
    drop(workers[killed].take());

    let ended = wait_for_run_within(&app, &owner, &run, LONG).await;
    let written: BTreeSet<u64> = (1..=ROWS)
        .filter(|n| !n.is_multiple_of(REFUSED_EVERY))
        .collect();
    let failed: BTreeSet<u64> = (1..=ROWS)
        .filter(|n| n.is_multiple_of(REFUSED_EVERY))
        .collect();
    assert_eq!(ended["status"], "partially_succeeded", "{ended}");
    assert_eq!(ended["rows_ok"], written.len(), "{ended}");
    assert_eq!(ended["rows_failed"], failed.len(), "{ended}");
    let resumed = starts(&app, &run);
    let last = resumed.last().unwrap();
    assert_eq!(last.0, survivor, "{resumed:?}");
    assert!(
        last.1 > 0,
        "resumed after the committed batches: {resumed:?}"
    );
    let imported = emails(&target);
    assert_eq!(
        imported.len(),
        before.len() + written.len(),
        "each row once"
    );

    let success = result_file(&app, &owner, &run, "success").await;
    assert_eq!(numbers(&success), (written.clone(), written.len()));
    let errors = result_file(&app, &owner, &run, "errors").await;
    assert_eq!(numbers(&errors), (failed.clone(), failed.len()));

    let rollback: Value = call(
        &app,
        Method::POST,
        &format!("/v1/runs/{run}/rollback"),
        &owner,
    )
    .await
    .json()
    .await
    .unwrap();
    let rollback = rollback["run_id"].as_str().unwrap().to_owned();
    let undone = wait_for_run_within(&app, &owner, &rollback, LONG).await;
    assert_eq!(undone["status"], "rolled_back", "{undone}");
    assert_eq!(emails(&target), before, "the table is as it was");
    let success = result_file(&app, &owner, &rollback, "success").await;
    assert_eq!(numbers(&success), (written.clone(), written.len()));

    // What the other hosts need was never on the API's host, nor left on
    // the survivor's.
    assert_eq!(
        files_under(disks[0].path()),
        Vec::<std::path::PathBuf>::new()
    );
    assert_eq!(
        files_under(disks[2 - killed].path()),
        Vec::<std::path::PathBuf>::new()
    );
    let status = call(&app, Method::GET, &format!("/v1/uploads/{upload}"), &owner)
        .await
        .status();
    assert_eq!(status, StatusCode::OK);
    drop(workers);
}
