//! Every step of a run is safe to repeat after a kill. A `sluice worker`
//! process is made to abort (as `kill -9` stops it: no clean-up, no
//! goodbye) at each named phase of an import and of a rollback (see
//! `sluice_worker::crash`), and a fresh worker ends the run. Then the
//! target holds each row exactly once, `success.csv`, `skipped.csv` (the
//! job's filter skips some rows) and `errors.csv` hold each row exactly
//! once and as many rows as the run counted, the run ended once, and no
//! piece or staging file is left. These use the test's own
//! database and broker namespace, so they run beside the others.

use crate::accounts::{account, call};
use crate::imports::{connect_target, create_job, result_file, target_db, upload, wait_for_run};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_testkit::{spawn_app_with, AppOptions, TestApp, TestDb};
use sluice_worker::crash::Phase;
use std::collections::BTreeSet;
use std::time::Duration;

/// Three batches of 5,000 rows (the worker's batch size), the last short.
const ROWS: u64 = 12_000;

/// Every 250th row's name does not fit `first_name VARCHAR(20)`: it fails.
const REFUSED_EVERY: u64 = 250;

fn refused(number: u64) -> bool {
    number.is_multiple_of(REFUSED_EVERY)
}

/// `rows` people, every `refused_every`th with a name too long for
/// `first_name VARCHAR(20)`.
pub fn people_csv(rows: u64, refused_every: u64) -> Vec<u8> {
    let mut csv = String::from("Email,Name\n");
    for i in 1..=rows {
        let name = if i.is_multiple_of(refused_every) {
            format!("A name far too long for the column {i}")
        } else {
            format!("Person {i}")
        };
        csv.push_str(&format!("person{i}@example.com,{name}\n"));
    }
    csv.into_bytes()
}

/// The job's filter: rows whose number starts with 9 (1,111 of them, a
/// few that would be refused among them) are skipped.
const FILTER: &str = "NOT(LEFT([Email], 7) = \"person9\")";

fn skipped(number: u64) -> bool {
    number.to_string().starts_with('9')
}

/// The rows written, and those refused, by their number in the file.
fn expected() -> (BTreeSet<u64>, BTreeSet<u64>) {
    (1..=ROWS)
        .filter(|i| !skipped(*i))
        .partition(|i| !refused(*i))
}

