//! A Bulk API 2.0 insert into Salesforce end to end, against the stand-in:
//! `cargo bench --bench salesforce [-- <rows>] [--rounds N]`.
//!
//! The file is shaped like a CRM export (generated with a fixed seed): an
//! external id (text), first and last names with commas, apostrophes and
//! non-ASCII letters, an email, a phone, a title with quotes, a birthdate
//! and a yes/no opt-out; 1,000,000 rows by default (about 110 MiB). Each is
//! inserted as a `Contact`.
//!
//! The release `sluice api` and `sluice worker` run as their own processes
//! on a fresh database and broker namespace; the Salesforce stand-in (the
//! org, its OAuth and its Bulk API 2.0, in the benchmark's process) answers
//! them over loopback. The org is connected through the API as a user
//! would, the file uploaded once, and each round times a run from
//! `POST /v1/jobs/{id}/runs` to its end, into an org emptied before it.
//! Prints the median and range of the run, the API calls the org counted
//! (Bulk calls, polls of a job's state, and the others), the jobs and the
//! Bulk calls per job (each job is one upload), the worker's CPU per
//! 1,000,000 records and its peak memory, and the load average.
#![expect(clippy::unwrap_used, reason = "a benchmark stops on any failure")]

mod common;
#[path = "common/cpu.rs"]
mod cpu;
#[path = "common/figures.rs"]
mod figures;

use figures::{load_average, spread, Seeded};

use common::Process;
use reqwest::redirect::Policy;
use serde_json::{json, Value};
use sluice_testkit::salesforce::{SalesforceStandIn, CLIENT_ID, CLIENT_SECRET};
use sluice_testkit::{TestBroker, TestDb};
use std::path::Path;
use std::time::{Duration, Instant};

const COLUMNS: [&str; 8] = [
    "External_Id__c",
    "FirstName",
    "LastName",
    "Email",
    "Phone",
    "Title",
    "Birthdate",
    "HasOptedOutOfEmail",
];

const FIRST: [&str; 8] = [
    "Ada", "José", "Zoë", "Łukasz", "Ngozi", "Søren", "Anaïs", "Siobhán",
];
const LAST: [&str; 8] = [
    "O'Connor",
    "García, Jr.",
    "Müller",
    "Nguyễn",
    "Smith",
    "D'Angelo",
    "Ødegård",
    "Okafor, PhD",
];
const TITLES: [&str; 5] = [
    "",
    "VP, Sales",
    "Head of \"Data\"",
    "Directrice générale",
    "Engineer",
];

/// The benchmark's file of `rows` rows.
fn generate(rows: usize) -> Vec<u8> {
    let mut out = csv::Writer::from_writer(Vec::with_capacity(rows * 120));
    out.write_record(COLUMNS).unwrap();
    let mut random = Seeded(20_261_203);
    for i in 0..rows {
        let record = [
            format!("C-{:08X}-{i}", random.next() as u32),
            random.pick(&FIRST).to_owned(),
            random.pick(&LAST).to_owned(),
            format!("person.{i}@example.com"),
            format!(
                "+44 20 {:04} {:04}",
                random.below(10_000),
                random.below(10_000)
            ),
            random.pick(&TITLES).to_owned(),
            format!(
                "{}-{:02}-{:02}",
                1950 + random.below(55),
                1 + random.below(12),
                1 + random.below(28)
            ),
            if random.below(4) == 0 {
                "true"
            } else {
                "false"
            }
            .to_owned(),
        ];
        out.write_record(&record).unwrap();
    }
    out.into_inner().unwrap()
}

fn sluice(
    command: &str,
    db: &TestDb,
    broker: &TestBroker,
    dir: &Path,
    port: u16,
    standin: &SalesforceStandIn,
) -> Process {
    common::sluice(
        command,
        &[
            ("SLUICE_DATABASE_URL", db.url.clone()),
            ("SLUICE_AMQP_URL", broker.url.clone()),
            ("SLUICE_AMQP_NAMESPACE", broker.topology.namespace.clone()),
            ("SLUICE_BIND", format!("127.0.0.1:{port}")),
            ("SLUICE_PUBLIC_URL", format!("http://127.0.0.1:{port}")),
            (
                "SLUICE_KEYRING",
                dir.join("keyring.json").display().to_string(),
            ),
            ("SLUICE_STORAGE", dir.join("storage").display().to_string()),
            ("SLUICE_SALESFORCE_LOGIN_URL", standin.url.clone()),
            ("SLUICE_SALESFORCE_CLIENT_ID", CLIENT_ID.into()),
            ("SLUICE_SALESFORCE_CLIENT_SECRET", CLIENT_SECRET.into()),
            ("SLUICE_UPLOAD_MAX_BYTES", (8u64 << 30).to_string()),
            ("SLUICE_LOG", "warn".into()),
        ],
    )
}

