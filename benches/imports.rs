//! An import end to end against `psql \copy` of the same file into the same
//! table: `cargo bench --bench imports [-- <rows>] [--rounds N]
//! [--rollback] [--operation insert|update|upsert] [--ordered]
//! [--compare /path/to/another/sluice]`.
//!
//! The file is shaped like users' files (generated with a fixed seed, so
//! every run of the benchmark reads the same bytes): a text primary key,
//! an email, names with commas, apostrophes and non-ASCII letters,
//! `numeric(14,2)` amounts, dates, `timestamptz` values with offsets, and
//! free text with quotes and blanks; 1,000,000 rows by default (about
//! 137 MiB). The key is eight random hex digits and the row number, so rows
//! reach the key's index in random order; `--ordered` makes it the row
//! number alone, in order, as an export from another system often is.
//!
//! `--operation update` runs over a table that already holds every row (put
//! there by `psql \copy`, untimed) with a file of the same keys whose other
//! values changed; `--operation upsert` over a table that holds every other
//! row, so that half the file updates and half inserts. With `--rollback`
//! the rollback then restores what the table held.
//!
//! Runs the release `sluice api` and `sluice worker` as their own processes
//! on a fresh database and broker namespace, uploads the file once, and for
//! each round times a run from `POST /v1/jobs/{id}/runs` to its end into a
//! fresh target database, and (with `--rollback`) the rollback of that run.
//! The baseline, `psql \copy` of the same file into an identical empty
//! table, is timed in the same rounds, alternating with the runs, so load
//! that comes and goes falls on both. `--compare` times another build of
//! Sluice (an earlier commit's) in the same rounds. Prints the median and
//! range of each, its ratio to the baseline's median, the CPU the worker
//! and PostgreSQL spent (read from `/proc`), the worker's peak memory and
//! the load average before and after.
#![expect(clippy::unwrap_used, reason = "a benchmark stops on any failure")]

mod common;
#[path = "common/cpu.rs"]
mod cpu;
#[path = "common/figures.rs"]
mod figures;

use figures::{load_average, spread, Seeded};

use common::Process;
use diesel::connection::SimpleConnection;
use serde_json::{json, Value};
use sluice_testkit::{TestBroker, TestDb};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const TABLE: &str = "CREATE TABLE contacts (
    external_id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    first_name TEXT,
    last_name TEXT,
    amount NUMERIC(14,2),
    joined DATE,
    last_seen TIMESTAMPTZ,
    notes TEXT)";

const COLUMNS: [&str; 8] = [
    "external_id",
    "email",
    "first_name",
    "last_name",
    "amount",
    "joined",
    "last_seen",
    "notes",
];

const FIRST: [&str; 12] = [
    "Ada",
    "José",
    "Zoë",
    "Łukasz",
    "Ngozi",
    "Søren",
    "Anaïs",
    "Mary-Jane",
    "Dmitrij",
    "Siobhán",
    "Chloé",
    "Björn",
];
const LAST: [&str; 12] = [
    "O'Connor",
    "García, Jr.",
    "Müller",
    "Nguyễn",
    "Smith",
    "D'Angelo",
    "Kowalczyk",
    "Ødegård",
    "van der Berg",
    "Okafor, PhD",
    "Jones",
    "Ó Súilleabháin",
];
const NOTES: [&str; 6] = [
    "",
    "Met at the \"Data Days\" conference, asked for a demo",
    "Prefers email; no calls before 10:00",
    "Said: \"call me back next week\", then \"maybe\"",
    "Key account — renewal in Q3, see contract #4411",
    "",
];
const OFFSETS: [&str; 5] = ["+00:00", "+02:00", "-05:00", "+05:30", "Z"];

/// How the benchmark's file is made.
#[derive(Clone, Copy)]
struct Shape {
    /// The key is the row number alone, in order.
    ordered: bool,
    /// Every value but the key differs from the file made without it.
    changed: bool,
}