/// A worker process, killed when dropped (a failed test leaves none).
struct Worker(std::process::Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `sluice worker` process on the test's database, broker namespace and
/// store; with `crash`, it aborts where the crash points say (`FAILPOINTS`).
fn worker(app: &TestApp, crash: Option<&str>) -> Worker {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"));
    command
        .arg("worker")
        .env("SLUICE_DATABASE_URL", &app.db.url)
        .env("SLUICE_AMQP_URL", &app.broker.url)
        .env("SLUICE_AMQP_NAMESPACE", &app.broker.topology.namespace)
        .env("SLUICE_KEYRING", &app.keyring_file)
        .env("SLUICE_STORAGE", app.store.root())
        .env("SLUICE_WORKER_NAME", "phase-worker")
        .env("SLUICE_LOG", "warn")
        .env_remove("FAILPOINTS")
        .stdout(std::process::Stdio::null());
    if let Some(points) = crash {
        command.env("FAILPOINTS", points);
    }
    Worker(command.spawn().unwrap())
}

/// What `FAILPOINTS` says to abort at `phase`: at a batch, after the
/// second has committed (of three), elsewhere the first time.
fn abort_at(phase: Phase) -> String {
    match phase {
        Phase::BatchCommitted => format!("{}=1*off->return", phase.name()),
        _ => format!("{}=return", phase.name()),
    }
}

/// Runs a worker that aborts at `phase` and waits for it to do so.
async fn killed_at(app: &TestApp, phase: Phase) {
    use std::os::unix::process::ExitStatusExt;
    let mut dying = worker(app, Some(&abort_at(phase)));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = dying.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker never reached {phase:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        status.signal(),
        Some(6),
        "the worker stopped otherwise than by aborting at {phase:?}: {status:?}"
    );
}

/// Runs a fresh worker until the run has ended and its pieces are gone.
async fn resumed(app: &TestApp, token: &str, run: &str, kept: &[&str]) -> Value {
    let fresh = worker(app, None);
    let shown = wait_for_run(app, token, run).await;
    let store = app.store.clone();
    let prefix = format!("{run}.");
    let want: BTreeSet<String> = kept.iter().map(|k| (*k).to_owned()).collect();
    let left = sluice_testkit::eventually(
        Duration::from_secs(60),
        "only the run's files to be left",
        || {
            let files: BTreeSet<String> = store
                .list("results")
                .unwrap()
                .into_iter()
                .filter_map(|(id, _)| id.strip_prefix(&prefix).map(str::to_owned))
                .collect();
            let only_journal_besides = files
                .iter()
                .filter(|f| !want.contains(*f))
                .all(|f| f.starts_with("changes."));
            let done = want.is_subset(&files) && only_journal_besides;
            async move { done.then_some(files) }
        },
    )
    .await;
    drop(fresh);
    assert!(left.iter().all(|f| !f.ends_with(".part")), "{left:?}");
    shown
}

/// The row numbers of a result file (its header left out), and how many
/// rows it has.
pub fn numbers(file: &[Vec<String>]) -> (BTreeSet<u64>, usize) {
    let rows = &file[1..];
    let numbers = rows.iter().map(|r| r[0].parse::<u64>().unwrap()).collect();
    (numbers, rows.len())
}

fn finishes(app: &TestApp, run: &str) -> i64 {
    use sluice_schema::schema::events;
    events::table
        .filter(events::event_type.eq("run.finished.v2"))
        .filter(events::stream_id.eq(uuid::Uuid::parse_str(run).unwrap()))
        .count()
        .get_result(&mut app.conn())
        .unwrap()
}

#[derive(QueryableByName)]
struct Counts {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    rows: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    emails: i64,
}

fn counts(target: &TestDb) -> (i64, i64) {
    let counts: Counts =
        diesel::sql_query("SELECT count(*) AS rows, count(DISTINCT email) AS emails FROM contacts")
            .get_result(&mut target.connect())
            .unwrap();
    (counts.rows, counts.emails)
}

/// An account, a target and a job inserting [`people_csv`]:
/// `(token, target, job id)`.
async fn import_job(app: &TestApp) -> (String, TestDb, String) {
    let target = target_db();
    let (owner, _) = account(app, "ada@example.com").await;
    let connection = connect_target(app, &owner, &target).await;
    let upload = upload(app, &owner, people_csv(ROWS, REFUSED_EVERY)).await;
    let mapping = json!([
        {"source": "Email", "target": "email"},
        {"source": "Name", "target": "first_name"},
    ]);
    let res = create_job(app, &owner, &upload, &connection, mapping).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let job = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .client
        .patch(app.url(&format!("/v1/jobs/{job}")))
        .bearer_auth(&owner)
        .json(&json!({"filter": FILTER}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    (owner, target, job)
}

async fn start(app: &TestApp, token: &str, path: &str) -> String {
    let res = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let queued: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    queued["run_id"].as_str().unwrap().to_owned()
}

/// The import's record, table and files, whichever worker ended it.
async fn import_is_whole(app: &TestApp, token: &str, run: &str, shown: &Value, target: &TestDb) {
    let (written, refused) = expected();
    assert_eq!(shown["status"], "partially_succeeded", "{shown}");
    assert_eq!(shown["rows_total"], ROWS, "{shown}");
    assert_eq!(shown["rows_ok"], written.len(), "{shown}");
    assert_eq!(shown["rows_failed"], refused.len(), "{shown}");
    let set_aside: BTreeSet<u64> = (1..=ROWS).filter(|i| skipped(*i)).collect();
    assert_eq!(shown["rows_skipped"], set_aside.len(), "{shown}");
    assert_eq!(finishes(app, run), 1, "the run ended once");
    let rows = written.len() as i64;
    assert_eq!(counts(target), (rows, rows), "each row once in the table");

    let success = result_file(app, token, run, "success").await;
    assert_eq!(success[0][..3], ["ROW", "ID", "STATUS"]);
    let (numbers_ok, lines) = numbers(&success);
    assert_eq!(lines, written.len(), "success.csv: one line a row written");
    assert_eq!(numbers_ok, written, "success.csv: every row written, once");
    assert!(success[1..]
        .iter()
        .all(|r| r[2] == "created" && !r[1].is_empty()));
    let errors = result_file(app, token, run, "errors").await;
    let (numbers_failed, lines) = numbers(&errors);
    assert_eq!(lines, refused.len(), "errors.csv: one line a row refused");
    assert_eq!(
        numbers_failed, refused,
        "errors.csv: every row refused, once"
    );
    let skipped_file = result_file(app, token, run, "skipped").await;
    let (numbers_skipped, lines) = numbers(&skipped_file);
    assert_eq!(
        lines,
        set_aside.len(),
        "skipped.csv: one line a row skipped"
    );
    assert_eq!(
        numbers_skipped, set_aside,
        "skipped.csv: every row skipped, once"
    );
}

/// An import whose worker is killed at `phase`, ended by another.
async fn import_killed_at(phase: Phase) {
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..AppOptions::default()
    })
    .await;
    let (owner, target, job) = import_job(&app).await;
    let run = start(&app, &owner, &format!("/v1/jobs/{job}/runs")).await;
    killed_at(&app, phase).await;
    let shown = resumed(
        &app,
        &owner,
        &run,
        &["success", "skipped", "errors", "ended"],
    )
    .await;
    import_is_whole(&app, &owner, &run, &shown, &target).await;
}

/// A finished import rolled back by a worker killed at `phase`, the
/// rollback ended by another.
async fn rollback_killed_at(phase: Phase) {
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..AppOptions::default()
    })
    .await;
    let (owner, target, job) = import_job(&app).await;
    let imported = start(&app, &owner, &format!("/v1/jobs/{job}/runs")).await;
    let shown = resumed(
        &app,
        &owner,
        &imported,
        &["success", "skipped", "errors", "ended"],
    )
    .await;
    import_is_whole(&app, &owner, &imported, &shown, &target).await;

    let rollback = start(&app, &owner, &format!("/v1/runs/{imported}/rollback")).await;
    killed_at(&app, phase).await;
    let shown = resumed(
        &app,
        &owner,
        &rollback,
        &["success", "skipped", "errors", "ended"],
    )
    .await;
    let (written, _) = expected();
    assert_eq!(shown["status"], "rolled_back", "{shown}");
    assert_eq!(shown["rows_ok"], written.len(), "{shown}");
    assert_eq!(shown["rows_failed"], 0, "{shown}");
    assert_eq!(finishes(&app, &rollback), 1, "the rollback ended once");
    assert_eq!(counts(&target), (0, 0), "every row written is deleted");
    let success = result_file(&app, &owner, &rollback, "success").await;
    let (undone, lines) = numbers(&success);
    assert_eq!(lines, written.len(), "success.csv: one line a row undone");
    assert_eq!(undone, written, "success.csv: every row undone, once");
    assert!(success[1..].iter().all(|r| r[2] == "deleted"));
    let errors = result_file(&app, &owner, &rollback, "errors").await;
    assert_eq!(errors.len(), 1, "errors.csv: its header only: {errors:?}");
    // The run rolled back keeps its record and its files.
    let kept: Value = call(&app, Method::GET, &format!("/v1/runs/{imported}"), &owner)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(kept["status"], "partially_succeeded", "{kept}");
    assert_eq!(kept["rolled_back_by"], rollback.as_str(), "{kept}");
    let success = result_file(&app, &owner, &imported, "success").await;
    assert_eq!(numbers(&success), (written.clone(), written.len()));
}

