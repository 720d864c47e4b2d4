//! Key rotation, as an operator runs it: `sluice keys rotate`, `rewrap`, `retire`.

use crate::accounts::{account, call};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sluice_testkit::{spawn_app, spawn_app_with, TestApp};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

async fn keys(app: &TestApp, args: &[&str]) -> (bool, Value, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command
        .arg("keys")
        .args(args)
        .env("SLUICE_KEYRING", &app.keyring_file)
        .env("SLUICE_DATABASE_URL", &app.db.url)
        .env("SLUICE_LOG", "warn");
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.success(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn rotation_under_concurrent_reads_loses_nothing() {
    let app = Arc::new(spawn_app().await);
    let mut people = Vec::new();
    for i in 0..6 {
        let email = format!("person{i}@example.com");
        let (token, _) = account(&app, &email).await;
        people.push((token, email));
    }
    let owner = people[0].0.clone();
    let connection: Value = crate::connections::create(
        &app,
        &owner,
        "warehouse",
        crate::connections::params_for(&app, "pw"),
    )
    .await
    .json()
    .await
    .unwrap();
    let test_path = format!(
        "/v1/connections/{}/test",
        connection["id"].as_str().unwrap()
    );
    let upload = crate::uploads::marked_csv();
    let res = crate::uploads::upload_multipart(&app, &owner, "a.csv", upload.clone()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = people
        .iter()
        .cloned()
        .map(|(token, email)| {
            let (app, stop, reads) = (app.clone(), stop.clone(), reads.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let res = call(&app, Method::GET, "/v1/me", &token).await;
                    assert_eq!(res.status(), StatusCode::OK);
                    let me: Value = res.json().await.unwrap();
                    assert_eq!(me["user"]["email"], email.as_str());
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    // The rotation is a background job of the running worker.
    let (ok, report, stderr) = keys(&app, &["rotate", "--wait"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(report["primary"], 2);
    assert_eq!(report["finished_by"], "test-worker");
    let rewrapped = &report["rewrapped"];
    assert_eq!(rewrapped["subject_keys"], 6);
    assert_eq!(rewrapped["connection_secrets"], 1);
    assert_eq!(rewrapped["upload_keys"], 1);
    let (ok, status, stderr) = keys(&app, &["status"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(status["primary"], 2);
    assert_eq!(status["data_keys_by_version"]["1"], 0);
    assert_eq!(status["data_keys_by_version"]["2"], 7 + 1);
    assert_eq!(status["rotations"][0]["rotation"], report["rotation"]);
    let (ok, _, stderr) = keys(&app, &["retire", "1"]).await;
    assert!(ok, "nothing is left under key 1: {stderr}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.unwrap();
    }
    assert!(reads.load(Ordering::Relaxed) >= 6, "the readers ran");
    // After the old key is gone, everything still opens under the new one.
    for (token, email) in &people {
        let me: Value = call(&app, Method::GET, "/v1/me", token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me["user"]["email"], email.as_str());
    }
    let tested: Value = call(&app, Method::POST, &test_path, &owner)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        tested["ok"], true,
        "the connection's secret opens under the new key"
    );
    // The upload's file opens with its rewrapped key, under the new keyring only.
    {
        use diesel::prelude::*;
        use sluice_schema::schema::upload_keys;
        let (upload_id, account_id, version, wrapped): (uuid::Uuid, uuid::Uuid, i32, Vec<u8>) =
            upload_keys::table
                .select((
                    upload_keys::upload_id,
                    upload_keys::account_id,
                    upload_keys::kek_version,
                    upload_keys::wrapped_key,
                ))
                .first(&mut app.conn())
                .unwrap();
        assert_eq!(version, 2);
        let keyring = sluice_vault::Keyring::load(&app.keyring_file).unwrap();
        let owner_aad = sluice_vault::Aad::new(account_id, "uploads", upload_id, "file");
        let key = sluice_vault::FileKey::unwrap(&keyring, &owner_aad, 2, &wrapped).unwrap();
        let sealed = std::fs::read(app.store.path("uploads", &upload_id.to_string())).unwrap();
        let mut plain = Vec::new();
        key.decrypt(&owner_aad, &sealed[..], &mut plain).unwrap();
        assert_eq!(plain, upload);
    }
    // New sign-ups seal under the new primary key.
    account(&app, "after@example.com").await;
    let (ok, report, _) = keys(&app, &["rewrap"]).await;
    assert!(ok);
    assert_eq!(report["subject_keys"], 0, "already under the primary key");
}

#[tokio::test]
async fn a_key_that_still_wraps_data_cannot_be_retired() {
    let app = spawn_app().await;
    account(&app, "ada@example.com").await;
    // A new primary key, without the rewrap.
    let mut keyring = sluice_vault::Keyring::load(&app.keyring_file).unwrap();
    keyring.rotate();
    keyring.save(&app.keyring_file).unwrap();

    let (ok, _, stderr) = keys(&app, &["retire", "1"]).await;
    assert!(!ok);
    assert!(stderr.contains("still wraps 1 data keys"), "{stderr}");
    let (ok, _, stderr) = keys(&app, &["retire", "2"]).await;
    assert!(!ok);
    assert!(stderr.contains("primary"), "{stderr}");

    let (ok, report, _) = keys(&app, &["rewrap"]).await;
    assert!(ok);
    assert_eq!(report["subject_keys"], 1);
    let (ok, retired, stderr) = keys(&app, &["retire", "1"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(retired["versions"], serde_json::json!([2]));
}

#[tokio::test]
async fn a_queued_rotation_waits_for_a_worker_and_is_done_once() {
    let app = spawn_app_with(sluice_testkit::AppOptions {
        worker: false,
        ..sluice_testkit::AppOptions::default()
    })
    .await;
    account(&app, "ada@example.com").await;
    let (ok, queued, stderr) = keys(&app, &["rotate"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(queued["status"], "queued");
    let (_, status, _) = keys(&app, &["status"]).await;
    assert_eq!(
        status["data_keys_by_version"]["1"], 1,
        "nothing rewrapped yet"
    );
    assert_eq!(status["rotations"][0]["finished_at"], Value::Null);

    // Two workers start; the job runs once.
    app.start_worker(std::time::Duration::from_secs(5));
    app.start_worker(std::time::Duration::from_secs(5));
    let rotation = queued["rotation"].as_str().unwrap().to_owned();
    let finished = sluice_testkit::eventually(
        std::time::Duration::from_secs(20),
        "the rotation to finish",
        || {
            let app = &app;
            async move {
                let (_, status, _) = keys(app, &["status"]).await;
                (status["rotations"][0]["finished_at"] != Value::Null).then_some(status)
            }
        },
    )
    .await;
    assert_eq!(finished["rotations"][0]["rotation"], rotation.as_str());
    assert_eq!(finished["data_keys_by_version"]["1"], 0);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    use diesel::prelude::*;
    use sluice_schema::schema::events;
    let done: i64 = events::table
        .filter(events::event_type.eq("keys.rotation_finished"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(done, 1);
}

#[test]
fn a_key_version_is_kept_exactly_or_refused_never_clamped() {
    use diesel::prelude::*;
    use sluice_schema::key_version::KeyVersion;
    use sluice_schema::schema::result_keys;
    let db = sluice_testkit::TestDb::new();
    let mut conn = db.connect();
    let read = |conn: &mut diesel::PgConnection| {
        result_keys::table
            .select(result_keys::kek_version)
            .get_results::<KeyVersion>(conn)
    };
    diesel::sql_query(
        "INSERT INTO result_keys (run_id, account_id, kek_version, wrapped_key) \
         VALUES (gen_random_uuid(), gen_random_uuid(), 2147483647, '\\x00')",
    )
    .execute(&mut conn)
    .unwrap();
    assert_eq!(read(&mut conn).unwrap(), vec![KeyVersion(i32::MAX as u32)]);

    // A version the column cannot hold is an error, not another version.
    let beyond = KeyVersion(i32::MAX as u32 + 1);
    let counted = result_keys::table
        .filter(result_keys::kek_version.eq(beyond))
        .count()
        .get_result::<i64>(&mut conn);
    assert!(counted.is_err(), "{counted:?}");

    // A negative version read back is an error too.
    diesel::sql_query("UPDATE result_keys SET kek_version = -1")
        .execute(&mut conn)
        .unwrap();
    assert!(read(&mut conn).is_err());
}
