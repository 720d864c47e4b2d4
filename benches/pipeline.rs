//! Event-log and pipeline throughput, against the local PostgreSQL and RabbitMQ.
//!
//! `cargo bench --bench pipeline` prints a Markdown table (see README,
//! "Performance"). Each figure runs on a fresh database and broker namespace:
//!
//! * appends, one event per transaction, one writer (the floor);
//! * appends through the group-commit appender, 64 concurrent writers;
//! * appends in batches of 100 events per transaction;
//! * one no-op command at a time, end to end (the latency on an idle system);
//! * no-op commands end to end: `POST /v1/ops/probes` over HTTP with 64
//!   concurrent clients → event log → relay → RabbitMQ → worker → event log,
//!   until every probe is recorded as completed; each client sends its next
//!   command as soon as the last is answered (`e2e`), or 3,200 commands a
//!   second are sent across the 64 clients on a schedule (`paced`).
#![expect(clippy::unwrap_used, reason = "a benchmark stops on any failure")]

use diesel::prelude::*;
use sluice_events::{append, append_batch};
use sluice_testkit::{probe_request, spawn_app, TestDb};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn row(what: &str, count: usize, elapsed: Duration, extra: &str) {
    let rate = count as f64 / elapsed.as_secs_f64();
    println!(
        "| {what} | {count} | {:.2} s | {rate:.0}/s | {extra} |",
        elapsed.as_secs_f64()
    );
}

fn single_transactions(n: usize) {
    let db = TestDb::new();
    let mut conn = db.connect();
    let started = Instant::now();
    for _ in 0..n {
        append(&mut conn, &probe_request()).unwrap();
    }
    row(
        "append, 1 event per transaction, 1 writer",
        n,
        started.elapsed(),
        "",
    );
}

fn batched(n: usize, per_tx: usize) {
    let db = TestDb::new();
    let mut conn = db.connect();
    let started = Instant::now();
    for _ in 0..n / per_tx {
        let requests: Vec<_> = (0..per_tx).map(|_| probe_request()).collect();
        append_batch(&mut conn, &requests).unwrap();
    }
    row(
        &format!("append, {per_tx} events per transaction"),
        n,
        started.elapsed(),
        "",
    );
}

