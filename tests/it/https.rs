//! HTTPS served by `sluice api` itself (SLUICE_TLS_CERT, SLUICE_TLS_KEY):
//! the real binary, with a certificate from a test CA, driven by a client
//! that trusts only that CA; the certificate replaced while it runs; and
//! the starts it refuses.

use crate::accounts::{person, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sluice_api::tls::{CertResolver, Reload, TlsFiles, RELOAD_CHECK_INTERVAL};
use sluice_testkit::{
    spawn_app, spawn_app_with, AppOptions, ServerCert, TestBroker, TestCa, TestDb,
};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const HSTS: &str = "max-age=31536000; includeSubDomains";

/// A certificate and key written where the API reads them.
struct CertFiles {
    dir: tempfile::TempDir,
}

impl CertFiles {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn files(&self) -> TlsFiles {
        TlsFiles {
            cert: self.dir.path().join("cert.pem"),
            key: self.dir.path().join("key.pem"),
        }
    }

    /// Puts `pair` in place, as an operator copying files over does.
    fn put(&self, pair: &ServerCert) {
        let files = self.files();
        std::fs::write(&files.key, &pair.key_pem).unwrap();
        std::fs::write(&files.cert, &pair.cert_pem).unwrap();
    }
}

/// A `sluice api` process, killed when dropped.
struct Api {
    child: Child,
    port: u16,
    /// What it logged (JSON lines).
    log: Arc<Mutex<String>>,
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sluice_api(env: &[(&str, &Path)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command
        .arg("api")
        .env("SLUICE_BIND", "127.0.0.1:0")
        .env("SLUICE_HTTP_WORKERS", "2")
        .env("SLUICE_LOG_FORMAT", "json")
        .env("SLUICE_LOG", "info")
        .env_remove("SLUICE_PUBLIC_URL")
        .env_remove("SLUICE_TLS_CERT")
        .env_remove("SLUICE_TLS_KEY")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Starts `sluice api` on the test's database and broker namespace with
/// the certificate in `certs`, and waits until it listens.
fn start_api(db: &TestDb, broker: &TestBroker, work: &Path, certs: &CertFiles) -> Api {
    let files = certs.files();
    let mut child = sluice_api(&[
        ("SLUICE_KEYRING", &work.join("keyring.json")),
        ("SLUICE_STORAGE", &work.join("storage")),
        ("SLUICE_TLS_CERT", &files.cert),
        ("SLUICE_TLS_KEY", &files.key),
    ])
    .env("SLUICE_DATABASE_URL", &db.url)
    .env("SLUICE_AMQP_URL", &broker.url)
    .env("SLUICE_AMQP_NAMESPACE", &broker.topology.namespace)
    .spawn()
    .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let parsed: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if parsed["fields"]["message"] == "API listening" {
                let _ = tx.send(parsed["fields"]["port"].as_u64());
            }
            kept.lock().unwrap().push_str(&line);
            kept.lock().unwrap().push('\n');
        }
    });
    let port = rx.recv_timeout(Duration::from_secs(60)).ok().flatten();
    let Some(port) = port else {
        let _ = child.kill();
        panic!("sluice api did not listen: {}", log.lock().unwrap());
    };
    Api {
        child,
        port: u16::try_from(port).unwrap(),
        log,
    }
}

/// A client that trusts only `ca`, opens a new connection for every
/// request, and shows the server's certificate.
fn client_trusting(ca: &TestCa) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .tls_info(true)
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The certificate the server presented for `res`.
fn peer_certificate(res: &reqwest::Response) -> Vec<u8> {
    res.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("the response came over TLS")
        .to_vec()
}

/// The value of the hidden input `name` in a page.
fn hidden_input(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("the input is on the page") + marker.len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end].to_owned()
}

/// The `name=value` part of the cookie `name` that `res` sets, checked to
/// be Secure and HttpOnly.
fn secure_cookie(res: &reqwest::Response, name: &str) -> String {
    let set = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} is set"));
    assert!(set.contains("; Secure"), "{set}");
    assert!(set.contains("; HttpOnly"), "{set}");
    set.split(';').next().unwrap().to_owned()
}

