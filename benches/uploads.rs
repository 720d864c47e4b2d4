//! A large upload through the real server: `cargo bench --bench uploads`.
//!
//! Starts the release `sluice api` as its own process (so its memory is its
//! own), signs up, and streams a generated CSV of 1 GiB to `POST
//! /v1/uploads` without a declared length. Reports the throughput and the
//! server's peak resident memory (VmHWM) before and after, against a
//! baseline: the same bytes written by this process to a plain file in the
//! same directory, with fsync (what the disk can take, without HTTP or
//! encryption). The CSV is generated in this process's memory before either
//! is timed. `-- <MiB>` changes the size.
#![expect(clippy::unwrap_used, reason = "a benchmark stops on any failure")]

mod common;

use futures_util::stream;
use serde_json::Value;
use sluice_testkit::{TestBroker, TestDb};
use std::io::Write;
use std::time::{Duration, Instant};

const CHUNK: usize = 1024 * 1024;

/// Chunk `i` of the generated CSV (the header first).
fn chunk(i: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(CHUNK + 128);
    if i == 0 {
        out.extend_from_slice(b"Email,First Name,Last Name,Amount\n");
    }
    let mut n = i * 20_000;
    while out.len() < CHUNK {
        n += 1;
        let _ = writeln!(
            out,
            "person{n}@example.com,Person,Number {n},{}.{:02}",
            n % 9973,
            n % 100
        );
    }
    out.truncate(CHUNK);
    out
}

#[tokio::main]
async fn main() {
    let mib: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1024);
    let db = TestDb::new();
    let broker = TestBroker::new();
    let dir = tempfile::tempdir_in(std::env::current_dir().unwrap()).unwrap();
    let port = common::free_port();
    let server = common::sluice(
        "api",
        &[
            ("SLUICE_DATABASE_URL", db.url.clone()),
            ("SLUICE_AMQP_URL", broker.url.clone()),
            ("SLUICE_AMQP_NAMESPACE", broker.topology.namespace.clone()),
            ("SLUICE_BIND", format!("127.0.0.1:{port}")),
            (
                "SLUICE_KEYRING",
                dir.path().join("keyring.json").display().to_string(),
            ),
            (
                "SLUICE_STORAGE",
                dir.path().join("storage").display().to_string(),
            ),
            ("SLUICE_UPLOAD_MAX_BYTES", (4u64 << 30).to_string()),
            ("SLUICE_LOG", "warn".into()),
        ],
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let token = common::account(&client, &base).await;
    let idle = common::peak_rss_mib(&server.0);

    let data: Vec<Vec<u8>> = (0..mib).map(chunk).collect();

    // Baseline: the same bytes to a plain file, fsynced.
    let plain = dir.path().join("baseline.csv");
    let started = Instant::now();
    {
        let mut file = std::fs::File::create(&plain).unwrap();
        for part in &data {
            file.write_all(part).unwrap();
        }
        file.sync_all().unwrap();
    }
    let baseline = started.elapsed();
    std::fs::remove_file(&plain).unwrap();

    let body =
        reqwest::Body::wrap_stream(stream::iter(data.into_iter().map(Ok::<_, std::io::Error>)));
    let started = Instant::now();
    let res = client
        .post(format!("{base}/v1/uploads?filename=big.csv"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let status = res.status();
    let created: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["size_bytes"], (mib * CHUNK) as u64);
    let peak = common::peak_rss_mib(&server.0);

    let rate = |d: Duration| mib as f64 / d.as_secs_f64();
    println!("| what | size | time | throughput | server peak RSS |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    println!(
        "| plain write + fsync (baseline, this process) | {mib} MiB | {:.2} s | {:.0} MiB/s | |",
        baseline.as_secs_f64(),
        rate(baseline)
    );
    println!(
        "| `POST /v1/uploads`, streamed, encrypted to disk | {mib} MiB | {:.2} s | {:.0} MiB/s | {:.0} MiB (idle: {:.0} MiB) |",
        elapsed.as_secs_f64(),
        rate(elapsed),
        peak,
        idle
    );
}
