//! Files kept in an S3-compatible object store (a real S3 server on
//! loopback, see `sluice_testkit::TestObjectStore`): uploads and result
//! files become objects of ciphertext, large ones sent in parts, expired
//! ones deleted by the sweep; and an API and two workers on "separate
//! hosts" (each its own empty local directory) share only PostgreSQL,
//! RabbitMQ and the bucket.

use crate::accounts::{account, call};
use crate::imports::{
    connect_target, contacts_csv, contacts_mapping, create_job, result_file, run_to_end, target_db,
    upload,
};
use crate::support::files_under;
use reqwest::Method;
use serde_json::Value;
use sluice_testkit::{spawn_app_with, AppOptions, TestApp, TestObjectStore};
use sluice_vault::FileStore;
use std::io::{Read, Write};

const ROWS: usize = 1_500;

fn on_object_store() -> AppOptions {
    AppOptions {
        object_store: true,
        ..AppOptions::default()
    }
}

/// Every object of `kind` in the bucket, as stored: its id and bytes.
fn objects(store: &FileStore, kind: &str) -> Vec<(String, Vec<u8>)> {
    store
        .list(kind)
        .unwrap()
        .into_iter()
        .map(|(id, _)| {
            let mut bytes = Vec::new();
            store
                .open_file(kind, &id)
                .unwrap()
                .read_to_end(&mut bytes)
                .unwrap();
            (id, bytes)
        })
        .collect()
}

/// An account that uploaded [`contacts_csv`] and imported it: (token,
/// upload id, run as shown).
async fn imported(app: &TestApp) -> (String, String, Value) {
    let target = target_db();
    let (owner, _) = account(app, "ada@example.com").await;
    let connection = connect_target(app, &owner, &target).await;
    let upload = upload(app, &owner, contacts_csv(ROWS)).await;
    let job: Value = create_job(app, &owner, &upload, &connection, contacts_mapping())
        .await
        .json()
        .await
        .unwrap();
    let run = run_to_end(app, &owner, job["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    (owner, upload, run)
}

#[tokio::test]
async fn uploads_and_result_files_are_objects_of_ciphertext_and_nothing_stays_local() {
    let app = spawn_app_with(on_object_store()).await;
    let (owner, upload, run) = imported(&app).await;
    let run_id = run["id"].as_str().unwrap();
    let success = result_file(&app, &owner, run_id, "success").await;
    assert_eq!(success.len(), ROWS + 1, "every row in success.csv");
    assert!(success[1..].iter().any(|r| r[4] == "Person 7"));

    let store = app.store.clone();
    let (uploads, results) = tokio::task::spawn_blocking(move || {
        (objects(&store, "uploads"), objects(&store, "results"))
    })
    .await
    .unwrap();
    assert_eq!(
        uploads
            .iter()
            .map(|(id, _)| id.as_str())
            .collect::<Vec<_>>(),
        [upload.as_str()]
    );
    let names: Vec<&str> = results.iter().map(|(id, _)| id.as_str()).collect();
    for file in ["success", "skipped", "errors", "ended"] {
        assert!(
            names.contains(&format!("{run_id}.{file}").as_str()),
            "{names:?}"
        );
    }
    for (id, bytes) in uploads.iter().chain(&results) {
        assert!(!bytes.is_empty(), "{id}");
        for value in [
            &b"Person7@Example.com"[..],
            b"person7@example.com",
            b"Person 7",
        ] {
            assert!(
                !bytes.windows(value.len()).any(|w| w == value),
                "{id} holds a row's value in clear"
            );
        }
    }
    assert_eq!(
        files_under(app.store.root()),
        Vec::<std::path::PathBuf>::new(),
        "the local directory only stages files"
    );
}

#[tokio::test]
async fn the_sweep_deletes_expired_upload_and_result_objects() {
    let app = spawn_app_with(on_object_store()).await;
    let (owner, upload, run) = imported(&app).await;
    let run_id = run["id"].as_str().unwrap().to_owned();
    let store = app.store.clone();
    let listed = move || {
        let store = store.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                (
                    store.list("uploads").unwrap(),
                    store.list("results").unwrap(),
                )
            })
            .await
            .unwrap()
        }
    };
    let (uploads, results) = listed().await;
    assert_eq!(uploads.len(), 1);
    assert!(!results.is_empty());

    app.platform.clock.advance(chrono::Duration::days(15));
    let report = sluice_worker::retention::sweep_uploads(&app.platform, &app.store, "test")
        .await
        .unwrap();
    assert_eq!(report.uploads, [uuid::Uuid::parse_str(&upload).unwrap()]);
    assert_eq!(report.runs, [uuid::Uuid::parse_str(&run_id).unwrap()]);
    let (uploads, results) = listed().await;
    assert!(uploads.is_empty(), "{uploads:?}");
    assert!(results.is_empty(), "{results:?}");
    let path = format!("/v1/runs/{run_id}/success.csv");
    assert_eq!(
        call(&app, Method::GET, &path, &owner).await.status(),
        reqwest::StatusCode::GONE
    );
}

