//! Imports into PostgreSQL: jobs, runs on the workers, progress and history.

use crate::accounts::{account, call, call_json, member};
use crate::uploads::upload_raw;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_testkit::{spawn_app, TestApp, TestDb};
use std::time::Duration;

/// A database to import into, with a `contacts` table.
pub fn target_db() -> TestDb {
    let db = TestDb::empty();
    db.connect()
        .batch_execute(
            "CREATE TABLE contacts (
                id         SERIAL PRIMARY KEY,
                email      TEXT NOT NULL UNIQUE,
                first_name VARCHAR(20),
                amount     NUMERIC,
                joined     DATE,
                source     TEXT NOT NULL DEFAULT 'manual'
            )",
        )
        .unwrap();
    db
}

/// A connection to `target` as `token`'s account: its id.
pub async fn connect_target(app: &TestApp, token: &str, target: &TestDb) -> String {
    let mut params = crate::connections::params_for(app, "unused-password");
    params["dbname"] = json!(target.name);
    let res = crate::connections::create(app, token, "warehouse", params).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub fn contacts_csv(rows: usize) -> Vec<u8> {
    // Amounts as German writes them: "1.01,50" is 101.50.
    let mut csv = String::from("Email;First Name;Amount;Joined\n");
    for i in 1..=rows {
        csv.push_str(&format!(
            " Person{i}@Example.com ;Person {i};{}.{:02},50;{:02}.{:02}.2025\n",
            i % 7,
            i % 100,
            i % 28 + 1,
            i % 12 + 1
        ));
    }
    csv.into_bytes()
}

pub fn contacts_mapping() -> Value {
    json!([
        {"source": "Email", "target": "email", "transform": [{"type": "trim"}, {"type": "lower"}]},
        {"source": "First Name", "target": "first_name"},
        {"source": "Amount", "target": "amount", "transform": {"type": "number", "locale": "de"}},
        {"source": "Joined", "target": "joined", "transform": {"type": "date", "format": "%d.%m.%Y"}},
        {"target": "source", "transform": {"type": "constant", "value": "import"}},
    ])
}

pub async fn create_job(
    app: &TestApp,
    token: &str,
    upload: &str,
    connection: &str,
    mapping: Value,
) -> reqwest::Response {
    create_keyed_job(app, token, upload, connection, "insert", json!([]), mapping).await
}

/// A job of `operation` from an upload into `contacts`.
pub async fn create_keyed_job(
    app: &TestApp,
    token: &str,
    upload: &str,
    connection: &str,
    operation: &str,
    key_fields: Value,
    mapping: Value,
) -> reqwest::Response {
    app.client
        .post(app.url("/v1/jobs"))
        .bearer_auth(token)
        .json(&json!({
            "name": "contacts",
            "source": {"upload_id": upload},
            "target": {"connection_id": connection, "object": "contacts"},
            "operation": operation,
            "key_fields": key_fields,
            "mapping": mapping,
        }))
        .send()
        .await
        .unwrap()
}

/// Starts a run of `job` and waits for it to end: the run as shown.
pub async fn run_to_end(app: &TestApp, token: &str, job: &str) -> Value {
    let res = call(app, Method::POST, &format!("/v1/jobs/{job}/runs"), token).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let queued: Value = res.json().await.unwrap();
    assert_eq!(queued["status"], "queued");
    let run = queued["run_id"].as_str().unwrap().to_owned();
    wait_for_run(app, token, &run).await
}

pub async fn wait_for_run(app: &TestApp, token: &str, run: &str) -> Value {
    wait_for_run_within(app, token, run, Duration::from_secs(60)).await
}

/// Waits up to `timeout` for `run` to end: the run as shown.
pub async fn wait_for_run_within(
    app: &TestApp,
    token: &str,
    run: &str,
    timeout: Duration,
) -> Value {
    let path = format!("/v1/runs/{run}");
    sluice_testkit::eventually(timeout, "the run to end", || {
        let path = path.clone();
        async move {
            let shown: Value = call(app, Method::GET, &path, token)
                .await
                .json()
                .await
                .ok()?;
            shown["finished_at"].is_string().then_some(shown)
        }
    })
    .await
}

pub async fn upload(app: &TestApp, token: &str, body: Vec<u8>) -> String {
    let res = upload_raw(app, token, "contacts.csv", body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A row of `contacts`, its numbers and dates as text.
#[derive(QueryableByName, Debug, PartialEq)]
pub struct Contact {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub email: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub first_name: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub amount: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub joined: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub source: String,
}

#[tokio::test]
async fn a_csv_is_imported_with_its_mapping_in_batches() {
    let app = spawn_app().await;
    let target = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let upload = upload(&app, &owner, contacts_csv(2_500)).await;
    let res = create_job(&app, &owner, &upload, &connection, contacts_mapping()).await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let job: Value = res.json().await.unwrap();
    let job_id = job["id"].as_str().unwrap();

    let run = run_to_end(&app, &owner, job_id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["rows_total"], 2_500);
    assert_eq!(run["rows_ok"], 2_500);
    assert_eq!(run["rows_failed"], 0);

    let rows: Vec<Contact> = diesel::sql_query(
        "SELECT email, first_name, amount::text AS amount, joined::text AS joined, source \
         FROM contacts ORDER BY id LIMIT 2",
    )
    .load(&mut target.connect())
    .unwrap();
    assert_eq!(
        rows[0],
        Contact {
            email: "person1@example.com".into(),
            first_name: Some("Person 1".into()),
            amount: "101.50".into(),
            joined: "2025-02-02".into(),
            source: "import".into(),
        }
    );
    // Three batches of 1,000 rows, each with its checkpoint.
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let n = |sql: &str| {
        diesel::sql_query(sql)
            .get_result::<N>(&mut target.connect())
            .unwrap()
            .n
    };
    assert_eq!(n("SELECT count(*) AS n FROM contacts"), 2_500);
    assert_eq!(n("SELECT count(*) AS n FROM _sluice_checkpoints"), 3);

    let history: Value = call_json(
        &app,
        Method::GET,
        &format!("/v1/jobs/{job_id}/runs"),
        &owner,
    )
    .await;
    assert_eq!(history["runs"].as_array().unwrap().len(), 1);
    assert_eq!(history["runs"][0]["id"], run["id"]);
}

/// Runs the contacts file of `rows` rows into a fresh table with a worker
/// that writes over `connections` connections: the run, its target and how
/// many sessions the target database saw during it.
async fn run_over_connections(
    connections: usize,
    rows: usize,
) -> (Value, TestDb, Vec<Vec<String>>, i64) {
    let app = sluice_testkit::spawn_app_with(sluice_testkit::AppOptions {
        target_connections: connections,
        ..Default::default()
    })
    .await;
    let target = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let upload = upload(&app, &owner, contacts_csv(rows)).await;
    let res = create_job(&app, &owner, &upload, &connection, contacts_mapping()).await;
    let job: Value = res.json().await.unwrap();
    let sessions = || {
        #[derive(QueryableByName)]
        struct S {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            sessions: i64,
        }
        let mut conn = target.connect();
        diesel::sql_query(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()",
        )
        .get_result::<S>(&mut conn)
        .unwrap()
        .sessions
    };
    let before = sessions();
    let run = run_to_end(&app, &owner, job["id"].as_str().unwrap()).await;
    // A session is counted once it has ended and its statistics are flushed.
    let during =
        sluice_testkit::eventually(Duration::from_secs(10), "the sessions counted", || async {
            let seen = sessions() - before;
            (seen >= connections as i64).then_some(seen)
        })
        .await;
    let success = result_file(&app, &owner, run["id"].as_str().unwrap(), "success").await;
    (run, target, success, during)
}

#[tokio::test]
async fn batches_written_over_one_or_several_connections_land_whole_and_in_order() {
    for connections in [1, 4] {
        let (run, target, success, sessions) = run_over_connections(connections, 9_500).await;
        assert_eq!(run["status"], "succeeded", "{connections}: {run}");
        assert_eq!(run["rows_ok"], 9_500);
        assert!(sessions >= connections as i64, "{connections}: {sessions}");
        #[derive(QueryableByName)]
        struct Counts {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            rows: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            emails: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            checkpoints: i64,
        }
        let counts: Counts = diesel::sql_query(
            "SELECT (SELECT count(*) FROM contacts) AS rows,
                    (SELECT count(DISTINCT email) FROM contacts) AS emails,
                    (SELECT count(*) FROM _sluice_checkpoints) AS checkpoints",
        )
        .get_result(&mut target.connect())
        .unwrap();
        assert_eq!(
            (counts.rows, counts.emails),
            (9_500, 9_500),
            "{connections}"
        );
        assert_eq!(
            counts.checkpoints, 10,
            "{connections}: ten batches of 1,000"
        );
        // success.csv names every row once, in the file's order.
        let numbers: Vec<u64> = success[1..].iter().map(|r| r[0].parse().unwrap()).collect();
        assert_eq!(numbers, (1..=9_500).collect::<Vec<_>>(), "{connections}");
    }
}

#[tokio::test]
async fn bad_rows_fail_one_by_one_and_the_run_goes_on() {
    let app = spawn_app().await;
    let target = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let csv = "Email;First Name;Amount;Joined\n\
               a@example.com;Ada;1,5;01.01.2025\n\
               b@example.com;A name far longer than twenty characters;2;01.01.2025\n\
               c@example.com;Cy;not a number;01.01.2025\n\
               a@example.com;Duplicate;3;01.01.2025\n\
               ;No email;4;01.01.2025\n\
               d@example.com;Di;5\n\
               e@example.com;Ed;6;31.02.2025\n\
               f@example.com;Flo;7;02.01.2025\n\
               g@example.com;=1+1;8;03.01.2025\n";
    let upload = upload(&app, &owner, csv.as_bytes().to_vec()).await;
    let job: Value = create_job(&app, &owner, &upload, &connection, contacts_mapping())
        .await
        .json()
        .await
        .unwrap();
    let run = run_to_end(&app, &owner, job["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "partially_succeeded", "{run}");
    assert_eq!(run["rows_total"], 9);
    assert_eq!(run["rows_ok"], 3, "{run}");
    assert_eq!(run["rows_failed"], 6, "{run}");
    #[derive(QueryableByName)]
    struct Email {
        #[diesel(sql_type = diesel::sql_types::Text)]
        email: String,
    }
    let emails: Vec<String> = diesel::sql_query("SELECT email FROM contacts ORDER BY email")
        .load::<Email>(&mut target.connect())
        .unwrap()
        .into_iter()
        .map(|e| e.email)
        .collect();
    assert_eq!(emails, ["a@example.com", "f@example.com", "g@example.com"]);

    // The result files: every row once, in one of the two.
    let run_id = run["id"].as_str().unwrap();
    let success = result_file(&app, &owner, run_id, "success").await;
    assert_eq!(
        success[0],
        [
            "ROW",
            "ID",
            "STATUS",
            "Email",
            "First Name",
            "Amount",
            "Joined"
        ]
    );
    let rows: Vec<&str> = success[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(rows, ["1", "8", "9"]);
    assert!(
        success[1][1].parse::<i64>().is_ok(),
        "the new row's id: {:?}",
        success[1]
    );
    assert_eq!(success[1][3], "a@example.com");
    assert_eq!(success[3][4], "'=1+1", "a formula is defused");
    let errors = result_file(&app, &owner, run_id, "errors").await;
    assert_eq!(
        errors[0],
        ["ROW", "ERROR", "Email", "First Name", "Amount", "Joined"]
    );
    let failed: Vec<(&str, &str)> = errors[1..]
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    assert_eq!(failed.len(), 6, "{failed:?}");
    let says = |row: &str| failed.iter().find(|(r, _)| *r == row).unwrap().1.to_owned();
    assert!(says("2").contains("first_name"), "{}", says("2"));
    assert!(says("3").contains("amount"), "{}", says("3"));
    assert!(says("4").contains("already exists"), "{}", says("4"));
    assert!(
        says("5").contains("email: a value is required"),
        "{}",
        says("5")
    );
    assert!(says("6").contains("fields"), "{}", says("6"));
    assert!(says("7").contains("joined"), "{}", says("7"));
    // On disk, only ciphertext.
    let dir = app.store.root().join("results");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(13).any(|w| w == b"a@example.com"));
    }
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names
            .iter()
            .filter(|n| !n.contains(".changes.") && !n.contains(".ended."))
            .count(),
        3,
        "the pieces are joined into the three files: {names:?}"
    );
    assert_eq!(
        names.iter().filter(|n| n.contains(".ended.")).count(),
        1,
        "the record that the files are whole is kept with them: {names:?}"
    );
    assert_eq!(
        names.iter().filter(|n| n.contains(".changes.")).count(),
        1,
        "the journal a rollback reads is kept: {names:?}"
    );

    // Past the retention, the files are refused at once, then swept.
    app.platform.clock.advance(chrono::Duration::days(15));
    let path = format!("/v1/runs/{run_id}/errors.csv");
    assert_eq!(
        call(&app, Method::GET, &path, &owner).await.status(),
        StatusCode::GONE
    );
    let report = sluice_worker::retention::sweep_uploads(&app.platform, &app.store, "test")
        .await
        .unwrap();
    assert_eq!(report.runs.len(), 1);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    let keys: i64 = sluice_schema::schema::result_keys::table
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(keys, 0);
    assert_eq!(
        call(&app, Method::GET, &path, &owner).await.status(),
        StatusCode::GONE
    );
}

/// A run's result file, parsed.
pub async fn result_file(app: &TestApp, token: &str, run: &str, name: &str) -> Vec<Vec<String>> {
    let res = call(
        app,
        Method::GET,
        &format!("/v1/runs/{run}/{name}.csv"),
        token,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let body = res.bytes().await.unwrap();
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(&body[..])
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[tokio::test]
async fn a_job_that_does_not_fit_its_target_is_refused_with_the_reason() {
    let app = spawn_app().await;
    let target = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let upload = upload(&app, &owner, contacts_csv(3)).await;
    let cases = [
        (
            json!([{"source": "Email", "target": "e_mail"}]),
            "no column \"e_mail\"",
        ),
        (
            json!([{"source": "Mail", "target": "email"}]),
            "no column \"Mail\"",
        ),
        (
            json!([{"source": "First Name", "target": "first_name"}]),
            "needs a value for email",
        ),
        (
            json!([{"source": "Email", "target": "email"}, {"source": "Email", "target": "email"}]),
            "mapped twice",
        ),
        (
            json!([{"source": "Email", "target": "email", "transform": {"type": "date", "format": "%Y", "time_zone": "Nowhere/City"}}]),
            "time zone",
        ),
    ];
    for (mapping, says) in cases {
        let res = create_job(&app, &owner, &upload, &connection, mapping.clone()).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{mapping}");
        let body: Value = res.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{mapping}: {message}");
    }
    let res = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(&owner)
        .json(&json!({
            "name": "x",
            "source": {"upload_id": upload},
            "target": {"connection_id": connection, "object": "no_such_table"},
            "operation": "insert",
            "mapping": [{"source": "Email", "target": "email"}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let teammate = member(&app, &owner, "member@example.com").await;
    let res = create_job(&app, &teammate, &upload, &connection, contacts_mapping()).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let jobs: Value = call_json(&app, Method::GET, "/v1/jobs", &owner).await;
    assert_eq!(jobs["jobs"], json!([]));
}

#[tokio::test]
async fn a_run_whose_upload_expired_fails_with_a_clear_message() {
    let app = spawn_app().await;
    let target = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let upload = upload(&app, &owner, contacts_csv(3)).await;
    let job: Value = create_job(&app, &owner, &upload, &connection, contacts_mapping())
        .await
        .json()
        .await
        .unwrap();
    app.platform.clock.advance(chrono::Duration::hours(2));
    let run = run_to_end(&app, &owner, job["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "failed");
    assert!(
        run["message"].as_str().unwrap().contains("expired"),
        "{run}"
    );
    let count: i64 = diesel::sql_query("SELECT count(*) AS n FROM contacts")
        .get_result::<CountRow>(&mut target.connect())
        .unwrap()
        .n;
    assert_eq!(count, 0);
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// A `sluice worker` process for `app`'s database, broker, keyring and files.
pub fn worker_process(app: &TestApp) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("worker")
        .env("SLUICE_DATABASE_URL", &app.db.url)
        .env("SLUICE_AMQP_URL", &app.broker.url)
        .env("SLUICE_AMQP_NAMESPACE", &app.broker.topology.namespace)
        .env("SLUICE_KEYRING", &app.keyring_file)
        .env("SLUICE_STORAGE", app.store.root())
        .env("SLUICE_WORKER_NAME", "process-worker")
        .env("SLUICE_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn a_worker_killed_mid_run_is_replaced_and_no_row_is_written_twice() {
    const ROWS: usize = 200_000;
    let app = sluice_testkit::spawn_app_with(sluice_testkit::AppOptions {
        worker: false,
        upload_max_bytes: 256 * 1024 * 1024,
        ..sluice_testkit::AppOptions::default()
    })
    .await;
    let target = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let upload = upload(&app, &owner, contacts_csv(ROWS)).await;
    let job: Value = create_job(&app, &owner, &upload, &connection, contacts_mapping())
        .await
        .json()
        .await
        .unwrap();
    let res = call(
        &app,
        Method::POST,
        &format!("/v1/jobs/{}/runs", job["id"].as_str().unwrap()),
        &owner,
    )
    .await;
    let run = res.json::<Value>().await.unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut first = worker_process(&app);
    let path = format!("/v1/runs/{run}");
    let seen = sluice_testkit::eventually(
        Duration::from_secs(120),
        "some batches to be written",
        || {
            let path = path.clone();
            let owner = owner.clone();
            let app = &app;
            async move {
                let shown: Value = call(app, Method::GET, &path, &owner)
                    .await
                    .json()
                    .await
                    .ok()?;
                (shown["rows_ok"].as_i64()? >= 20_000).then_some(shown)
            }
        },
    )
    .await;
    assert_eq!(seen["status"], "running");
    // kill -9: no chance to finish the batch in hand or to say goodbye.
    first.kill().unwrap();
    first.wait().unwrap();

    let mut second = worker_process(&app);
    let finished = sluice_testkit::eventually(Duration::from_secs(240), "the run to end", || {
        let path = path.clone();
        let owner = owner.clone();
        let app = &app;
        async move {
            let shown: Value = call(app, Method::GET, &path, &owner)
                .await
                .json()
                .await
                .ok()?;
            shown["finished_at"].is_string().then_some(shown)
        }
    })
    .await;
    let _ = second.kill();
    let _ = second.wait();
    assert_eq!(finished["status"], "succeeded", "{finished}");
    assert_eq!(finished["rows_ok"], ROWS);
    assert_eq!(finished["rows_total"], ROWS);
    #[derive(QueryableByName)]
    struct Counts {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        rows: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        distinct_emails: i64,
    }
    let counts: Counts = diesel::sql_query(
        "SELECT count(*) AS rows, count(DISTINCT email) AS distinct_emails FROM contacts",
    )
    .get_result(&mut target.connect())
    .unwrap();
    assert_eq!(
        (counts.rows, counts.distinct_emails),
        (ROWS as i64, ROWS as i64)
    );
    let success = result_file(&app, &owner, &run, "success").await;
    assert_eq!(success.len(), ROWS + 1, "every row once in success.csv");
    let errors = result_file(&app, &owner, &run, "errors").await;
    assert_eq!(errors.len(), 1, "only the header in errors.csv");
    // The second worker resumed after the batches the first had committed.
    use sluice_schema::schema::events;
    let started: Vec<Value> = events::table
        .filter(events::event_type.eq("run.started"))
        .order(events::global_seq.asc())
        .select(events::payload)
        .load(&mut app.conn())
        .unwrap();
    assert!(started.len() >= 2, "{started:?}");
    assert!(
        started.last().unwrap()["resumed_after_batch"]
            .as_i64()
            .unwrap()
            > 0,
        "{started:?}"
    );
}

#[tokio::test]
async fn a_preview_shows_the_first_rows_mapped_with_their_errors_and_writes_nothing() {
    let app = spawn_app().await;
    let target = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let csv = "Email;First Name;Amount;Joined\n\
               \x20Ada@Example.com;Ada;1.234,5;24.12.2025\n\
               b@example.com;Bob;lots;01.01.2025\n\
               c@example.com;Cy\n\
               d@example.com;Di;4;01.01.2025\n";
    let upload = upload(&app, &owner, csv.as_bytes().to_vec()).await;
    let job: Value = create_job(&app, &owner, &upload, &connection, contacts_mapping())
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/v1/jobs/{}/preview?rows=3", job["id"].as_str().unwrap());
    let res = call(&app, Method::POST, &path, &owner).await;
    assert_eq!(res.status(), StatusCode::OK);
    let preview: Value = res.json().await.unwrap();
    assert_eq!(
        preview["fields"],
        json!(["email", "first_name", "amount", "joined", "source"])
    );
    let rows = preview["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["row"], 1);
    assert_eq!(
        rows[0]["values"],
        json!({"email": "ada@example.com", "first_name": "Ada", "amount": "1234.5", "joined": "2025-12-24", "source": "import"})
    );
    assert_eq!(rows[0]["errors"], json!([]));
    assert!(
        rows[1]["errors"][0]
            .as_str()
            .unwrap()
            .starts_with("amount:"),
        "{}",
        rows[1]
    );
    assert!(
        rows[2]["errors"][0].as_str().unwrap().contains("fields"),
        "{}",
        rows[2]
    );
    let count: i64 = diesel::sql_query("SELECT count(*) AS n FROM contacts")
        .get_result::<CountRow>(&mut target.connect())
        .unwrap()
        .n;
    assert_eq!(count, 0, "a preview writes nothing");
}

#[tokio::test]
async fn workbooks_are_imported_from_the_chosen_sheet() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let mapping = json!([
        {"source": "Email", "target": "email"},
        {"source": "First Name", "target": "first_name"},
        {"source": "Amount", "target": "amount"},
    ]);
    for name in ["contacts.xlsx", "contacts.xls", "contacts.ods"] {
        let target = target_db();
        let connection = connect_target(&app, &owner, &target).await;
        let res = upload_raw(&app, &owner, name, crate::uploads::fixture(name)).await;
        let upload = res.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let job = |sheet: Option<&str>| {
            let mut source = json!({"upload_id": upload});
            if let Some(sheet) = sheet {
                source["sheet"] = json!(sheet);
            }
            app.client
                .post(app.url("/v1/jobs"))
                .bearer_auth(&owner)
                .json(&json!({
                    "name": name,
                    "source": source,
                    "target": {"connection_id": connection, "object": "contacts"},
                    "operation": "insert",
                    "mapping": mapping,
                }))
                .send()
        };
        let res = job(Some("Notes")).await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name}: the Notes sheet has no Email"
        );
        let res = job(Some("Nope")).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let body: Value = res.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("no sheet"),
            "{body}"
        );
        let res = job(Some("Contacts")).await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "{name}");
        let created: Value = res.json().await.unwrap();
        assert_eq!(created["source"]["sheet"], "Contacts");
        let run = run_to_end(&app, &owner, created["id"].as_str().unwrap()).await;
        assert_eq!(run["status"], "succeeded", "{name}: {run}");
        assert_eq!(run["rows_ok"], 2, "{name}");
        #[derive(QueryableByName)]
        struct Amounts {
            #[diesel(sql_type = diesel::sql_types::Text)]
            amounts: String,
        }
        let amounts: Amounts = diesel::sql_query(
            "SELECT string_agg(email || '=' || amount::text, ',' ORDER BY email) AS amounts FROM contacts",
        )
        .get_result(&mut target.connect())
        .unwrap();
        assert_eq!(
            amounts.amounts, "ada@example.com=12.5,bob@example.com=7",
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_record_over_8_mib_fails_its_row_and_the_run_goes_on() {
    let app = spawn_app().await;
    let target = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    // Row 2 holds a 9 MiB quoted field (closed); row 4 opens a quote that
    // never closes, so the rest of the file is that one row.
    let mut csv =
        b"Email;First Name;Amount;Joined\na@example.com;Ada;1;01.01.2025\nb@example.com;\"Bob"
            .to_vec();
    csv.extend(std::iter::repeat_n(b'x', 9 * 1024 * 1024));
    csv.extend_from_slice(b"\";2;01.01.2025\nc@example.com;Cy;3;01.01.2025\nd@example.com;\"Dan");
    csv.extend(std::iter::repeat_n(b'y', 9 * 1024 * 1024));
    csv.extend_from_slice(b";4;01.01.2025\ne@example.com;Eve;5;01.01.2025\n");
    let upload = upload(&app, &owner, csv).await;
    let job: Value = create_job(&app, &owner, &upload, &connection, contacts_mapping())
        .await
        .json()
        .await
        .unwrap();
    let run = run_to_end(&app, &owner, job["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "partially_succeeded", "{run}");
    assert_eq!(run["rows_ok"], 2, "{run}");
    assert_eq!(run["rows_failed"], 2, "{run}");
    let run_id = run["id"].as_str().unwrap();
    let success = result_file(&app, &owner, run_id, "success").await;
    let emails: Vec<&str> = success[1..].iter().map(|r| r[3].as_str()).collect();
    assert_eq!(emails, ["a@example.com", "c@example.com"]);
    // The failed rows are named, without the field itself.
    let errors = result_file(&app, &owner, run_id, "errors").await;
    assert_eq!(errors.len(), 3, "{errors:?}");
    for (row, number) in errors[1..].iter().zip(["2", "4"]) {
        assert_eq!(row[0], number);
        assert!(row[1].contains("longer than 8 MiB"), "{row:?}");
        assert!(row.iter().all(|cell| cell.len() < 200), "{row:?}");
    }
}

#[tokio::test]
async fn a_run_another_worker_holds_waits_for_it_and_is_not_run_twice() {
    let app = sluice_testkit::spawn_app_with(sluice_testkit::AppOptions {
        worker: false,
        ..sluice_testkit::AppOptions::default()
    })
    .await;
    let target = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let upload = upload(&app, &owner, contacts_csv(10)).await;
    let job: Value = create_job(&app, &owner, &upload, &connection, contacts_mapping())
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/v1/jobs/{}/runs", job["id"].as_str().unwrap());
    let res = call(&app, Method::POST, &path, &owner).await;
    let run = res.json::<Value>().await.unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Another worker is on this run (as after RabbitMQ took a delivery back).
    let mut holder = app.conn();
    let key = sluice_worker::run_lock_key(uuid::Uuid::parse_str(&run).unwrap());
    diesel::sql_query(format!("SELECT pg_advisory_lock({key})"))
        .execute(&mut holder)
        .unwrap();
    app.start_worker(Duration::from_secs(30));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let shown: Value = call_json(&app, Method::GET, &format!("/v1/runs/{run}"), &owner).await;
    assert_eq!(shown["status"], "queued", "the worker waits: {shown}");

    // The other worker goes away: this one takes the run over.
    drop(holder);
    let finished = wait_for_run(&app, &owner, &run).await;
    assert_eq!(finished["status"], "succeeded", "{finished}");
    let count: i64 = diesel::sql_query("SELECT count(*) AS n FROM contacts")
        .get_result::<CountRow>(&mut target.connect())
        .unwrap()
        .n;
    assert_eq!(count, 10);
}

#[tokio::test]
async fn a_lookup_by_a_column_several_rows_share_takes_the_first_or_the_latest_as_asked() {
    let app = spawn_app().await;
    let target = target_db();
    target
        .connect()
        .batch_execute(
            "CREATE TABLE people (id SERIAL PRIMARY KEY, name TEXT NOT NULL, \
                                  modified TIMESTAMPTZ);
             INSERT INTO people (name, modified) VALUES
                 ('Ada', '2026-01-05'), ('Ada', '2026-03-01'), ('Ada', NULL),
                 ('Grace', '2025-12-24');
             ALTER TABLE contacts ADD COLUMN owner_id INT REFERENCES people (id);",
        )
        .unwrap();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let csv = "Email,Owner\na@example.com,Ada\nb@example.com,Grace\nc@example.com,Linus\n";
    let upload = upload(&app, &owner, csv.as_bytes().to_vec()).await;
    let mapping = |lookup: Value| {
        let mut transform = json!({"type": "lookup", "object": "people", "key": "name"});
        for (k, v) in lookup.as_object().unwrap() {
            transform[k] = v.clone();
        }
        json!([
            {"source": "Email", "target": "email"},
            {"source": "Owner", "target": "owner_id", "transform": transform},
        ])
    };
    let refused = |res: reqwest::Response| async move {
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = res.json().await.unwrap();
        body["error"]["message"].as_str().unwrap().to_owned()
    };
    // The rule needs its order, and the order a column of the table.
    let message = refused(
        create_job(
            &app,
            &owner,
            &upload,
            &connection,
            mapping(json!({"several": "latest"})),
        )
        .await,
    )
    .await;
    assert!(message.contains("needs order_by"), "{message}");
    let message = refused(
        create_job(
            &app,
            &owner,
            &upload,
            &connection,
            mapping(json!({"several": "first", "order_by": "created"})),
        )
        .await,
    )
    .await;
    assert!(
        message.contains("no column \"created\" to order by"),
        "{message}"
    );

    // Each rule: which Ada the first row gets.
    let owners = |rule: Value| {
        let (app, owner, upload, connection, target) =
            (&app, &owner, &upload, &connection, &target);
        let mapping = mapping(rule);
        async move {
            target
                .connect()
                .batch_execute("DELETE FROM contacts")
                .unwrap();
            let res = create_job(app, owner, upload, connection, mapping).await;
            assert_eq!(res.status(), StatusCode::CREATED);
            let job: Value = res.json().await.unwrap();
            let run = run_to_end(app, owner, job["id"].as_str().unwrap()).await;
            #[derive(QueryableByName)]
            struct Owned {
                #[diesel(sql_type = diesel::sql_types::Text)]
                email: String,
                #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
                owner_id: Option<i32>,
            }
            let owned: Vec<Owned> =
                diesel::sql_query("SELECT email, owner_id FROM contacts ORDER BY email")
                    .load(&mut target.connect())
                    .unwrap();
            let owned: Vec<(String, Option<i32>)> =
                owned.into_iter().map(|o| (o.email, o.owner_id)).collect();
            (run, owned)
        }
    };
    let (run, owned) = owners(json!({})).await;
    assert_eq!(
        run["rows_failed"], 2,
        "an Ada for three rows, no Linus: {run}"
    );
    assert_eq!(owned, [("b@example.com".to_owned(), Some(4))]);
    let (run, owned) = owners(json!({"several": "latest", "order_by": "modified"})).await;
    assert_eq!(run["rows_failed"], 1, "no Linus: {run}");
    assert_eq!(
        owned,
        [
            ("a@example.com".to_owned(), Some(2)),
            ("b@example.com".to_owned(), Some(4))
        ],
        "the Ada modified last; one never modified comes last"
    );
    let (_, owned) = owners(json!({"several": "first", "order_by": "modified"})).await;
    assert_eq!(owned[0], ("a@example.com".to_owned(), Some(1)));
    let errors = {
        let (run, _) = owners(json!({"several": "first", "order_by": "name"})).await;
        result_file(&app, &owner, run["id"].as_str().unwrap(), "errors").await
    };
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[1][1].contains("no row of people"), "{errors:?}");
}

#[tokio::test]
async fn a_lookup_sets_a_reference_by_another_tables_key() {
    let app = spawn_app().await;
    let target = target_db();
    target
        .connect()
        .batch_execute(
            "CREATE TABLE companies (id SERIAL PRIMARY KEY, domain TEXT NOT NULL, name TEXT);
             INSERT INTO companies (domain, name) VALUES
                 ('acme.test', 'Acme'), ('initech.test', 'Initech'),
                 ('twice.test', 'One'), ('twice.test', 'Two');
             ALTER TABLE contacts ADD COLUMN company_id INT REFERENCES companies (id);",
        )
        .unwrap();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let csv = "Email,Company\n\
               a@example.com, initech.test\n\
               b@example.com,nowhere.test\n\
               c@example.com,\n\
               d@example.com,twice.test\n\
               e@example.com,acme.test\n";
    let upload = upload(&app, &owner, csv.as_bytes().to_vec()).await;
    let mapping = |object: &str| {
        json!([
            {"source": "Email", "target": "email"},
            {"source": "Company", "target": "company_id", "transform": [
                {"type": "trim"},
                {"type": "lookup", "object": object, "key": "domain"},
            ]},
        ])
    };
    let res = create_job(&app, &owner, &upload, &connection, mapping("firms")).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused: Value = res.json().await.unwrap();
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("company_id: the database has no table public.firms"),
        "{refused}"
    );
    let res = create_job(&app, &owner, &upload, &connection, mapping("companies")).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let job: Value = res.json().await.unwrap();
    let job_id = job["id"].as_str().unwrap();

    let preview: Value = call_json(
        &app,
        Method::POST,
        &format!("/v1/jobs/{job_id}/preview"),
        &owner,
    )
    .await;
    assert_eq!(preview["rows"][0]["values"]["company_id"], "2");
    assert!(
        preview["rows"][1]["errors"][0]
            .as_str()
            .unwrap()
            .contains("no row of companies has domain"),
        "{preview}"
    );

    let run = run_to_end(&app, &owner, job_id).await;
    assert_eq!(run["status"], "partially_succeeded", "{run}");
    assert_eq!(
        (run["rows_ok"].as_i64(), run["rows_failed"].as_i64()),
        (Some(3), Some(2))
    );
    #[derive(QueryableByName, Debug, PartialEq)]
    struct Linked {
        #[diesel(sql_type = diesel::sql_types::Text)]
        email: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        company: Option<String>,
    }
    let linked: Vec<Linked> = diesel::sql_query(
        "SELECT c.email, k.name AS company FROM contacts c \
         LEFT JOIN companies k ON k.id = c.company_id ORDER BY c.email",
    )
    .load(&mut target.connect())
    .unwrap();
    let pairs: Vec<(&str, Option<&str>)> = linked
        .iter()
        .map(|l| (l.email.as_str(), l.company.as_deref()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("a@example.com", Some("Initech")),
            ("c@example.com", None),
            ("e@example.com", Some("Acme")),
        ]
    );
    let errors = result_file(&app, &owner, run["id"].as_str().unwrap(), "errors").await;
    assert!(
        errors[1][1].contains("no row of companies has domain"),
        "{errors:?}"
    );
    assert!(errors[2][1].contains("2 rows of companies"), "{errors:?}");
}

#[tokio::test]
async fn a_query_over_a_stored_connection_is_a_source_and_only_reads() {
    let app = spawn_app().await;
    let target = target_db();
    let source = TestDb::empty();
    source
        .connect()
        .batch_execute(
            "CREATE TABLE people (id SERIAL PRIMARY KEY, mail TEXT, given TEXT);
             INSERT INTO people (mail, given)
                 SELECT 'p' || i || '@example.com', CASE WHEN i % 10 = 0 THEN NULL ELSE 'P,' || i END
                 FROM generate_series(1, 2500) i;
             CREATE SEQUENCE tickets;",
        )
        .unwrap();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let from = connect_target(&app, &owner, &source).await;
    let job = |query: &str| {
        let body = json!({
            "name": "from the crm",
            "source": {"connection_id": from, "query": query},
            "target": {"connection_id": connection, "object": "contacts"},
            "operation": "insert",
            "mapping": [
                {"source": "mail", "target": "email"},
                {"source": "given", "target": "first_name"},
            ],
        });
        let app = &app;
        let owner = owner.clone();
        async move {
            app.client
                .post(app.url("/v1/jobs"))
                .bearer_auth(&owner)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    for (query, says) in [
        (
            "DELETE FROM people RETURNING mail, given",
            "cannot be run as a read",
        ),
        ("SELECT mail, given FROM nobody", "nobody"),
        ("  ;", "give the query"),
        ("SELECT mail FROM people", "\"given\""),
    ] {
        let res = job(query).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        let body: Value = res.json().await.unwrap();
        assert!(
            body["error"]["message"].as_str().unwrap().contains(says),
            "{query}: {body}"
        );
    }

    let res = job("SELECT mail, given FROM people ORDER BY id;").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    assert_eq!(
        created["source"]["query"],
        "SELECT mail, given FROM people ORDER BY id"
    );
    let job_id = created["id"].as_str().unwrap();
    let preview: Value = call_json(
        &app,
        Method::POST,
        &format!("/v1/jobs/{job_id}/preview?rows=2"),
        &owner,
    )
    .await;
    assert_eq!(preview["rows"].as_array().unwrap().len(), 2);
    assert_eq!(preview["rows"][1]["values"]["first_name"], "P,2");
    let run = run_to_end(&app, &owner, job_id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["rows_ok"], 2500);
    let tenth: Contact = diesel::sql_query(
        "SELECT email, first_name, coalesce(amount::text, '') AS amount, \
         coalesce(joined::text, '') AS joined, source FROM contacts WHERE email = 'p10@example.com'",
    )
    .get_result(&mut target.connect())
    .unwrap();
    assert_eq!(tenth.first_name, None, "a NULL stays NULL");

    // A value the query cannot read fails the run; the message does not
    // quote it (it goes to the event log).
    let res = job("SELECT mail, given::int::text AS given FROM people").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let bad: Value = res.json().await.unwrap();
    let run = run_to_end(&app, &owner, bad["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "failed", "{run}");
    let message = run["message"].as_str().unwrap();
    assert!(message.contains("invalid input syntax"), "{message}");
    assert!(!message.contains("P,1"), "{message}");

    // The query runs in a read-only transaction.
    let res = job("SELECT nextval('tickets')::text AS mail, 'x' AS given").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let writes: Value = res.json().await.unwrap();
    let run = run_to_end(&app, &owner, writes["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["message"]
            .as_str()
            .unwrap()
            .contains("read-only transaction"),
        "{run}"
    );
}

#[tokio::test]
async fn a_job_is_changed_with_the_same_checks_and_keeps_its_target_once_it_has_runs() {
    let app = spawn_app().await;
    let target = target_db();
    let other = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let elsewhere = connect_target(&app, &owner, &other).await;
    let upload = upload(&app, &owner, contacts_csv(3)).await;
    let job: Value = create_job(&app, &owner, &upload, &connection, contacts_mapping())
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/v1/jobs/{}", job["id"].as_str().unwrap());
    let patch = |token: &str, body: Value| {
        app.client
            .patch(app.url(&path))
            .bearer_auth(token)
            .json(&body)
            .send()
    };

    // A mapping that does not fit is refused, and the job stays as it was.
    let res = patch(
        &owner,
        json!({"mapping": [{"source": "Nope", "target": "email"}]}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let member = member(&app, &owner, "bob@example.com").await;
    let res = patch(&member, json!({"name": "mine"})).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // Before any run, the target may move; the name and mapping change.
    let res = patch(
        &owner,
        json!({"name": "renamed", "target": {"connection_id": elsewhere, "object": "contacts"}}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let changed: Value = res.json().await.unwrap();
    assert_eq!(changed["name"], "renamed");
    assert_eq!(changed["target"]["connection_id"], elsewhere.as_str());
    assert_eq!(changed["mapping"], job["mapping"]);

    let run = run_to_end(&app, &owner, job["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let count = |db: &TestDb| {
        diesel::sql_query("SELECT count(*) AS n FROM contacts")
            .get_result::<CountRow>(&mut db.connect())
            .unwrap()
            .n
    };
    assert_eq!((count(&target), count(&other)), (0, 3));

    let res = patch(
        &owner,
        json!({"target": {"connection_id": connection, "object": "contacts"}}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused: Value = res.json().await.unwrap();
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot change"),
        "{refused}"
    );
    let mut mapping = contacts_mapping();
    mapping.as_array_mut().unwrap().remove(1);
    let res = patch(&owner, json!({"mapping": mapping})).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let shown: Value = call_json(&app, Method::GET, &path, &owner).await;
    assert_eq!(shown["mapping"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn a_lookup_finds_rows_the_same_run_wrote_in_earlier_batches() {
    let app = spawn_app().await;
    let target = target_db();
    target
        .connect()
        .batch_execute("ALTER TABLE contacts ADD COLUMN referrer_id INT REFERENCES contacts (id)")
        .unwrap();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    // Each person after the first thousand was referred by the one a
    // thousand rows before: a row of the batch before (batches of 1,000).
    let mut csv = String::from("Email,Referrer\n");
    for i in 1..=2500 {
        let referrer = if i <= 1000 {
            String::new()
        } else {
            format!("p{}@example.com", i - 1000)
        };
        csv.push_str(&format!("p{i}@example.com,{referrer}\n"));
    }
    let upload = upload(&app, &owner, csv.into_bytes()).await;
    let mapping = json!([
        {"source": "Email", "target": "email"},
        {"source": "Referrer", "target": "referrer_id", "transform":
            {"type": "lookup", "object": "contacts", "key": "email"}},
    ]);
    let res = create_job(&app, &owner, &upload, &connection, mapping).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let job: Value = res.json().await.unwrap();
    let run = run_to_end(&app, &owner, job["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["rows_ok"], 2500);
    let linked: i64 = diesel::sql_query(
        "SELECT count(*) AS n FROM contacts c JOIN contacts r ON r.id = c.referrer_id \
         WHERE r.email = 'p' || (substring(c.email from 2 for position('@' in c.email) - 2)::int - 1000) || '@example.com'",
    )
    .get_result::<CountRow>(&mut target.connect())
    .unwrap()
    .n;
    assert_eq!(linked, 1500);
}

#[tokio::test]
async fn rows_may_refer_by_foreign_key_to_rows_of_earlier_batches() {
    let app = spawn_app().await;
    let target = TestDb::empty();
    target
        .connect()
        .batch_execute(
            "CREATE TABLE staff (id INT PRIMARY KEY, boss INT REFERENCES staff (id), name TEXT)",
        )
        .unwrap();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    // Each one's boss is the one a thousand rows before (batches of 1,000).
    let mut csv = String::from("Id,Boss,Name\n");
    for i in 1..=3000 {
        let boss = if i > 1000 {
            (i - 1000).to_string()
        } else {
            String::new()
        };
        csv.push_str(&format!("{i},{boss},N{i}\n"));
    }
    let upload = upload(&app, &owner, csv.into_bytes()).await;
    let res = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(&owner)
        .json(&json!({
            "name": "staff",
            "source": {"upload_id": upload},
            "target": {"connection_id": connection, "object": "staff"},
            "operation": "insert",
            "mapping": [
                {"source": "Id", "target": "id"},
                {"source": "Boss", "target": "boss"},
                {"source": "Name", "target": "name"},
            ],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let job: Value = res.json().await.unwrap();
    let run = run_to_end(&app, &owner, job["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["rows_ok"], 3000);
    let bossed: i64 = diesel::sql_query("SELECT count(boss) AS n FROM staff")
        .get_result::<CountRow>(&mut target.connect())
        .unwrap()
        .n;
    assert_eq!(bossed, 2000);
    // The key the file gave each row is the one success.csv names.
    let success = result_file(&app, &owner, run["id"].as_str().unwrap(), "success").await;
    assert_eq!(success.len(), 3001);
    assert!(
        success[1..].iter().all(|r| r[1] == r[3]),
        "{:?}",
        &success[..3]
    );
}

#[tokio::test]
async fn a_resumed_run_keeps_the_time_it_first_started() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let target = target_db();
    let connection = connect_target(&app, &owner, &target).await;
    let upload = upload(&app, &owner, contacts_csv(3)).await;
    let res = create_job(&app, &owner, &upload, &connection, contacts_mapping()).await;
    let job = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = run_to_end(&app, &owner, &job).await;
    let first = run["started_at"].as_str().unwrap().to_owned();
    let id = uuid::Uuid::parse_str(run["id"].as_str().unwrap()).unwrap();

    // What a worker that picks the run up again after a crash records.
    let again = sluice_events::NewEvent::new(
        sluice_events::DomainEvent::RunStarted(sluice_events::event::RunStarted {
            worker: "another-worker".into(),
            resumed_after_batch: 1,
        }),
        sluice_events::Metadata::actor("test"),
    );
    app.platform
        .appender
        .append(sluice_events::AppendRequest::new(
            "run",
            id,
            sluice_events::ExpectedVersion::Any,
            vec![again],
        ))
        .await
        .unwrap();
    let shown = call_json(&app, Method::GET, &format!("/v1/runs/{id}"), &owner).await;
    assert_eq!(shown["started_at"], first.as_str());
}
