//! A throwaway PostgreSQL server of the test's own that speaks TLS with a
//! certificate from a test CA, on 127.0.0.1 and a free port, stopped (and
//! its files removed) on drop. The shared server cannot be reconfigured, so
//! tests of certificate checking start one of these.
//!
//! As root (CI), the server runs as the `postgres` user through `runuser`,
//! its files given to that user.

use crate::TestCa;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server's superuser and its password (connections over TCP must
/// give it: scram-sha-256).
pub const TLS_PG_USER: &str = "sluice";
pub const TLS_PG_PASSWORD: &str = "tls-test-password";

pub struct TlsPostgres {
    pub port: u16,
    /// The CA that signed the server's certificate (PEM).
    pub ca_pem: String,
    /// Another CA, which signed nothing of this server's (PEM).
    pub other_ca_pem: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
    as_postgres: bool,
}

fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| {
            dirs.filter_map(Result::ok)
                .map(|d| d.path().join("bin"))
                .filter(|p| p.join("postgres").exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
        .pop()
        .expect("PostgreSQL binaries under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl TlsPostgres {
    /// Starts a server whose certificate names `names` (host names or IP
    /// addresses, such as `localhost`), signed by a fresh test CA.
    pub fn start(names: &[&str]) -> Self {
        let ca = TestCa::new("Sluice test CA");
        let other = TestCa::new("Sluice unrelated test CA");
        let cert = ca.server_cert(names);

        let dir = tempfile::Builder::new()
            .prefix("sluice-tls-pg-")
            .tempdir()
            .expect("temporary directory");
        let path = dir.path();
        let write = |name: &str, text: &str| {
            let file = path.join(name);
            std::fs::write(&file, text).expect("write a server file");
            set_mode(&file, 0o600);
        };
        write("server.crt", &cert.cert_pem);
        write("server.key", &cert.key_pem);
        write("password", TLS_PG_PASSWORD);
        set_mode(path, 0o700);
        let as_postgres = is_root();
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(path)
                .status()
                .expect("chown");
            assert!(status.success(), "chown the server's files to postgres");
        }
        let bin = bin_dir();
        let data = path.join("data");
        let status = command(as_postgres, &bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                TLS_PG_USER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", path.join("password").display()))
            .stdout(Stdio::null())
            .status()
            .expect("run initdb");
        assert!(status.success(), "initdb failed");

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = command(as_postgres, &bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string()])
            .args(["-c", "ssl=on", "-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=off", "-c", "max_connections=20"])
            .arg("-c")
            .arg(format!(
                "ssl_cert_file={}",
                path.join("server.crt").display()
            ))
            .arg("-c")
            .arg(format!(
                "ssl_key_file={}",
                path.join("server.key").display()
            ))
            .arg("-k")
            .arg(path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres");
        let server = Self {
            port,
            ca_pem: ca.pem(),
            other_ca_pem: other.pem(),
            dir,
            child: Some(child),
            as_postgres,
        };
        // The port opens before the server takes connections (until then
        // it answers 57P03, "the database system is starting up"): wait
        // until pg_isready says it accepts them.
        let deadline = Instant::now() + Duration::from_secs(30);
        let accepting = || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
                && Command::new(bin.join("pg_isready"))
                    .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", "1"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
        };
        while !accepting() {
            assert!(
                Instant::now() < deadline,
                "the TLS PostgreSQL did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// Connection parameters for the API (`sslmode` left to the caller).
    pub fn params(&self, host: &str) -> serde_json::Value {
        serde_json::json!({
            "host": host,
            "port": self.port,
            "dbname": "postgres",
            "user": TLS_PG_USER,
            "password": TLS_PG_PASSWORD,
        })
    }
}

fn command(as_postgres: bool, program: &Path) -> Command {
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        let pg_ctl = bin_dir().join("pg_ctl");
        let _ = command(self.as_postgres, &pg_ctl)
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["stop", "-m", "immediate", "-w"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(mut child) = self.child.take() {
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}