#[tokio::test]
async fn import_killed_after_a_batch_commits_ends_whole() {
    import_killed_at(Phase::BatchCommitted).await;
}

#[tokio::test]
async fn import_killed_while_success_csv_is_joined_ends_whole() {
    import_killed_at(Phase::Joining).await;
}

#[tokio::test]
async fn import_killed_between_the_two_result_files_ends_whole() {
    import_killed_at(Phase::SuccessJoined).await;
}

#[tokio::test]
async fn import_killed_once_its_files_are_whole_ends_whole() {
    import_killed_at(Phase::Assembled).await;
}

#[tokio::test]
async fn import_killed_while_its_pieces_are_deleted_ends_whole() {
    import_killed_at(Phase::DeletingPieces).await;
}

#[tokio::test]
async fn import_killed_with_run_finished_built_but_not_appended_ends_whole() {
    import_killed_at(Phase::FinishBuilt).await;
}

#[tokio::test]
async fn import_killed_just_after_run_finished_is_appended_ends_whole() {
    import_killed_at(Phase::Finished).await;
}

#[tokio::test]
async fn rollback_killed_after_a_batch_is_undone_ends_whole() {
    rollback_killed_at(Phase::BatchCommitted).await;
}

#[tokio::test]
async fn rollback_killed_while_success_csv_is_joined_ends_whole() {
    rollback_killed_at(Phase::Joining).await;
}