/// Writes the benchmark's file of `rows` rows.
fn generate(path: &Path, rows: usize, shape: Shape) {
    let mut out = csv::Writer::from_path(path).unwrap();
    out.write_record(COLUMNS).unwrap();
    let mut random = Seeded(20_261_203);
    for i in 0..rows {
        let first = random.pick(&FIRST);
        let last = random.pick(&LAST);
        let cents = random.below(100_000_000_000) as i64 - 2_000_000_000 + shape.changed as i64;
        let amount = format!(
            "{}{}.{:02}",
            if cents < 0 { "-" } else { "" },
            cents.abs() / 100,
            cents.abs() % 100
        );
        let joined = format!(
            "{}-{:02}-{:02}",
            1990 + random.below(36),
            1 + random.below(12),
            1 + random.below(28)
        );
        let seen = format!(
            "2025-{:02}-{:02}T{:02}:{:02}:{:02}{}",
            1 + random.below(12),
            1 + random.below(28),
            random.below(24),
            random.below(60),
            random.below(60),
            random.pick(&OFFSETS)
        );
        let tag = random.next() as u32;
        let key = if shape.ordered {
            format!("C-{i:010}")
        } else {
            format!("C-{tag:08X}-{i}")
        };
        let record = [
            key,
            format!("person.{i}@example.com"),
            if shape.changed { last } else { first }.to_owned(),
            if shape.changed { first } else { last }.to_owned(),
            amount,
            joined,
            seen,
            random.pick(&NOTES).to_owned(),
        ];
        out.write_record(&record).unwrap();
    }
    out.flush().unwrap();
}