/// Connects the stand-in's org through the API, as a user's browser would
/// go through the consent: the connection's id.
async fn connect_org(client: &reqwest::Client, base: &str, token: &str) -> String {
    let start: Value = client
        .get(format!("{base}/v1/connections/salesforce/start"))
        .query(&[("name", "Production org")])
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let browser = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let consent = browser
        .get(start["authorize_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    let connected: Value = browser
        .get(callback)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    connected["id"].as_str().unwrap().to_owned()
}

async fn post(client: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    client
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// What one round measured.
struct Round {
    run: f64,
    worker_cpu: f64,
    bulk: u64,
    jobs: usize,
    polls: u64,
    other: u64,
}

#[tokio::main]
async fn main() {
    let mut rows = 1_000_000usize;
    let mut rounds = 3usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => rounds = args.next().and_then(|n| n.parse().ok()).unwrap(),
            other => rows = other.parse().unwrap_or(rows),
        }
    }
    let file = generate(rows);
    let size_mb = file.len() as f64 / 1_000_000.0;
    let load_before = load_average();

    let standin = SalesforceStandIn::start().await;
    standin.define_account_and_contact();
    let dir = tempfile::tempdir_in(std::env::current_dir().unwrap()).unwrap();
    let (db, broker) = (TestDb::new(), TestBroker::new());
    let port = common::free_port();
    let _api = sluice("api", &db, &broker, dir.path(), port, &standin);
    let worker = sluice("worker", &db, &broker, dir.path(), 0, &standin);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let token = common::account(&client, &base).await;
    standin.sign_in_as("admin@org.example", true);
    let org = connect_org(&client, &base, &token).await;
    let upload = client
        .post(format!("{base}/v1/uploads?filename=contacts.csv"))
        .bearer_auth(&token)
        .body(file)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let mapping: Vec<Value> = COLUMNS
        .iter()
        .map(|c| json!({"source": c, "target": c}))
        .collect();
    let job = post(
        &client,
        format!("{base}/v1/jobs"),
        &token,
        json!({"name": "Contacts", "source": {"upload_id": upload["id"]},
               "target": {"connection_id": org, "object": "Contact"},
               "operation": "insert", "key_fields": [], "mapping": mapping}),
    )
    .await;
    let job = job["id"].as_str().unwrap_or_else(|| panic!("{job}"));

    let mut measured = Vec::new();
    for _ in 0..rounds {
        standin.reset_records();
        let calls = standin.api_call_counts();
        let jobs = standin.bulk_jobs();
        let cpu = cpu::cpu_seconds(&worker.0);
        let started = Instant::now();
        let queued = post(
            &client,
            format!("{base}/v1/jobs/{job}/runs"),
            &token,
            json!({}),
        )
        .await;
        let run_id = queued["run_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{queued}"));
        let run = loop {
            let shown: Value = client
                .get(format!("{base}/v1/runs/{run_id}"))
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
        let elapsed = started.elapsed().as_secs_f64();
        let worker_cpu = cpu::cpu_seconds(&worker.0) - cpu;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(run["rows_ok"], rows);
        assert_eq!(standin.record_count("Contact"), rows);
        let after = standin.api_call_counts();
        measured.push(Round {
            run: elapsed,
            worker_cpu,
            bulk: after.bulk - calls.bulk,
            jobs: standin.bulk_jobs() - jobs,
            polls: after.bulk_polls - calls.bulk_polls,
            other: (after.total - calls.total)
                - (after.bulk - calls.bulk)
                - (after.bulk_polls - calls.bulk_polls),
        });
    }

    let (median, low, high) = spread(&measured.iter().map(|r| r.run).collect::<Vec<_>>());
    let (cpu, cpu_low, cpu_high) =
        spread(&measured.iter().map(|r| r.worker_cpu).collect::<Vec<_>>());
    let per_million = 1_000_000.0 / rows as f64;
    let last = &measured[measured.len() - 1];
    println!(
        "{rows} records, {size_mb:.0} MB of CSV, {rounds} rounds; load average before {load_before}, after {}",
        load_average()
    );
    println!();
    println!("| what | median | range | note |");
    println!("| --- | ---: | ---: | --- |");
    println!(
        "| run (request → finished) | {median:.2} s | {low:.2}–{high:.2} s | worker peak RSS {:.0} MiB |",
        common::peak_rss_mib(&worker.0)
    );
    println!(
        "| worker CPU per 1,000,000 records | {:.2} s | {:.2}–{:.2} s | |",
        cpu * per_million,
        cpu_low * per_million,
        cpu_high * per_million
    );
    println!(
        "| Bulk API calls (polls apart) | {} | | {} jobs (one per upload of at most 100 MiB): **{:.1} calls per upload**; {} polls, {} other calls (describe, limits) |",
        last.bulk,
        last.jobs,
        last.bulk as f64 / last.jobs.max(1) as f64,
        last.polls,
        last.other
    );
}