#[tokio::test]
async fn rollback_killed_between_the_two_result_files_ends_whole() {
    rollback_killed_at(Phase::SuccessJoined).await;
}

#[tokio::test]
async fn rollback_killed_once_its_files_are_whole_ends_whole() {
    rollback_killed_at(Phase::Assembled).await;
}

#[tokio::test]
async fn rollback_killed_while_its_pieces_are_deleted_ends_whole() {
    rollback_killed_at(Phase::DeletingPieces).await;
}

#[tokio::test]
async fn rollback_killed_with_run_finished_built_but_not_appended_ends_whole() {
    rollback_killed_at(Phase::FinishBuilt).await;
}

#[tokio::test]
async fn rollback_killed_just_after_run_finished_is_appended_ends_whole() {
    rollback_killed_at(Phase::Finished).await;
}

/// A scheduled job's retry asks for the job's run as it ends, before its
/// own `run.finished` (see the worker's `then_run`). Killed between the
/// two, the retry is ended by another worker, which asks again: the job's
/// run is requested, and runs, once.
#[tokio::test]
async fn a_scheduled_retry_killed_after_asking_for_the_jobs_run_asks_once() {
    use diesel::connection::SimpleConnection;
    use sluice_events::event::RunRequested;
    use sluice_events::{AppendRequest, DomainEvent, ExpectedVersion, Metadata, NewEvent};
    use sluice_schema::schema::events;
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..AppOptions::default()
    })
    .await;
    let (owner, target, job) = import_job(&app).await;
    let first = start(&app, &owner, &format!("/v1/jobs/{job}/runs")).await;
    resumed(
        &app,
        &owner,
        &first,
        &["success", "skipped", "errors", "ended"],
    )
    .await;
    // The rows were refused for a name too long; the column now fits them.
    target
        .connect()
        .batch_execute("ALTER TABLE contacts ALTER COLUMN first_name TYPE TEXT")
        .unwrap();

    // What a slot of a job that retries its failed rows asks for.
    let me: Value = call(&app, Method::GET, "/v1/me", &owner)
        .await
        .json()
        .await
        .unwrap();
    let account =
        sluice_schema::ids::AccountId(me["account"]["id"].as_str().unwrap().parse().unwrap());
    let retry = uuid::Uuid::new_v4();
    let asked = NewEvent::new(
        DomainEvent::RunRequested(RunRequested {
            retry_of: Some(uuid::Uuid::parse_str(&first).unwrap()),
            then_run: true,
            ..RunRequested::import(uuid::Uuid::parse_str(&job).unwrap())
        }),
        Metadata::actor("scheduler"),
    )
    .for_account(account);
    app.platform
        .appender
        .append(AppendRequest::new(
            "run",
            retry,
            ExpectedVersion::NoStream,
            vec![asked],
        ))
        .await
        .unwrap();
    // The retry's worker asks for the job's run, then dies before the
    // retry's end is recorded.
    killed_at(&app, Phase::FinishBuilt).await;
    let then = uuid::Uuid::new_v5(&retry, b"then-run").to_string();
    assert_eq!(
        finishes(&app, &retry.to_string()),
        0,
        "the retry has not ended"
    );
    let fresh = worker(&app, None);
    let retried = wait_for_run(&app, &owner, &retry.to_string()).await;
    assert_eq!(retried["rows_failed"], 0, "{retried}");
    assert_eq!(retried["rows_ok"], expected().1.len(), "{retried}");
    let ran = wait_for_run(&app, &owner, &then).await;
    drop(fresh);
    // It read the whole file again (and, inserting rows there already,
    // wrote none of them twice).
    assert_eq!(ran["rows_read"], ROWS, "{ran}");
    assert_eq!(ran["rows_ok"], 0, "{ran}");
    let asked: i64 = events::table
        .filter(events::event_type.eq("run.requested"))
        .filter(events::stream_id.eq(uuid::Uuid::parse_str(&then).unwrap()))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(asked, 1, "the job's run was asked for once");
    let res = call(&app, Method::GET, &format!("/v1/jobs/{job}/runs"), &owner).await;
    let runs: Value = res.json().await.unwrap();
    let runs = runs
        .as_array()
        .or_else(|| runs["runs"].as_array())
        .unwrap()
        .len();
    assert_eq!(runs, 3, "the first run, its retry, the job's run");
}

