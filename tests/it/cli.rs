//! The `sluice` binary's maintenance commands.

use crate::support::append_probes;
use diesel::connection::SimpleConnection;
use serde_json::Value;
use sluice_testkit::TestDb;
use std::process::Command;

/// Runs the `sluice` binary against `db`: its exit code and its JSON report.
pub(crate) fn sluice(db: &TestDb, args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .env("SLUICE_DATABASE_URL", &db.url)
        .env("SLUICE_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json)
}

#[test]
fn migrate_applies_every_migration_once() {
    let db = TestDb::empty();
    let (code, first) = sluice(&db, &["migrate"]);
    assert_eq!(code, 0);
    assert!(!first["applied"].as_array().unwrap().is_empty());
    let (code, second) = sluice(&db, &["migrate"]);
    assert_eq!(code, 0);
    assert_eq!(second["applied"], serde_json::json!([]));
}

#[test]
fn audit_verify_exits_non_zero_and_names_the_altered_event() {
    let db = TestDb::new();
    append_probes(&mut db.connect(), 5);
    let (code, report) = sluice(&db, &["audit", "verify"]);
    assert_eq!((code, &report["problem"]), (0, &Value::Null));
    assert_eq!(report["events_checked"], 5);

    db.connect()
        .batch_execute(
            "BEGIN; SET LOCAL session_replication_role = replica; \
             UPDATE events SET payload = '{\"forged\": true}' WHERE global_seq = 2; COMMIT;",
        )
        .unwrap();
    let (code, report) = sluice(&db, &["audit", "verify"]);
    assert_eq!(code, 1);
    assert_eq!(report["problem"]["global_seq"], 2);
    assert_eq!(report["problem"]["kind"], "altered");
}

#[test]
fn replay_exits_non_zero_when_a_projection_drifted() {
    let db = TestDb::new();
    append_probes(&mut db.connect(), 3);
    let (code, report) = sluice(&db, &["replay"]);
    assert_eq!(code, 0, "{report}");
    db.connect().batch_execute("DELETE FROM probes").unwrap();
    let (code, report) = sluice(&db, &["replay"]);
    assert_eq!(code, 1);
    assert_eq!(report["tables"][0]["only_replayed"], 3);
}

#[test]
fn keys_init_creates_a_keyring_once_and_production_needs_one() {
    let dir = std::env::temp_dir().join(format!("sluice-keys-{}", uuid::Uuid::new_v4()));
    let path = dir.join("keyring.json");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(args)
            .env("SLUICE_KEYRING", &path)
            .env("SLUICE_LOG", "warn")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    // Production refuses to start without a keyring (and before binding anything).
    let out = run(
        &["api"],
        &[
            ("SLUICE_ENVIRONMENT", "production"),
            ("SLUICE_BIND", "127.0.0.1:0"),
        ],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("keyring"),
        "{out:?}"
    );
    assert!(!path.exists());

    assert!(run(&["keys", "init"], &[]).status.success());
    let first = std::fs::read(&path).unwrap();
    let again = run(&["keys", "init"], &[]);
    assert!(
        !again.status.success(),
        "an existing keyring is never overwritten"
    );
    assert_eq!(std::fs::read(&path).unwrap(), first);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn waits_of_zero_or_days_are_refused_at_start() {
    for (variable, value) in [
        ("SLUICE_BODY_IDLE_TIMEOUT", "0s"),
        ("SLUICE_BODY_IDLE_TIMEOUT", "2h"),
        ("SLUICE_RELAY_MAX_LAG", "0s"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("migrate")
            .env(variable, value)
            .env("SLUICE_DATABASE_URL", "postgresql:///unused")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{variable}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("from 1s to 1h"), "{stderr}");
    }
}
