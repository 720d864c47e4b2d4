//! A database as an earlier Sluice left it, kept as a fixture
//! (`tests/fixtures/event-log.sql`: the versions of the migrations it was
//! written under, then its rows, as `pg_dump --data-only` gives them).
//! Whatever the code becomes, such a database must still work: the later
//! migrations apply to it, `sluice replay` rebuilds every projection from
//! its events equal to its tables, and `sluice audit verify` finds its hash
//! chain whole.
//!
//! The fixture is written by `write_the_event_log_fixture`, which drives a
//! day of use through the API (sign-up, a member, an API token, a
//! connection, an upload, a job changed and run, the run rolled back, the
//! plan and the retention changed, then the job, the upload and the
//! connection removed). It is run on purpose only, when a new fixture is
//! wanted beside the old ones:
//! `cargo nextest run --run-ignored only -E 'test(write_the_event_log_fixture)'`.

use crate::accounts::{account, call, call_json, member};
use crate::imports::{
    connect_target, contacts_csv, contacts_mapping, create_job, run_to_end, target_db, upload,
};
use crate::rollbacks::roll_back;
use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel_migrations::MigrationHarness;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_schema::db::MIGRATIONS;
use sluice_testkit::{spawn_app, TestDb};
use std::process::Command;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/event-log.sql");
const HEADER: &str = "-- migrations: ";

use crate::cli::sluice;

/// The versions of every migration there is, in order.
fn versions() -> Vec<String> {
    MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .unwrap()
        .iter()
        .map(|m| m.name().version().to_string())
        .collect()
}

#[test]
fn a_database_written_by_earlier_code_migrates_replays_and_verifies() {
    let fixture = std::fs::read_to_string(FIXTURE).unwrap();
    let (header, rows) = fixture.split_once('\n').unwrap();
    let written_under: Vec<&str> = header.strip_prefix(HEADER).unwrap().split(',').collect();
    let all = versions();
    assert_eq!(
        written_under,
        all[..written_under.len()],
        "the fixture's migrations are the first of today's"
    );

    let db = TestDb::empty();
    let mut conn = db.connect();
    for _ in &written_under {
        conn.run_next_migration(MIGRATIONS).unwrap();
    }
    // Rows the migrations seed (the log's head) are the fixture's to give.
    let mut tables: Vec<&str> = rows
        .lines()
        .filter_map(|line| line.strip_prefix("INSERT INTO "))
        .filter_map(|rest| rest.split_once(' ').map(|(table, _)| table))
        .collect();
    tables.dedup();
    let emptied: String = tables
        .iter()
        .map(|table| format!("DELETE FROM {table};"))
        .collect();
    conn.batch_execute(&format!(
        "BEGIN; SET LOCAL session_replication_role = replica; {emptied} COMMIT;"
    ))
    .unwrap();
    conn.batch_execute(rows).unwrap();
    // The dump empties the search path of the session that loads it.
    let mut conn = db.connect();
    let later = conn.run_pending_migrations(MIGRATIONS).unwrap();
    assert_eq!(later.len(), all.len() - written_under.len());

    let events = rows.matches("INSERT INTO public.events ").count();
    assert!(
        events > 20,
        "the fixture holds a day of use: {events} events"
    );
    let (code, report) = sluice(&db, &["replay"]);
    assert_eq!(code, 0, "{report:#}");
    let (code, report) = sluice(&db, &["audit", "verify"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["events_checked"], events);
}

#[tokio::test]
#[ignore = "writes tests/fixtures/event-log.sql; run on purpose only (see the module's docs)"]
async fn write_the_event_log_fixture() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    member(&app, &owner, "bob@example.com").await;
    let res = app
        .client
        .post(app.url("/v1/api-tokens"))
        .bearer_auth(&owner)
        .json(&json!({"name": "nightly export"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    let target = target_db();
    let connection = connect_target(&app, &owner, &target).await;
    let file = upload(&app, &owner, contacts_csv(12)).await;
    let res = create_job(&app, &owner, &file, &connection, contacts_mapping()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let job = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .client
        .patch(app.url(&format!("/v1/jobs/{job}")))
        .bearer_auth(&owner)
        .json(&json!({"name": "contacts from the fair"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let run = run_to_end(&app, &owner, &job).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let rollback = roll_back(&app, &owner, &run, Value::Null).await;
    assert_eq!(rollback["status"], "rolled_back", "{rollback}");

    let me = call_json(&app, Method::GET, "/v1/me", &owner).await;
    let plan = format!(
        "/v1/ops/accounts/{}/plan",
        me["account"]["id"].as_str().unwrap()
    );
    let res = app
        .ops(Method::POST, &plan)
        .json(&json!({"plan": "enterprise"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .client
        .put(app.url("/v1/account/settings"))
        .bearer_auth(&owner)
        .json(&json!({"result_retention_days": 7, "store_results": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    for path in [
        format!("/v1/jobs/{job}"),
        format!("/v1/uploads/{file}"),
        format!("/v1/connections/{connection}"),
    ] {
        let res = call(&app, Method::DELETE, &path, &owner).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "{path}");
    }
    // Everything the workers do with what was recorded is done.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;

    let dump = Command::new("pg_dump")
        .args([
            "--data-only",
            "--inserts",
            "--no-owner",
            "--exclude-table=__diesel_schema_migrations",
            &app.db.url,
        ])
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let rows = String::from_utf8(dump.stdout).unwrap();
    let rows: String = rows
        .lines()
        // Comments name pg_dump's version; `\restrict` is psql's alone.
        .filter(|line| !line.starts_with("--") && !line.starts_with('\\'))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(FIXTURE, format!("{HEADER}{}\n{rows}", versions().join(","))).unwrap();
}