fn sluice(
    binary: &Path,
    command: &str,
    db: &TestDb,
    broker: &TestBroker,
    dir: &Path,
    port: u16,
) -> Process {
    common::sluice_binary(
        binary,
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

/// One build of Sluice running as two processes, with an account, and the
/// benchmark's file uploaded.
struct Deployment {
    // Fields drop in this order: the processes stop before their database,
    // broker namespace and directory go.
    _api: Process,
    worker: Process,
    _db: TestDb,
    _broker: TestBroker,
    _dir: tempfile::TempDir,
    name: String,
    client: reqwest::Client,
    base: String,
    token: String,
    upload: Value,
    upload_time: Duration,
}

/// What one round of a deployment measured.
struct Round {
    run: Duration,
    worker_cpu: f64,
    pg_cpu: f64,
    rollback: Option<Undo>,
}

/// What the rollback of a round's run measured.
struct Undo {
    time: Duration,
    worker_cpu: f64,
    pg_cpu: f64,
}

impl Deployment {
    async fn start(name: String, binary: &Path, csv: &Path) -> Self {
        let dir = tempfile::tempdir_in(std::env::current_dir().unwrap()).unwrap();
        let db = TestDb::new();
        let broker = TestBroker::new();
        let port = common::free_port();
        let api = sluice(binary, "api", &db, &broker, dir.path(), port);
        let worker = sluice(binary, "worker", &db, &broker, dir.path(), 0);
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let token = common::account(&client, &base).await;
        let started = Instant::now();
        let upload: Value = client
            .post(format!("{base}/v1/uploads?filename=contacts.csv"))
            .bearer_auth(&token)
            .body(std::fs::read(csv).unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let upload_time = started.elapsed();
        assert!(upload["id"].is_string(), "{upload}");
        Self {
            _api: api,
            worker,
            _db: db,
            _broker: broker,
            _dir: dir,
            name,
            client,
            base,
            token,
            upload,
            upload_time,
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Polls run `id` until it has finished.
    async fn finished(&self, id: &str) -> Value {
        loop {
            let shown: Value = self
                .client
                .get(format!("{}/v1/runs/{id}", self.base))
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if shown["finished_at"].is_string() {
                return shown;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A run of the file into a fresh table (holding what the operation
    /// needs first), and its rollback if asked.
    async fn round(&self, rows: usize, options: &Options, original: &Path) -> Round {
        let target = TestDb::empty();
        target.connect().batch_execute(TABLE).unwrap();
        let operation = options.operation.as_str();
        if operation != "insert" {
            copy_into(&target, original);
            let mut conn = target.connect();
            if operation == "upsert" {
                conn.batch_execute(
                    "DELETE FROM contacts WHERE right(external_id, 1) IN ('0','2','4','6','8')",
                )
                .unwrap();
            }
            conn.batch_execute("VACUUM ANALYZE contacts").unwrap();
            checkpoint();
        }
        let socket = sluice_testkit::database_server_url();
        let host = socket
            .split_once("host=")
            .map(|(_, h)| h.split('&').next().unwrap().to_owned())
            .unwrap_or_else(|| "127.0.0.1".into());
        let connection = self
            .post(
                "/v1/connections",
                json!({"name": target.name, "kind": "postgres", "params": {
                    "host": host, "port": 5432, "dbname": target.name,
                    "user": std::env::var("USER").unwrap_or_else(|_| "root".into()),
                    "password": "unused", "sslmode": "disable"}}),
            )
            .await;
        let mapping: Vec<Value> = COLUMNS
            .iter()
            .map(|c| json!({"source": c, "target": c}))
            .collect();
        let job = self
            .post(
                "/v1/jobs",
                json!({"name": target.name, "source": {"upload_id": self.upload["id"]},
                       "target": {"connection_id": connection["id"], "object": "contacts"},
                       "operation": operation, "mapping": mapping,
                       "key_fields": if operation == "insert" { json!([]) } else { json!(["external_id"]) }}),
            )
            .await;
        let job_id = job["id"].as_str().unwrap();
        let worker_cpu = cpu::cpu_seconds(&self.worker.0);
        let pg_cpu = cpu::postgres_cpu_seconds();
        let started = Instant::now();
        let queued = self
            .post(&format!("/v1/jobs/{job_id}/runs"), json!({}))
            .await;
        let run_id = queued["run_id"].as_str().unwrap().to_owned();
        let run = self.finished(&run_id).await;
        let elapsed = started.elapsed();
        let worker_cpu = cpu::cpu_seconds(&self.worker.0) - worker_cpu;
        let pg_cpu = cpu::postgres_cpu_seconds() - pg_cpu;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(run["rows_ok"], rows);
        let rollback = if options.rollback {
            let worker_cpu = cpu::cpu_seconds(&self.worker.0);
            let pg_cpu = cpu::postgres_cpu_seconds();
            let started = Instant::now();
            let asked = self
                .post(&format!("/v1/runs/{run_id}/rollback"), json!({}))
                .await;
            let undo = asked["run_id"]
                .as_str()
                .unwrap_or_else(|| panic!("{asked}"))
                .to_owned();
            let undone = self.finished(&undo).await;
            assert_eq!(undone["status"], "rolled_back", "{undone}");
            Some(Undo {
                time: started.elapsed(),
                worker_cpu: cpu::cpu_seconds(&self.worker.0) - worker_cpu,
                pg_cpu: cpu::postgres_cpu_seconds() - pg_cpu,
            })
        } else {
            None
        };
        Round {
            run: elapsed,
            worker_cpu,
            pg_cpu,
            rollback,
        }
    }
}

/// `psql \copy` of the file into a fresh identical table: its time and
/// PostgreSQL's CPU.
fn baseline(csv: &Path) -> (Duration, f64) {
    let db = TestDb::empty();
    db.connect().batch_execute(TABLE).unwrap();
    let pg_cpu = cpu::postgres_cpu_seconds();
    let started = Instant::now();
    copy_into(&db, csv);
    (started.elapsed(), cpu::postgres_cpu_seconds() - pg_cpu)
}

/// `psql \copy` of `csv` into `db`'s table.
fn copy_into(db: &TestDb, csv: &Path) {
    let status = Command::new("psql")
        .args([
            "-q",
            "-d",
            &db.url,
            "-c",
            &format!(
                "\\copy contacts ({}) FROM '{}' WITH (FORMAT csv, HEADER)",
                COLUMNS.join(", "),
                csv.display()
            ),
        ])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Writes PostgreSQL's dirty pages out now, so that the next measurement
/// does not pay for the last one's (it needs a superuser, as the test
/// server's user is; without one the benchmark goes on as it is).
fn checkpoint() {
    let server = TestDb::empty();
    let _ = server.connect().batch_execute("CHECKPOINT");
}

struct Options {
    rows: usize,
    rounds: usize,
    rollback: bool,
    /// insert, update or upsert.
    operation: String,
    ordered: bool,
    compare: Option<PathBuf>,
}

fn options() -> Options {
    let mut options = Options {
        rows: 1_000_000,
        rounds: 3,
        rollback: false,
        operation: "insert".into(),
        ordered: false,
        compare: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => options.rounds = args.next().and_then(|n| n.parse().ok()).unwrap(),
            "--rollback" => options.rollback = true,
            "--ordered" => options.ordered = true,
            "--operation" => options.operation = args.next().unwrap(),
            "--compare" => options.compare = args.next().map(PathBuf::from),
            "--bench" => {}
            other => {
                if let Ok(rows) = other.parse() {
                    options.rows = rows;
                }
            }
        }
    }
    options
}

#[tokio::main]
async fn main() {
    let options = options();
    let rows = options.rows;
    let dir = tempfile::tempdir_in(std::env::current_dir().unwrap()).unwrap();
    assert!(
        ["insert", "update", "upsert"].contains(&options.operation.as_str()),
        "--operation is insert, update or upsert"
    );
    let original = dir.path().join("contacts.csv");
    let shape = Shape {
        ordered: options.ordered,
        changed: false,
    };
    generate(&original, rows, shape);
    // An update or upsert writes the same keys with other values.
    let csv = if options.operation == "insert" {
        original.clone()
    } else {
        let changed = dir.path().join("changed.csv");
        let shape = Shape {
            changed: true,
            ..shape
        };
        generate(&changed, rows, shape);
        changed
    };
    let size_mib = std::fs::metadata(&csv).unwrap().len() as f64 / 1_048_576.0;
    let load_before = load_average();

    let this: PathBuf = env!("CARGO_BIN_EXE_sluice").into();
    let mut deployments = vec![Deployment::start("this build".into(), &this, &csv).await];
    if let Some(other) = &options.compare {
        deployments.push(Deployment::start(other.display().to_string(), other, &csv).await);
    }

    let mut baselines = Vec::new();
    let mut rounds: Vec<Vec<Round>> = deployments.iter().map(|_| Vec::new()).collect();
    for round in 0..options.rounds {
        // Each round starts with another one (psql, then this build, then
        // the other), so what one leaves behind (dirty pages, a checkpoint
        // under way) does not always fall on the same one; and each starts
        // after a checkpoint.
        let turns = deployments.len() + 1;
        for turn in 0..turns {
            checkpoint();
            match (round + turn) % turns {
                0 => baselines.push(baseline(&csv)),
                d => rounds[d - 1].push(deployments[d - 1].round(rows, &options, &original).await),
            }
        }
    }

    let seconds: Vec<f64> = baselines.iter().map(|b| b.0.as_secs_f64()).collect();
    let (base_median, base_low, base_high) = spread(&seconds);
    let (base_cpu, _, _) = spread(&baselines.iter().map(|b| b.1).collect::<Vec<_>>());
    println!(
        "{rows} rows, {size_mib:.0} MiB, {}, key {}, {} rounds; load average before {load_before}, after {}",
        options.operation,
        if options.ordered { "in order" } else { "in random order" },
        options.rounds,
        load_average()
    );
    println!();
    println!("| what | median | range | ratio | note |");
    println!("| --- | ---: | ---: | ---: | --- |");
    println!(
        "| `psql \\copy` into an empty table (baseline) | {base_median:.2} s | {base_low:.2}–{base_high:.2} s | 1.00 | PostgreSQL CPU {base_cpu:.2} s |"
    );
    for (deployment, measured) in deployments.iter().zip(&rounds) {
        let runs: Vec<f64> = measured.iter().map(|r| r.run.as_secs_f64()).collect();
        let (median, low, high) = spread(&runs);
        let (worker_cpu, _, _) = spread(&measured.iter().map(|r| r.worker_cpu).collect::<Vec<_>>());
        let (pg_cpu, _, _) = spread(&measured.iter().map(|r| r.pg_cpu).collect::<Vec<_>>());
        println!(
            "| upload, {} | {:.2} s | | | streamed and encrypted |",
            deployment.name,
            deployment.upload_time.as_secs_f64()
        );
        println!(
            "| run (request → finished), {} | {median:.2} s | {low:.2}–{high:.2} s | **{:.2}×** ({:.2}–{:.2}×) | CPU: worker {worker_cpu:.2} s, PostgreSQL {pg_cpu:.2} s; worker peak RSS {:.0} MiB |",
            deployment.name,
            median / base_median,
            low / base_median,
            high / base_median,
            common::peak_rss_mib(&deployment.worker.0),
        );
        if options.rollback {
            let undone: Vec<&Undo> = measured
                .iter()
                .filter_map(|r| r.rollback.as_ref())
                .collect();
            let undo: Vec<f64> = undone.iter().map(|u| u.time.as_secs_f64()).collect();
            let (median_undo, low_undo, high_undo) = spread(&undo);
            let (worker_cpu, _, _) =
                spread(&undone.iter().map(|u| u.worker_cpu).collect::<Vec<_>>());
            let (pg_cpu, _, _) = spread(&undone.iter().map(|u| u.pg_cpu).collect::<Vec<_>>());
            println!(
                "| rollback of that run, {} | {median_undo:.2} s | {low_undo:.2}–{high_undo:.2} s | {:.2}× | {:.2}× the run; CPU: worker {worker_cpu:.2} s, PostgreSQL {pg_cpu:.2} s |",
                deployment.name,
                median_undo / base_median,
                median_undo / median,
            );
        }
    }
}
