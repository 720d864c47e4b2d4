//! An import end to end against `psql \copy` of the same file into the same
//! table: `cargo bench --bench imports [-- <rows>]` (1,000,000 by default).
//!
//! Runs the release `sluice api` and `sluice worker` as their own processes
//! on a fresh database and broker namespace, uploads a generated CSV, and
//! times a run from `POST /v1/jobs/{id}/runs` to its end; then the worker's
//! peak resident memory (VmHWM). The baseline is `psql \copy` of the same
//! file into an identical empty table, timed in the same session.
#![expect(clippy::unwrap_used, reason = "a benchmark stops on any failure")]

mod common;
#[path = "common/cpu.rs"]
mod cpu;

use common::Process;
use diesel::connection::SimpleConnection;
use serde_json::{json, Value};
use sluice_testkit::{TestBroker, TestDb};
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

const TABLE: &str = "CREATE TABLE contacts (
    id SERIAL PRIMARY KEY, email TEXT NOT NULL, first_name TEXT, amount NUMERIC, joined DATE)";

fn sluice(
    command: &str,
    db: &TestDb,
    broker: &TestBroker,
    dir: &std::path::Path,
    port: u16,
) -> Process {
    common::sluice(
        command,
        &[
            ("SLUICE_DATABASE_URL", db.url.clone()),
            ("SLUICE_AMQP_URL", broker.url.clone()),
            ("SLUICE_AMQP_NAMESPACE", broker.topology.namespace.clone()),
            ("SLUICE_BIND", format!("127.0.0.1:{port}")),
            (
                "SLUICE_KEYRING",
                dir.join("keyring.json").display().to_string(),
            ),
            ("SLUICE_STORAGE", dir.join("storage").display().to_string()),
            ("SLUICE_ALLOW_LOCAL_CONNECTIONS", "true".into()),
            ("SLUICE_UPLOAD_MAX_BYTES", (8u64 << 30).to_string()),
            ("SLUICE_LOG", "warn".into()),
        ],
    )
}

#[tokio::main]
async fn main() {
    let rows: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir_in(std::env::current_dir().unwrap()).unwrap();
    let csv = dir.path().join("contacts.csv");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&csv).unwrap());
        writeln!(out, "email,first_name,amount,joined").unwrap();
        for i in 0..rows {
            writeln!(
                out,
                "person{i}@example.com,Person {i},{}.{:02},2025-{:02}-{:02}",
                i % 9973,
                i % 100,
                i % 12 + 1,
                i % 28 + 1
            )
            .unwrap();
        }
    }
    let size_mib = std::fs::metadata(&csv).unwrap().len() as f64 / 1048576.0;

    // Baseline: psql \copy into an identical table.
    let baseline_db = TestDb::empty();
    baseline_db.connect().batch_execute(TABLE).unwrap();
    let baseline_pg_cpu = cpu::postgres_cpu_seconds();
    let started = Instant::now();
    let status = Command::new("psql")
        .args([
            "-q",
            "-d",
            &baseline_db.url,
            "-c",
            &format!("\\copy contacts (email, first_name, amount, joined) FROM '{}' WITH (FORMAT csv, HEADER)", csv.display()),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let baseline = started.elapsed();
    let baseline_pg_cpu = cpu::postgres_cpu_seconds() - baseline_pg_cpu;

    let db = TestDb::new();
    let target = TestDb::empty();
    target.connect().batch_execute(TABLE).unwrap();
    let broker = TestBroker::new();
    let port = common::free_port();
    let _api = sluice("api", &db, &broker, dir.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let worker = sluice("worker", &db, &broker, dir.path(), 0);
    let token = common::account(&client, &base).await;
    let post = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let socket = sluice_testkit::database_server_url();
    let host = socket
        .split_once("host=")
        .map(|(_, h)| h.split('&').next().unwrap().to_owned())
        .unwrap_or_else(|| "127.0.0.1".into());
    let connection: Value = post(
        "/v1/connections",
        json!({"name": "target", "kind": "postgres", "params": {
            "host": host, "port": 5432, "dbname": target.name,
            "user": std::env::var("USER").unwrap_or_else(|_| "root".into()),
            "password": "unused", "sslmode": "disable"}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let upload_started = Instant::now();
    let upload: Value = client
        .post(format!("{base}/v1/uploads?filename=contacts.csv"))
        .bearer_auth(&token)
        .body(std::fs::read(&csv).unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let upload_time = upload_started.elapsed();
    let mapping: Vec<Value> = ["email", "first_name", "amount", "joined"]
        .iter()
        .map(|c| json!({"source": c, "target": c}))
        .collect();
    let job: Value = post(
        "/v1/jobs",
        json!({"name": "bench", "source": {"upload_id": upload["id"]},
               "target": {"connection_id": connection["id"], "object": "contacts"},
               "operation": "insert", "mapping": mapping}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let job_id = job["id"].as_str().unwrap();
    let worker_cpu = cpu::cpu_seconds(&worker.0);
    let pg_cpu = cpu::postgres_cpu_seconds();
    let started = Instant::now();
    let queued: Value = post(&format!("/v1/jobs/{job_id}/runs"), json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run = queued["run_id"].as_str().unwrap();
    let finished = loop {
        let shown: Value = client
            .get(format!("{base}/v1/runs/{run}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if shown["finished_at"].is_string() {
            break shown;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let elapsed = started.elapsed();
    let worker_cpu = cpu::cpu_seconds(&worker.0) - worker_cpu;
    let pg_cpu = cpu::postgres_cpu_seconds() - pg_cpu;
    assert_eq!(finished["status"], "succeeded", "{finished}");
    assert_eq!(finished["rows_ok"], rows);
    let rss = common::peak_rss_mib(&worker.0);
    let rate = |d: Duration| rows as f64 / d.as_secs_f64();
    println!("| what | rows | file | time | rows/s | note |");
    println!("| --- | ---: | ---: | ---: | ---: | --- |");
    println!(
        "| `psql \\copy` (baseline) | {rows} | {size_mib:.0} MiB | {:.2} s | {:.0} | PostgreSQL CPU {baseline_pg_cpu:.2} s |",
        baseline.as_secs_f64(),
        rate(baseline)
    );
    println!(
        "| upload (`POST /v1/uploads`) | {rows} | {size_mib:.0} MiB | {:.2} s | | streamed and encrypted |",
        upload_time.as_secs_f64()
    );
    println!(
        "| run (request → finished) | {rows} | {size_mib:.0} MiB | {:.2} s | {:.0} | {:.2}× the baseline; worker peak RSS {rss:.0} MiB; CPU: worker {worker_cpu:.2} s, PostgreSQL {pg_cpu:.2} s |",
        elapsed.as_secs_f64(),
        rate(elapsed),
        elapsed.as_secs_f64() / baseline.as_secs_f64()
    );
}