fn assert_hsts(res: &reqwest::Response) {
    assert_eq!(
        res.headers().get("strict-transport-security").unwrap(),
        HSTS,
        "{}",
        res.url()
    );
}

#[tokio::test]
async fn the_api_serves_pages_and_json_over_https_and_takes_up_a_new_certificate() {
    let db = TestDb::new();
    let broker = TestBroker::new();
    let work = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Sluice HTTPS test CA");
    let certs = CertFiles::new();
    let first = ca.server_cert(&["localhost", "127.0.0.1"]);
    certs.put(&first);
    let api = start_api(&db, &broker, work.path(), &certs);
    let base = format!("https://127.0.0.1:{}", api.port);
    let client = client_trusting(&ca);

    // The JSON API: sign up, log in, read with the token.
    let res = client
        .post(format!("{base}/v1/signup"))
        .json(&person("ada@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_hsts(&res);
    assert_eq!(peer_certificate(&res), first.der);
    let res = client
        .post(format!("{base}/v1/login"))
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = client
        .get(format!("{base}/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["user"]["email"],
        "ada@example.com"
    );

    // The pages: the log-in form, posted with its token, leads on to the
    // runs with a session cookie that only travels over HTTPS.
    let res = client.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_hsts(&res);
    let form_cookie = secure_cookie(&res, "sluice_form");
    let form_token = hidden_input(&res.text().await.unwrap(), "form_token");
    let res = client
        .post(format!("{base}/login"))
        .header("Cookie", &form_cookie)
        .form(&[
            ("email", "ada@example.com"),
            ("password", PASSWORD),
            ("form_token", &form_token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_hsts(&res);
    let next = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(next, "/app/runs");
    let session = secure_cookie(&res, "sluice_session");
    let read = |path: &str| {
        client
            .get(format!("{base}{path}"))
            .header("Cookie", &session)
            .send()
    };
    let res = read(&next).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_hsts(&res);
    let page = res.text().await.unwrap();
    assert!(page.contains("Log out"), "{page}");
    let csrf = hidden_input(&page, "csrf");
    let res = client
        .post(format!("{base}/logout"))
        .header("Cookie", &session)
        .form(&[("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login");
    let res = read("/v1/me").await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "logged out");

    // Plain HTTP to the same port gets no answer.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/healthz", api.port))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");

    // A new certificate put in place of the files is served to new
    // connections, without a restart. (A client that resumes an earlier
    // TLS session is not shown a certificate at all: each look is made
    // by a new client.)
    let second = ca.server_cert(&["localhost", "127.0.0.1"]);
    assert_ne!(second.der, first.der);
    certs.put(&second);
    let deadline = Instant::now() + RELOAD_CHECK_INTERVAL * 6;
    loop {
        let res = client_trusting(&ca)
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        if peer_certificate(&res) == second.der {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not taken up: {}",
            api.log.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let log = api.log.lock().unwrap().clone();
    assert!(log.contains("TLS certificate reloaded"), "{log}");
    assert!(!log.contains("PRIVATE KEY"), "{log}");
    assert!(!log.contains(PASSWORD), "{log}");
}

#[test]
fn a_replacement_that_does_not_load_leaves_the_certificate_in_use() {
    let ca = TestCa::new("Sluice reload test CA");
    let certs = CertFiles::new();
    let first = ca.server_cert(&["localhost"]);
    certs.put(&first);
    let resolver = CertResolver::load(certs.files()).unwrap();
    let served = |resolver: &CertResolver| resolver.current().end_entity_cert().unwrap().to_vec();
    assert_eq!(served(&resolver), first.der);
    assert!(matches!(resolver.reload_if_changed(), Reload::Unchanged));

    // A key that is not the certificate's: kept, with a reason naming the
    // files and not their contents.
    let other = ca.server_cert(&["localhost"]);
    std::fs::write(&certs.files().cert, &other.cert_pem).unwrap();
    let Reload::Kept(why) = resolver.reload_if_changed() else {
        panic!("a certificate with another's key was taken up");
    };
    let why = why.to_string();
    assert!(why.contains("key.pem") && why.contains("cert.pem"), "{why}");
    assert!(!why.contains("PRIVATE"), "{why}");
    assert_eq!(served(&resolver), first.der);
    // Not tried again until the files change again.
    assert!(matches!(resolver.reload_if_changed(), Reload::Unchanged));

    // Garbage in the key file: kept.
    std::fs::write(&certs.files().key, "not a key").unwrap();
    assert!(matches!(resolver.reload_if_changed(), Reload::Kept(_)));
    assert_eq!(served(&resolver), first.der);

    // The matching key arrives: taken up.
    std::fs::write(&certs.files().key, &other.key_pem).unwrap();
    assert!(matches!(resolver.reload_if_changed(), Reload::Reloaded));
    assert_eq!(served(&resolver), other.der);
}

#[tokio::test]
async fn hsts_is_sent_when_users_reach_sluice_over_https_only() {
    let plain = spawn_app().await;
    let res = plain.client.get(plain.url("/login")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("strict-transport-security").is_none());

    // Behind a TLS proxy: the public address is https.
    let proxied = spawn_app_with(AppOptions {
        public_url: Some("https://sluice.example.com".into()),
        worker: false,
        ..AppOptions::default()
    })
    .await;
    let res = proxied
        .client
        .get(proxied.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["strict-transport-security"], HSTS);
}

/// Runs `sluice api` with `env`, expecting it to refuse to start: what it
/// said.
fn refused_start(env: &[(&str, &Path)]) -> String {
    let out = sluice_api(env)
        // Nothing is reached: the refusal comes before any connection.
        .env("SLUICE_DATABASE_URL", "postgresql://127.0.0.1:1/unused")
        .env("SLUICE_AMQP_URL", "amqp://127.0.0.1:1/%2f")
        .env("SLUICE_LOG_FORMAT", "text")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_certificate_without_its_key_or_a_file_that_is_not_pem_stops_the_start() {
    let ca = TestCa::new("Sluice start-up test CA");
    let certs = CertFiles::new();
    certs.put(&ca.server_cert(&["localhost"]));
    let files = certs.files();
    let keyring: PathBuf = certs.dir.path().join("keyring.json");
    let base = [("SLUICE_KEYRING", keyring.as_path())];

    let said = refused_start(&[base[0], ("SLUICE_TLS_CERT", &files.cert)]);
    assert!(
        said.contains("set both SLUICE_TLS_CERT and SLUICE_TLS_KEY, or neither"),
        "{said}"
    );
    let said = refused_start(&[base[0], ("SLUICE_TLS_KEY", &files.key)]);
    assert!(said.contains("SLUICE_TLS_CERT"), "{said}");

    let garbage = certs.dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not a certificate\n").unwrap();
    let said = refused_start(&[
        base[0],
        ("SLUICE_TLS_CERT", &garbage),
        ("SLUICE_TLS_KEY", &files.key),
    ]);
    assert!(
        said.contains("garbage.pem holds no PEM certificate"),
        "{said}"
    );

    let said = refused_start(&[
        base[0],
        ("SLUICE_TLS_CERT", &files.cert),
        ("SLUICE_TLS_KEY", &garbage),
    ]);
    assert!(
        said.contains("garbage.pem holds no PEM private key"),
        "{said}"
    );
    assert!(!said.contains("panicked"), "{said}");

    let missing = certs.dir.path().join("missing.pem");
    let said = refused_start(&[
        base[0],
        ("SLUICE_TLS_CERT", &missing),
        ("SLUICE_TLS_KEY", &files.key),
    ]);
    assert!(
        said.contains("cannot read") && said.contains("missing.pem"),
        "{said}"
    );
}
