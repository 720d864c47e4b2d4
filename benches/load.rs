//! Read latency while logins are flooded: `cargo bench --bench load`.
//!
//! Starts the API, relay and worker in this process (as `benches/pipeline.rs`
//! does) on a fresh database and broker namespace, signs up, adds four
//! members, and imports a small CSV into a PostgreSQL table so that there is
//! a real run. Then `readers` clients each read `GET /v1/runs/{id}` in a loop
//! (one request at a time, with the owner's session) for `seconds`, in four
//! phases:
//!
//! * baseline: the readers alone;
//! * argon2 flood: `flooders` more clients post `POST /v1/login` in a loop.
//!   One attempt in eight is a member's right password (200, a session is
//!   issued); the others are wrong passwords for emails that have no
//!   account (401, after a dummy hash is verified, as for a wrong password).
//!   Each flooder sends from a loopback address of its own (127.1.x.y) and
//!   takes a new one every 40 attempts, so neither the per-account (5) nor
//!   the per-address (50) failure limit is reached: every attempt verifies
//!   one argon2id hash;
//! * the same argon2 flood with as many flooders as the machine has cores:
//!   close to what the readers would see if Sluice let only that many hashes
//!   run at once (it does not bound them: actix's blocking pool runs up to
//!   256 tasks per HTTP worker);
//! * flood from one address: `flooders` clients, all from 127.0.0.1 (the
//!   readers' address too, which reads do not count against). After 50
//!   failures the address is blocked and the rest are answered 429 without
//!   hashing, members' right passwords included.
//!
//! Each flood starts two seconds before the readers' window and stops after
//! it. Every request goes to 127.0.0.1. The figures: the readers' latency
//! (p50, p99, max, as the client measures it, and the server's own mean from
//! `/metrics`), the log-ins answered by status, argon2 verifications per
//! second (the log-ins answered 200 or 401: each verified one hash) and this
//! process's CPU time (Sluice and the load generator) against the machine's
//! cores.
//!
//! `cargo bench --bench load -- readers=8 flooders=32 seconds=15` (the
//! defaults) prints a Markdown table.
#![expect(clippy::unwrap_used, reason = "a benchmark stops on any failure")]

#[expect(
    dead_code,
    reason = "shared with the benchmarks that run `sluice` as processes; this one uses `account`"
)]
mod common;

