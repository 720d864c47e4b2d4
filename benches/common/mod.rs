//! What the benchmarks that run the release `sluice` as processes share.

use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process, killed when dropped.
pub struct Process(pub Child);

impl Drop for Process {
    /// Asks the process to stop (SIGTERM), as an operator would, so that a
    /// profiler it runs under writes its output; kills it after 60 s.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `sluice <command>` with `env` added to its environment.
#[allow(dead_code, reason = "not every benchmark starts this build")]
pub fn sluice(command: &str, env: &[(&str, String)]) -> Process {
    sluice_binary(env!("CARGO_BIN_EXE_sluice").as_ref(), command, env)
}

/// Starts `binary <command>` (a build of Sluice) with `env` added to its
/// environment. `SLUICE_BENCH_WORKER_PREFIX` runs `sluice worker` under
/// another program, a profiler (e.g. `valgrind --tool=callgrind
/// --callgrind-out-file=worker.%p.out`): its words go before the binary's.
pub fn sluice_binary(binary: &std::path::Path, command: &str, env: &[(&str, String)]) -> Process {
    let prefix = std::env::var("SLUICE_BENCH_WORKER_PREFIX").unwrap_or_default();
    let mut words = prefix.split_whitespace().filter(|_| command == "worker");
    let mut sluice = match words.next() {
        Some(program) => {
            let mut wrapped = Command::new(program);
            wrapped.args(words).arg(binary);
            wrapped
        }
        None => Command::new(binary),
    };
    sluice.arg(command).stdout(Stdio::null());
    for (key, value) in env {
        sluice.env(key, value);
    }
    Process(sluice.spawn().unwrap())
}

/// A free local port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A process's peak resident memory (VmHWM), in MiB.
pub fn peak_rss_mib(child: &Child) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}

/// Waits for the API at `base` to answer, then signs up and logs in: the token.
pub async fn account(client: &reqwest::Client, base: &str) -> String {
    let started = Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the API did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let password = "correct horse battery staple 42";
    let person = json!({
        "first_name": "Ada", "last_name": "Lovelace", "email": "bench@example.com",
        "company": "Analytical Engines Ltd", "country": "gb", "password": password,
    });
    let res = client
        .post(format!("{base}/v1/signup"))
        .json(&person)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let login: Value = client
        .post(format!("{base}/v1/login"))
        .json(&json!({ "email": "bench@example.com", "password": password }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    login["token"].as_str().unwrap().to_owned()
}
