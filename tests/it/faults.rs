//! Faults of the services Sluice stands on, with the real servers: the
//! broker restarted under 2,000 queued runs, PostgreSQL restarted under the
//! API, and worker processes killed again and again. These stop shared
//! servers, so they are named `fault_*` and run alone, after everything else
//! (see scripts/test.sh).

use crate::accounts::{account, call};
use crate::imports::{connect_target, upload};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_events::event::RunRequested;
use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, Metadata, NewEvent};
use sluice_schema::ids::AccountId;
use sluice_testkit::{eventually, spawn_app, spawn_app_with, AppOptions, TestApp, TestDb};
use std::time::Duration;
use uuid::Uuid;

/// A database with a `hits` table, and a job of `owner`'s that inserts one
/// row into it per run: `(target, job id)`.
async fn one_row_job(app: &TestApp, owner: &str) -> (TestDb, String) {
    let target = TestDb::empty();
    target
        .connect()
        .batch_execute("CREATE TABLE hits (id SERIAL PRIMARY KEY, tag TEXT NOT NULL)")
        .unwrap();
    let connection = connect_target(app, owner, &target).await;
    let upload_id = upload(app, owner, b"tag\nhit\n".to_vec()).await;
    let res = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(owner)
        .json(&json!({
            "name": "one row",
            "source": {"upload_id": upload_id},
            "target": {"connection_id": connection, "object": "hits"},
            "operation": "insert",
            "mapping": [{"source": "tag", "target": "tag"}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let job: Value = res.json().await.unwrap();
    (target, job["id"].as_str().unwrap().to_owned())
}

/// Queues `count` runs of `job`, recorded as the API records them.
async fn queue_runs(app: &TestApp, account: AccountId, job: &str, count: usize) {
    let job = Uuid::parse_str(job).unwrap();
    let requests = (0..count).map(|_| {
        let event = NewEvent::new(
            DomainEvent::RunRequested(RunRequested::import(job)),
            Metadata {
                region: Some(sluice_testkit::REGION.into()),
                ..Metadata::actor("test")
            },
        )
        .for_account(account);
        let appender = app.platform.appender.clone();
        async move {
            appender
                .append(AppendRequest::new(
                    "run",
                    Uuid::now_v7(),
                    ExpectedVersion::NoStream,
                    vec![event],
                ))
                .await
                .unwrap();
        }
    });
    futures_util::future::join_all(requests).await;
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(conn).unwrap().n
}

/// The status and message of every run that did not succeed.
fn unsucceeded(conn: &mut PgConnection) -> Vec<(String, Option<String>)> {
    use sluice_schema::schema::runs;
    runs::table
        .filter(runs::status.ne("succeeded"))
        .select((runs::status, runs::message))
        .load(conn)
        .unwrap()
}

/// Waits until every run of the app has ended, saying how far they got.
async fn all_runs_end(app: &TestApp, total: i64, within: Duration) {
    let url = app.db.url.clone();
    eventually(within, "every run to end", || {
        let url = url.clone();
        async move {
            let mut conn = PgConnection::establish(&url).ok()?;
            let ended =
                diesel::sql_query("SELECT count(*) AS n FROM runs WHERE finished_at IS NOT NULL")
                    .get_result::<Count>(&mut conn)
                    .ok()?
                    .n;
            (ended == total).then_some(())
        }
    })
    .await
}

async fn rabbitmqctl(args: &[&str]) {
    let status = tokio::process::Command::new("rabbitmqctl")
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .expect("rabbitmqctl must be installed for the fault tests");
    assert!(status.success(), "rabbitmqctl {args:?} failed");
}

#[tokio::test]
async fn fault_two_thousand_queued_runs_all_end_across_a_broker_restart() {
    const RUNS: usize = 2_000;
    let app = spawn_app().await;
    let (owner, created) = account(&app, "ada@example.com").await;
    let account_id = AccountId(Uuid::parse_str(created["account_id"].as_str().unwrap()).unwrap());
    let (target, job) = one_row_job(&app, &owner).await;
    queue_runs(&app, account_id, &job, RUNS).await;

    // The broker goes away while the runs are queued and being worked.
    tokio::time::sleep(Duration::from_secs(2)).await;
    rabbitmqctl(&["stop_app"]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    rabbitmqctl(&["start_app"]).await;
    rabbitmqctl(&["await_startup", "--timeout", "60"]).await;

    all_runs_end(&app, RUNS as i64, Duration::from_secs(600)).await;
    let mut conn = app.conn();
    let succeeded = count(
        &mut conn,
        "SELECT count(*) AS n FROM runs WHERE status = 'succeeded'",
    );
    assert_eq!(succeeded, RUNS as i64);
    // Each run ended once, and wrote its row once.
    let finished = count(
        &mut conn,
        "SELECT count(DISTINCT stream_id) AS n FROM events WHERE event_type = 'run.finished.v2'",
    );
    let finishes = count(
        &mut conn,
        "SELECT count(*) AS n FROM events WHERE event_type = 'run.finished.v2'",
    );
    assert_eq!((finished, finishes), (RUNS as i64, RUNS as i64));
    assert_eq!(
        count(&mut target.connect(), "SELECT count(*) AS n FROM hits"),
        RUNS as i64
    );
    assert!(sluice_events::verify::verify(&mut conn)
        .unwrap()
        .is_intact());
}

/// The PostgreSQL cluster the tests use, as `pg_ctlcluster` names it.
fn cluster() -> (String, String) {
    let out = std::process::Command::new("pg_lsclusters")
        .arg("--no-header")
        .output()
        .expect("pg_lsclusters must be installed for the fault tests");
    let listing = String::from_utf8_lossy(&out.stdout);
    let line = listing
        .lines()
        .find(|l| l.contains("online"))
        .expect("an online PostgreSQL cluster");
    let mut fields = line.split_whitespace();
    (
        fields.next().unwrap().to_owned(),
        fields.next().unwrap().to_owned(),
    )
}

fn pg_ctl(action: &str) {
    let (version, name) = cluster_named();
    let status = std::process::Command::new("pg_ctlcluster")
        .args([version.as_str(), name.as_str(), action, "-m", "fast"])
        .status()
        .unwrap();
    assert!(status.success(), "pg_ctlcluster {action} failed");
}

static CLUSTER: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();

fn cluster_named() -> (String, String) {
    CLUSTER.get_or_init(cluster).clone()
}

#[tokio::test]
async fn fault_the_api_answers_503_while_postgres_restarts_and_recovers_by_itself() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    cluster_named();
    pg_ctl("stop");
    let during = async {
        let res = call(&app, Method::GET, "/v1/me", &owner).await;
        let status = res.status();
        let retry_after = res.headers().get("retry-after").cloned();
        let body: Value = res.json().await.unwrap_or_default();
        (status, retry_after, body)
    };
    // PostgreSQL comes back whatever the answer was.
    let answered = tokio::time::timeout(Duration::from_secs(60), during).await;
    pg_ctl("start");
    let (status, retry_after, body) = answered.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(retry_after.is_some());
    assert_eq!(body["error"]["code"], "unavailable");

    // Back without restarting anything: reads and writes work again.
    eventually(
        Duration::from_secs(60),
        "the API to answer again",
        || async {
            let res = call(&app, Method::GET, "/v1/me", &owner).await;
            (res.status() == StatusCode::OK).then_some(())
        },
    )
    .await;
    let res = app
        .client
        .post(app.url("/v1/api-tokens"))
        .bearer_auth(&owner)
        .json(&json!({"name": "after the restart"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn fault_every_run_completes_once_while_workers_are_killed_again_and_again() {
    const RUNS: usize = 600;
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..AppOptions::default()
    })
    .await;
    let (owner, created) = account(&app, "ada@example.com").await;
    let account_id = AccountId(Uuid::parse_str(created["account_id"].as_str().unwrap()).unwrap());
    let (target, job) = one_row_job(&app, &owner).await;
    queue_runs(&app, account_id, &job, RUNS).await;

    // A worker process, killed (-9) every 1.5 seconds and replaced, while
    // the runs are worked; then one is left to finish.
    let mut worker = crate::imports::worker_process(&app);
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        worker.kill().unwrap();
        worker.wait().unwrap();
        worker = crate::imports::worker_process(&app);
    }
    all_runs_end(&app, RUNS as i64, Duration::from_secs(300)).await;
    let _ = worker.kill();
    let _ = worker.wait();

    let mut conn = app.conn();
    let succeeded = count(
        &mut conn,
        "SELECT count(*) AS n FROM runs WHERE status = 'succeeded'",
    );
    assert_eq!(succeeded, RUNS as i64, "{:?}", unsucceeded(&mut conn));
    let finishes = count(
        &mut conn,
        "SELECT count(*) AS n FROM events WHERE event_type = 'run.finished.v2'",
    );
    assert_eq!(finishes, RUNS as i64, "a run ended more than once");
    // The kills came while runs were worked: some started twice.
    let starts = count(
        &mut conn,
        "SELECT count(*) AS n FROM events WHERE event_type = 'run.started'",
    );
    assert!(
        starts > RUNS as i64,
        "no run was interrupted ({starts} starts)"
    );
    assert_eq!(
        count(&mut target.connect(), "SELECT count(*) AS n FROM hits"),
        RUNS as i64,
        "a run wrote its row twice, or not at all"
    );
}