async fn group_commit(n: usize, writers: usize) {
    let n = n / writers * writers;
    let db = TestDb::new();
    let pool = sluice_schema::pool(&db.url, 4).unwrap();
    let metrics = sluice_events::EventMetrics::default();
    let appender = sluice_events::Appender::start(pool, metrics.clone(), Default::default());
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let appender = appender.clone();
            tokio::spawn(async move {
                for _ in 0..n / writers {
                    appender.append(probe_request()).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    let per_tx = metrics.events_appended.get() as f64 / metrics.append_batches.get() as f64;
    row(
        &format!("append via group commit, {writers} concurrent writers"),
        n,
        elapsed,
        &format!("{per_tx:.1} events per transaction"),
    );
}

/// `n` commands from `clients` HTTP clients, each sending its next as soon
/// as the last is answered or, with `rate`, at its turn in a schedule of
/// `rate` commands a second across all clients (sent late if the client is
/// behind, never skipped): the latency at a given load rather than at the
/// most the clients can send.
async fn end_to_end(n: usize, clients: usize, rate: Option<f64>) {
    let n = n / clients * clients;
    let app = Arc::new(spawn_app().await);
    // Warm up: connections, topology, consumers.
    let warm = app
        .ops(reqwest::Method::POST, "/v1/ops/probes")
        .send()
        .await
        .unwrap();
    assert_eq!(warm.status(), 202);
    wait_completed(&app, 1, Duration::from_millis(1)).await;

    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let app = app.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(n / clients);
                for i in 0..n / clients {
                    if let Some(rate) = rate {
                        let turn = (i * clients + client) as f64 / rate;
                        tokio::time::sleep_until((started + Duration::from_secs_f64(turn)).into())
                            .await;
                    }
                    let t = Instant::now();
                    let res = app
                        .ops(reqwest::Method::POST, "/v1/ops/probes")
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), 202);
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut http = Vec::new();
    for t in tasks {
        http.extend(t.await.unwrap());
    }
    let accepted = started.elapsed();
    wait_completed(&app, n as i64 + 1, Duration::from_millis(10)).await;
    let elapsed = started.elapsed();

    let mut conn = app.conn();
    let mut pipeline: Vec<f64> = sluice_schema::schema::probes::table
        .select((
            sluice_schema::schema::probes::requested_at,
            sluice_schema::schema::probes::completed_at,
        ))
        .load::<(
            chrono::DateTime<chrono::Utc>,
            Option<chrono::DateTime<chrono::Utc>>,
        )>(&mut conn)
        .unwrap()
        .into_iter()
        .filter_map(|(r, c)| c.map(|c| (c - r).num_microseconds().unwrap_or(0) as f64 / 1000.0))
        .collect();
    pipeline.sort_by(f64::total_cmp);
    http.sort();
    let pct = |v: &[f64], p: f64| v[((v.len() - 1) as f64 * p) as usize];
    let http_ms: Vec<f64> = http.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    let what = match rate {
        Some(rate) => {
            format!("no-op command end to end, {clients} HTTP clients, {rate:.0} a second offered")
        }
        None => format!("no-op command end to end, {clients} HTTP clients"),
    };
    row(
        &what,
        n,
        elapsed,
        &format!(
            "accepted in {:.2} s; HTTP p50 {:.1} ms, p99 {:.1} ms; command→worker→log p50 {:.1} ms, p99 {:.1} ms",
            accepted.as_secs_f64(),
            pct(&http_ms, 0.5),
            pct(&http_ms, 0.99),
            pct(&pipeline, 0.5),
            pct(&pipeline, 0.99),
        ),
    );
}

/// One command at a time: the latency a user sees on an idle system.
async fn unloaded_latency(n: usize) {
    let app = spawn_app().await;
    let started = Instant::now();
    let mut round_trips = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let res = app
            .ops(reqwest::Method::POST, "/v1/ops/probes")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        wait_completed(&app, i as i64 + 1, Duration::from_millis(1)).await;
        round_trips.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let elapsed = started.elapsed();
    round_trips.sort_by(f64::total_cmp);
    let pct = |p: f64| round_trips[((round_trips.len() - 1) as f64 * p) as usize];
    row(
        "no-op command end to end, one at a time",
        n,
        elapsed,
        &format!(
            "POST → completion seen in the database: p50 {:.1} ms, p99 {:.1} ms",
            pct(0.5),
            pct(0.99)
        ),
    );
}

/// Waits until `n` probes are completed, counting them every `every` (a
/// count reads the whole table: while thousands are in flight, counting
/// every millisecond would take a core from what is measured).
async fn wait_completed(app: &sluice_testkit::TestApp, n: i64, every: Duration) {
    let mut conn = app.conn();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let done: i64 = sluice_schema::schema::probes::table
            .filter(sluice_schema::schema::probes::status.eq("completed"))
            .count()
            .get_result(&mut conn)
            .unwrap();
        if done >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {done} of {n} probes completed"
        );
        tokio::time::sleep(every).await;
    }
}

fn main() {
    // `cargo bench --bench pipeline -- e2e` runs only the measurements whose
    // key is named (single, batched, group, latency, e2e, paced); no name
    // runs them all.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |key: &str| only.is_empty() || only.iter().any(|o| o == key);
    let scale: usize = std::env::var("SLUICE_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("| measurement | count | time | rate | notes |");
    println!("| --- | ---: | ---: | ---: | --- |");
    if run("single") {
        single_transactions(2_000 * scale);
    }
    if run("batched") {
        batched(50_000 * scale, 100);
    }
    if run("group") {
        rt.block_on(group_commit(50_000 * scale, 64));
    }
    if run("latency") {
        rt.block_on(unloaded_latency(500));
    }
    if run("e2e") {
        rt.block_on(end_to_end(20_000 * scale, 64, None));
    }
    if run("paced") {
        rt.block_on(end_to_end(20_000 * scale, 64, Some(3_200.0)));
    }
}