/// Every phase has a test of each kind above.
#[test]
fn every_phase_is_killed_at() {
    let source = include_str!("phases.rs");
    for phase in Phase::ALL {
        let called = format!("_killed_at(Phase::{phase:?})");
        assert_eq!(
            source.matches(&called).count(),
            2,
            "{phase:?}: an import and a rollback are killed there"
        );
    }
}

/// The de-duplication key of row `number`: its number's last three digits
/// (the job maps them to `source`).
fn last_digits(number: u64) -> String {
    let text = number.to_string();
    text[text.len().saturating_sub(3)..].to_owned()
}

/// A job that keeps the last of duplicates (rows whose numbers end alike)
/// reads its source twice; its worker is killed after a batch commits and
/// another ends the run, reading the source from the start again: the rows
/// written and those skipped as duplicates are the very ones a whole run
/// gives, each once.
#[tokio::test]
async fn import_keeping_the_last_duplicates_killed_after_a_batch_commits_skips_the_same_rows() {
    let app = spawn_app_with(AppOptions {
        worker: false,
        ..AppOptions::default()
    })
    .await;
    let (owner, target, job) = import_job(&app).await;
    let body = json!({
        "mapping": [
            {"source": "Email", "target": "email"},
            {"source": "Name", "target": "first_name"},
            {"formula": "RIGHT(MID([Email], 7, LEN([Email]) - 18), 3)", "target": "source"},
        ],
        "dedupe": {"fields": ["source"], "keep": "last"},
    });
    let res = crate::dedupe::patch_job(&app, &owner, &job, body).await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut last = std::collections::HashMap::new();
    for i in (1..=ROWS).filter(|i| !skipped(*i) && !refused(*i)) {
        last.insert(last_digits(i), i);
    }
    let written: BTreeSet<u64> = last.values().copied().collect();
    let duplicates: BTreeSet<u64> = (1..=ROWS)
        .filter(|i| !skipped(*i) && !refused(*i) && !written.contains(i))
        .collect();

    let run = start(&app, &owner, &format!("/v1/jobs/{job}/runs")).await;
    killed_at(&app, Phase::BatchCommitted).await;
    let shown = resumed(
        &app,
        &owner,
        &run,
        &["success", "skipped", "errors", "ended"],
    )
    .await;
    let filtered = (1..=ROWS).filter(|i| skipped(*i)).count();
    assert_eq!(shown["rows_ok"], written.len(), "{shown}");
    assert_eq!(
        shown["rows_skipped"],
        filtered + duplicates.len(),
        "{shown}"
    );
    assert_eq!(finishes(&app, &run), 1, "the run ended once");
    let rows = written.len() as i64;
    assert_eq!(
        counts(&target),
        (rows, rows),
        "each row kept once in the table"
    );
    let success = result_file(&app, &owner, &run, "success").await;
    assert_eq!(numbers(&success), (written.clone(), written.len()));
    let skipped_file = result_file(&app, &owner, &run, "skipped").await;
    let (numbers_skipped, lines) = numbers(&skipped_file);
    assert_eq!(
        lines,
        filtered + duplicates.len(),
        "skipped.csv: each row once"
    );
    assert!(duplicates.is_subset(&numbers_skipped));
    for row in &skipped_file[1..] {
        let number: u64 = row[0].parse().unwrap();
        if duplicates.contains(&number) {
            let kept = last[&last_digits(number)];
            assert_eq!(row[1], format!("duplicate of row {kept} (source)"));
        }
    }
}