use diesel::connection::SimpleConnection;
use serde_json::{json, Value};
use sluice_testkit::{spawn_app, TestApp, TestDb};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Attempts from one address before a flooder takes another (the
/// per-address limit is 50 failures in 15 minutes).
const PER_ADDRESS: usize = 40;
/// One attempt in this many is a member's right password.
const RIGHT_EVERY: usize = 8;
const MEMBERS: usize = 4;
const ROUTE: &str = "/v1/runs/{id}";

struct Params {
    readers: usize,
    flooders: usize,
    window: Duration,
}

impl Params {
    fn from_args() -> Self {
        let mut params = Self {
            readers: 8,
            flooders: 32,
            window: Duration::from_secs(15),
        };
        for arg in std::env::args().skip(1).filter(|a| !a.starts_with('-')) {
            let (key, value) = arg.split_once('=').unwrap();
            let value: u64 = value.parse().unwrap();
            match key {
                "readers" => params.readers = usize::try_from(value.clamp(1, 64)).unwrap(),
                "flooders" => params.flooders = usize::try_from(value.clamp(1, 256)).unwrap(),
                "seconds" => params.window = Duration::from_secs(value.clamp(1, 30)),
                other => panic!("unknown parameter {other}; use readers=, flooders=, seconds="),
            }
        }
        params
    }
}

fn client(local: Option<Ipv4Addr>) -> reqwest::Client {
    let builder = reqwest::Client::builder().timeout(Duration::from_secs(60));
    match local {
        Some(ip) => builder.local_address(IpAddr::V4(ip)),
        None => builder,
    }
    .build()
    .unwrap()
}

/// A database to import into, a connection to it, an upload and a job: the
/// id of a finished run.
async fn a_run(app: &TestApp, token: &str, target: &TestDb) -> String {
    target
        .connect()
        .batch_execute("CREATE TABLE contacts (id SERIAL PRIMARY KEY, email TEXT NOT NULL, n INT)")
        .unwrap();
    let post = |path: &str, body: Value| {
        app.client
            .post(app.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let server = sluice_testkit::database_server_url();
    let (host, port, user) = match server.split_once("host=") {
        Some((_, socket)) => (
            socket.split('&').next().unwrap().to_owned(),
            5432,
            std::env::var("USER").unwrap_or_else(|_| "root".into()),
        ),
        None => {
            let rest = server.split_once("://").unwrap().1;
            let authority = rest.split('/').next().unwrap();
            let (auth, hostport) = authority.rsplit_once('@').unwrap_or(("", authority));
            let user = auth.split(':').next().filter(|u| !u.is_empty());
            let (host, port) = hostport
                .split_once(':')
                .map_or((hostport, 5432), |(h, p)| (h, p.parse().unwrap()));
            (host.to_owned(), port, user.unwrap_or("postgres").to_owned())
        }
    };
    let res = post(
        "/v1/connections",
        json!({"name": "target", "kind": "postgres", "params": {
            "host": host, "port": port, "dbname": target.name, "user": user,
            "password": "unused-password", "sslmode": "disable"}}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let connection: Value = res.json().await.unwrap();
    let mut csv = String::from("email,n\n");
    for i in 0..100 {
        csv.push_str(&format!("person{i}@example.com,{i}\n"));
    }
    let res = app
        .client
        .post(app.url("/v1/uploads?filename=contacts.csv"))
        .bearer_auth(token)
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let upload: Value = res.json().await.unwrap();
    let res = post(
        "/v1/jobs",
        json!({"name": "load", "source": {"upload_id": upload["id"]},
               "target": {"connection_id": connection["id"], "object": "contacts"},
               "operation": "insert",
               "mapping": [{"source": "email", "target": "email"}, {"source": "n", "target": "n"}]}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let job: Value = res.json().await.unwrap();
    let queued: Value = post(
        &format!("/v1/jobs/{}/runs", job["id"].as_str().unwrap()),
        json!({}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let run = queued["run_id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    loop {
        let shown: Value = app
            .client
            .get(app.url(&format!("/v1/runs/{run}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if shown["finished_at"].is_string() {
            assert_eq!(shown["status"], "succeeded", "{shown}");
            return run;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run did not end"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Members of the account: their emails and passwords.
async fn members(app: &TestApp, token: &str) -> Vec<(String, String)> {
    let mut members = Vec::new();
    for i in 0..MEMBERS {
        let email = format!("member{i}@example.com");
        let password = format!("violet kettle marching softly {i}");
        let res = app
            .client
            .post(app.url("/v1/users"))
            .bearer_auth(token)
            .json(
                &json!({"first_name": "Member", "last_name": format!("No. {i}"),
                          "email": email, "role": "member", "password": password}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        members.push((email, password));
    }
    members
}

/// `readers` clients reading the run until `window` has passed: every
/// latency, and the time from the start to the last answer.
async fn read(base: &str, run: &str, token: &str, readers: usize, window: Duration) -> Reads {
    let url = format!("{base}/v1/runs/{run}");
    let started = Instant::now();
    let until = started + window;
    let tasks: Vec<_> = (0..readers)
        .map(|_| {
            let (url, token) = (url.clone(), token.to_owned());
            tokio::spawn(async move {
                let client = client(None);
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    let res = client.get(&url).bearer_auth(&token).send().await.unwrap();
                    assert_eq!(res.status(), 200);
                    res.bytes().await.unwrap();
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    latencies.sort();
    Reads {
        latencies,
        elapsed: started.elapsed(),
    }
}

struct Reads {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

/// Log-in attempts in flight until stopped.
struct Flood {
    stop: Arc<AtomicBool>,
    started: Instant,
    tasks: Vec<tokio::task::JoinHandle<Vec<(u16, Duration)>>>,
}

/// The next flooder address: 127.1.x.y, never 127.0.0.1.
fn next_address(counter: &AtomicU32) -> Ipv4Addr {
    let n = counter.fetch_add(1, Ordering::Relaxed);
    assert!(n < 254 * 256, "out of loopback addresses");
    Ipv4Addr::new(
        127,
        1,
        u8::try_from(n / 254).unwrap(),
        u8::try_from(n % 254 + 1).unwrap(),
    )
}

fn flood(
    base: &str,
    flooders: usize,
    rotate: bool,
    members: &Arc<Vec<(String, String)>>,
    addresses: &Arc<AtomicU32>,
) -> Flood {
    let stop = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicUsize::new(0));
    let url = format!("{base}/v1/login");
    let tasks = (0..flooders)
        .map(|_| {
            let (url, stop, attempts) = (url.clone(), stop.clone(), attempts.clone());
            let (members, addresses) = (members.clone(), addresses.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                let mut client = client(rotate.then(|| next_address(&addresses)));
                let mut sent = 0;
                while !stop.load(Ordering::Relaxed) {
                    if rotate && sent == PER_ADDRESS {
                        client = self::client(Some(next_address(&addresses)));
                        sent = 0;
                    }
                    sent += 1;
                    let k = attempts.fetch_add(1, Ordering::Relaxed);
                    let body = if k % RIGHT_EVERY == 0 {
                        let (email, password) = &members[k / RIGHT_EVERY % members.len()];
                        json!({"email": email, "password": password})
                    } else {
                        json!({"email": format!("nobody{k}@example.com"),
                               "password": format!("not the password {k}")})
                    };
                    let t = Instant::now();
                    let res = client.post(&url).json(&body).send().await.unwrap();
                    let status = res.status().as_u16();
                    res.bytes().await.unwrap();
                    answers.push((status, t.elapsed()));
                }
                answers
            })
        })
        .collect();
    Flood {
        stop,
        started: Instant::now(),
        tasks,
    }
}

/// What a flood did.
struct Logins {
    ok: usize,
    refused: usize,
    throttled: usize,
    other: usize,
    elapsed: Duration,
    /// Latencies of the attempts that verified a hash (200 and 401).
    hashed: Vec<Duration>,
}

impl Flood {
    async fn stop(self) -> Logins {
        self.stop.store(true, Ordering::Relaxed);
        let mut logins = Logins {
            ok: 0,
            refused: 0,
            throttled: 0,
            other: 0,
            elapsed: Duration::ZERO,
            hashed: Vec::new(),
        };
        for t in self.tasks {
            for (status, latency) in t.await.unwrap() {
                match status {
                    200 => logins.ok += 1,
                    401 => logins.refused += 1,
                    429 => logins.throttled += 1,
                    _ => logins.other += 1,
                }
                if status == 200 || status == 401 {
                    logins.hashed.push(latency);
                }
            }
        }
        logins.elapsed = self.started.elapsed();
        logins.hashed.sort();
        logins
    }
}

/// The server's count and sum of seconds for `GET /v1/runs/{id}`, from `/metrics`.
async fn server_reads(base: &str) -> (f64, f64) {
    let text = client(None)
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let label = format!("route=\"{ROUTE}\"");
    let value = |suffix: &str| {
        text.lines()
            .find(|l| {
                l.starts_with(&format!("sluice_http_request_duration_seconds_{suffix}{{"))
                    && l.contains(&label)
            })
            .and_then(|l| l.rsplit(' ').next())
            .map_or(0.0, |v| v.parse().unwrap())
    };
    (value("count"), value("sum"))
}

/// This process's CPU time so far (user and system), in seconds.
fn own_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let (_, rest) = stat.rsplit_once(')').unwrap();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    let ticks: f64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse::<f64>().unwrap())
        .sum();
    ticks / 100.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

/// What every phase reads and floods.
struct Bench {
    app: TestApp,
    run: String,
    token: String,
    params: Params,
    members: Arc<Vec<(String, String)>>,
    addresses: Arc<AtomicU32>,
    cores: f64,
}

/// How a phase floods log-ins.
#[derive(Clone, Copy, PartialEq)]
enum Flooding {
    None,
    /// This many flooders, from addresses of their own, changed every
    /// `PER_ADDRESS` attempts.
    Spread(usize),
    /// All from 127.0.0.1.
    OneAddress,
}

impl Bench {
    async fn read(&self, window: Duration) -> Reads {
        read(
            &self.app.address,
            &self.run,
            &self.token,
            self.params.readers,
            window,
        )
        .await
    }

    /// One phase: the readers for the window, with the flood running around
    /// them; prints the table's row.
    async fn phase(&self, what: &str, flooding: Flooding) {
        let flood = match flooding {
            Flooding::None => None,
            Flooding::Spread(n) => Some((n, true)),
            Flooding::OneAddress => Some((self.params.flooders, false)),
        }
        .map(|(flooders, rotate)| {
            flood(
                &self.app.address,
                flooders,
                rotate,
                &self.members,
                &self.addresses,
            )
        });
        if flood.is_some() {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let (count, sum) = server_reads(&self.app.address).await;
        let cpu = own_cpu_seconds();
        let reads = self.read(self.params.window).await;
        let cpu = own_cpu_seconds() - cpu;
        let (count2, sum2) = server_reads(&self.app.address).await;
        let logins = match flood {
            Some(f) => Some(f.stop().await),
            None => None,
        };
        let l = &reads.latencies;
        let server_mean = (sum2 - sum) / (count2 - count).max(1.0) * 1000.0;
        let flood_cells = logins.map_or_else(
            || "— | — | — | —".to_owned(),
            |g| {
                let hashes = g.ok + g.refused;
                let login_ms = if g.hashed.is_empty() {
                    "—".to_owned()
                } else {
                    format!(
                        "{:.0} / {:.0} ms",
                        ms(pct(&g.hashed, 0.5)),
                        ms(pct(&g.hashed, 0.99))
                    )
                };
                let other = if g.other > 0 {
                    format!(" (+{} other)", g.other)
                } else {
                    String::new()
                };
                format!(
                    "{} / {} / {}{other} in {:.1} s | {hashes} | {:.1}/s | {login_ms}",
                    g.ok,
                    g.refused,
                    g.throttled,
                    g.elapsed.as_secs_f64(),
                    hashes as f64 / g.elapsed.as_secs_f64(),
                )
            },
        );
        println!(
            "| {what} | {} | {:.0}/s | {:.1} ms | {:.1} ms | {:.1} ms | {server_mean:.1} ms | {:.0} % | {flood_cells} |",
            l.len(),
            l.len() as f64 / reads.elapsed.as_secs_f64(),
            ms(pct(l, 0.5)),
            ms(pct(l, 0.99)),
            ms(l[l.len() - 1]),
            cpu / reads.elapsed.as_secs_f64() / self.cores * 100.0,
        );
    }
}

fn main() {
    let params = Params::from_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let app = spawn_app().await;
        let token = common::account(&app.client, &app.address).await;
        let target = TestDb::empty();
        let run = a_run(&app, &token, &target).await;
        let members = Arc::new(members(&app, &token).await);
        let bench = Bench {
            app,
            run,
            token,
            params,
            members,
            addresses: Arc::new(AtomicU32::new(0)),
            cores: std::thread::available_parallelism().unwrap().get() as f64,
        };
        // Warm up: connections, the pool, the caches.
        bench.read(Duration::from_secs(2)).await;

        println!(
            "{} readers of `GET /v1/runs/{{id}}`, {} flooders of `POST /v1/login`, {} s per phase, {} cores\n",
            bench.params.readers,
            bench.params.flooders,
            bench.params.window.as_secs(),
            bench.cores,
        );
        println!("| phase | reads | reads/s | p50 | p99 | max | server mean | CPU (this process) | log-ins 200 / 401 / 429 | argon2 verifications | verifications/s | log-in p50 / p99 |");
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        bench.phase("baseline", Flooding::None).await;
        let (flooders, cores) = (bench.params.flooders, bench.cores as usize);
        bench
            .phase(
                &format!("argon2 flood, {flooders} flooders"),
                Flooding::Spread(flooders),
            )
            .await;
        bench
            .phase(
                &format!("argon2 flood, {cores} flooders"),
                Flooding::Spread(cores),
            )
            .await;
        bench
            .phase(
                &format!("{flooders} flooders from one address (throttled)"),
                Flooding::OneAddress,
            )
            .await;
        drop(bench);
        drop(target);
    });
}