#[test]
fn a_file_larger_than_a_part_is_sent_in_parts_and_reads_back_whole() {
    let server = TestObjectStore::start();
    let staging = tempfile::tempdir().unwrap();
    let store = FileStore::open_object_store(staging.path(), &server.config("parts")).unwrap();
    // 11 MiB of varied bytes: three parts of (at most) 5 MiB.
    let big: Vec<u8> = (0..11 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let (staged, mut file) = store.stage("uploads", "big").unwrap();
    file.write_all(&big).unwrap();
    drop(file);
    assert!(
        store.list("uploads").unwrap().len() == 1,
        "staged here only"
    );
    assert!(
        store.open_file("uploads", "big").is_err(),
        "not yet an object"
    );
    store.commit(staged, "uploads", "big").unwrap();
    assert_eq!(server.parts_received(), 3);
    let mut back = Vec::new();
    store
        .open_file("uploads", "big")
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert!(back == big, "the object is the file, whole");

    let (staged, mut file) = store.stage("uploads", "small").unwrap();
    file.write_all(b"small").unwrap();
    store.commit(staged, "uploads", "small").unwrap();
    assert_eq!(
        server.parts_received(),
        3,
        "a small file goes in one request"
    );
    assert_eq!(
        files_under(staging.path()),
        Vec::<std::path::PathBuf>::new()
    );

    let mut listed: Vec<String> = store
        .list("uploads")
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    listed.sort();
    assert_eq!(listed, ["big", "small"]);
    let starting: Vec<String> = store
        .list_starting("uploads", "bi")
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(starting, ["big"], "listed by the prefix of their ids");
    assert!(store.remove("uploads", "big").unwrap());
    assert!(!store.remove("uploads", "big").unwrap(), "already gone");
    let missing = store.open_file("uploads", "big").unwrap_err();
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn bad_object_store_settings_are_refused_at_start_with_the_reason() {
    let server = TestObjectStore::start();
    let staging = tempfile::tempdir().unwrap();
    let settings = server.env("x", staging.path());
    let start = |overrides: &[(&str, &str)]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("worker")
            .envs(settings.iter().map(|(k, v)| (*k, v.as_str())))
            .envs(overrides.iter().copied())
            .env("SLUICE_DATABASE_URL", "postgresql:///unused")
            .env("SLUICE_LOG", "warn")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{overrides:?} started: {said}");
        assert!(!said.contains("panicked"), "{said}");
        assert!(
            !said.contains(sluice_testkit::object_store::SECRET_KEY),
            "{said}"
        );
        said
    };
    let said = start(&[("SLUICE_STORAGE_URL", "files-bucket")]);
    assert!(said.contains("s3://bucket"), "{said}");
    let said = start(&[("SLUICE_STORAGE_URL", "s3://no-such-bucket/x")]);
    assert!(said.contains("bucket cannot be listed"), "{said}");
    let said = start(&[("SLUICE_STORAGE_ENDPOINT", "http://files.example.com:9000")]);
    assert!(said.contains("plain HTTP"), "{said}");
    let said = start(&[(
        "SLUICE_STORAGE_SECRET_ACCESS_KEY",
        "wrong-secret-for-the-bucket",
    )]);
    assert!(said.contains("bucket cannot be listed"), "{said}");
    assert!(!said.contains("wrong-secret-for-the-bucket"), "{said}");
}

#[test]
fn staging_files_a_killed_process_left_go_when_the_next_one_starts() {
    let server = TestObjectStore::start();
    let staging = tempfile::tempdir().unwrap();
    std::fs::create_dir(staging.path().join("results")).unwrap();
    let old = staging.path().join("results").join("old.part");
    let recent = staging.path().join("results").join("recent.part");
    for path in [&old, &recent] {
        std::fs::write(path, b"ciphertext").unwrap();
    }
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    FileStore::open_object_store(staging.path(), &server.config("left")).unwrap();
    assert!(!old.exists(), "left over by a process killed long ago");
    assert!(
        recent.exists(),
        "maybe another process's, still being written"
    );
}
