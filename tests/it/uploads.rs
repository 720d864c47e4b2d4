//! Uploads: streamed in, encrypted at rest, described, refused when they lie
//! or are too large, and gone after their time to live.

use crate::accounts::{account, call, member};
use diesel::prelude::*;
use reqwest::{multipart, Method, StatusCode};
use serde_json::Value;
use sluice_schema::schema::{events, upload_keys, uploads};
use sluice_testkit::{spawn_app, spawn_app_with, AppOptions, TestApp};
use sluice_vault::{Aad, FileKey};

pub const MARKER: &str = "zebra-marker-7f3a";

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A CSV whose rows carry [`MARKER`].
pub fn marked_csv() -> Vec<u8> {
    let mut csv = String::from("Email,First Name,Note\n");
    for i in 0..2000 {
        csv.push_str(&format!("person{i}@example.com,Person {i},{MARKER}\n"));
    }
    csv.into_bytes()
}

pub async fn upload_multipart(
    app: &TestApp,
    token: &str,
    name: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    let form = multipart::Form::new().part(
        "file",
        multipart::Part::bytes(body).file_name(name.to_owned()),
    );
    app.client
        .post(app.url("/v1/uploads"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

pub async fn upload_raw(
    app: &TestApp,
    token: &str,
    name: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    app.client
        .post(app.url("/v1/uploads"))
        .query(&[("filename", name)])
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Every file under the storage directory, with its bytes.
fn stored_files(app: &TestApp) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    crate::support::files_under(app.store.root())
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn pg_dump(app: &TestApp) -> String {
    let dump = std::process::Command::new("pg_dump")
        .args(["--data-only", "--dbname", &app.db.url])
        .output()
        .unwrap();
    assert!(dump.status.success());
    String::from_utf8(dump.stdout).unwrap()
}

#[tokio::test]
async fn a_csv_is_stored_encrypted_and_described() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let original = marked_csv();
    let before = app.platform.clock.now();
    let res = upload_multipart(&app, &owner, "payroll-secret-list.csv", original.clone()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["filename"], "payroll-secret-list.csv");
    assert_eq!(created["format"], "csv");
    assert_eq!(created["size_bytes"], original.len());
    assert_eq!(
        created["columns"],
        serde_json::json!(["Email", "First Name", "Note"])
    );
    assert_eq!(created["sheets"], serde_json::json!([]));
    assert_eq!(created["csv"]["delimiter"], ",");
    let expires: chrono::DateTime<chrono::Utc> =
        created["expires_at"].as_str().unwrap().parse().unwrap();
    let ttl = expires - before;
    assert!(
        ttl > chrono::Duration::minutes(59) && ttl <= chrono::Duration::minutes(61),
        "{ttl}"
    );
    let id = created["id"].as_str().unwrap().to_owned();

    let shown: Value = call(&app, Method::GET, &format!("/v1/uploads/{id}"), &owner)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown, created);

    // On disk: one file, ciphertext only, and it is the upload.
    let files = stored_files(&app);
    assert_eq!(files.len(), 1, "{files:?}");
    for (path, bytes) in &files {
        assert!(!contains(bytes, MARKER), "plaintext in {path:?}");
        assert!(
            !contains(bytes, "person1@example.com"),
            "plaintext in {path:?}"
        );
    }
    let (version, wrapped): (i32, Vec<u8>) = upload_keys::table
        .select((upload_keys::kek_version, upload_keys::wrapped_key))
        .first(&mut app.conn())
        .unwrap();
    let account_id: uuid::Uuid = uploads::table
        .select(uploads::account_id)
        .first(&mut app.conn())
        .unwrap();
    let owner_aad = Aad::new(account_id, "uploads", &id, "file");
    let key = FileKey::unwrap(&app.keyring.get(), &owner_aad, version as u32, &wrapped).unwrap();
    let mut plain = Vec::new();
    key.decrypt(&owner_aad, &files[0].1[..], &mut plain)
        .unwrap();
    assert_eq!(plain, original);

    // Neither the database nor the event log holds the data, its name or columns.
    let dump = pg_dump(&app);
    assert!(
        !dump.contains(MARKER),
        "the uploaded data is in the database"
    );
    assert!(
        !dump.contains("payroll-secret-list"),
        "the file name is in clear"
    );
    assert!(!dump.contains("First Name"), "a column name is in clear");
    let payload: Value = events::table
        .filter(events::event_type.eq("upload.received"))
        .select(events::payload)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(payload["format"], "csv");
}

#[tokio::test]
async fn spreadsheets_give_their_sheets_and_columns() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    for (name, format) in [
        ("contacts.xlsx", "xlsx"),
        ("contacts.xls", "xls"),
        ("contacts.ods", "ods"),
    ] {
        let res = upload_raw(&app, &owner, name, fixture(name)).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{name}");
        let created: Value = res.json().await.unwrap();
        assert_eq!(created["format"], format);
        assert_eq!(
            created["sheets"],
            serde_json::json!(["Contacts", "Notes"]),
            "{name}"
        );
        assert_eq!(
            created["columns"],
            serde_json::json!(["Email", "First Name", "Amount"]),
            "{name}"
        );
    }
    // A Windows-1252 CSV with semicolons, as Excel writes in much of Europe.
    let latin = b"Stra\xDFe;Gr\xF6\xDFe\nHauptstra\xDFe;12\n".to_vec();
    let created: Value = upload_raw(&app, &owner, "adressen.csv", latin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["columns"], serde_json::json!(["Straße", "Größe"]));
    assert_eq!(created["csv"]["encoding"], "windows-1252");
    assert_eq!(created["csv"]["delimiter"], ";");
}

#[tokio::test]
async fn lying_or_unsupported_content_is_refused_and_leaves_nothing() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let png =
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89".to_vec();
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "photo.csv",
            png,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "image/png",
        ),
        (
            "letter.xlsx",
            fixture("letter.docx"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not an Excel workbook",
        ),
        (
            "contacts.xlsx",
            marked_csv(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "text",
        ),
        (
            "contacts.csv",
            fixture("contacts.xlsx"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "ZIP",
        ),
        (
            "contacts.ods",
            fixture("contacts.xlsx"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not an OpenDocument spreadsheet",
        ),
        (
            "report.pdf",
            b"%PDF-1.7\n".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ".csv",
        ),
        (
            "contacts.xls",
            fixture("contacts.ods"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "ZIP",
        ),
        (
            "bomb.xlsx",
            fixture("bomb.xlsx"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "compression bomb",
        ),
        (
            "empty.csv",
            Vec::new(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty",
        ),
    ];
    for (name, body, status, says) in cases {
        let res = upload_multipart(&app, &owner, name, body).await;
        assert_eq!(res.status(), status, "{name}");
        let error: Value = res.json().await.unwrap();
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{name}: {message}");
    }
    let res = upload_raw(&app, &owner, "", marked_csv()).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .client
        .post(app.url("/v1/uploads"))
        .bearer_auth(&owner)
        .body(marked_csv())
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "no file name"
    );
    let form = multipart::Form::new().text("note", "hello");
    let res = app
        .client
        .post(app.url("/v1/uploads"))
        .bearer_auth(&owner)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "no file field");

    assert!(
        stored_files(&app).is_empty(),
        "a refused upload left a file"
    );
    let recorded: i64 = uploads::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(recorded, 0);
    let keys: i64 = upload_keys::table
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(keys, 0);
}

#[tokio::test]
async fn an_upload_over_the_limit_is_refused_with_413() {
    let app = spawn_app_with(AppOptions {
        upload_max_bytes: 1024 * 1024,
        ..AppOptions::default()
    })
    .await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let big = {
        let mut csv = b"a,b\n".to_vec();
        csv.resize(3 * 1024 * 1024, b'x');
        csv
    };
    // Declared too large: the answer comes before any of the body is sent.
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /v1/uploads?filename=big.csv HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {owner}\r\nContent-Type: text/csv\r\nContent-Length: {}\r\n\r\n",
        big.len()
    );
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), socket.read(&mut answer))
        .await
        .expect("an answer without the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // Sent anyway, or streamed without a length, or in a form: refused once
    // the limit is passed. The server closes the connection rather than
    // read the rest, so a client may see the close before the answer.
    let too_large = |res: reqwest::Result<reqwest::Response>| match res {
        Ok(res) => assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE),
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    };
    too_large(
        app.client
            .post(app.url("/v1/uploads?filename=big.csv"))
            .bearer_auth(&owner)
            .body(big.clone())
            .send()
            .await,
    );
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    too_large(
        app.client
            .post(app.url("/v1/uploads?filename=big.csv"))
            .bearer_auth(&owner)
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
            .send()
            .await,
    );
    let form =
        multipart::Form::new().part("file", multipart::Part::bytes(big).file_name("big.csv"));
    too_large(
        app.client
            .post(app.url("/v1/uploads"))
            .bearer_auth(&owner)
            .multipart(form)
            .send()
            .await,
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        stored_files(&app).is_empty(),
        "a refused upload left a file"
    );
    let recorded: i64 = uploads::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(recorded, 0);
    // Under the limit is fine.
    let res = upload_raw(&app, &owner, "small.csv", marked_csv()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn an_expired_upload_is_refused_at_once_and_the_sweep_destroys_it() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let created: Value = upload_multipart(&app, &owner, "a.csv", marked_csv())
        .await
        .json()
        .await
        .unwrap();
    let kept: Value = upload_multipart(&app, &owner, "b.csv", marked_csv())
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/v1/uploads/{}", created["id"].as_str().unwrap());
    let kept_path = format!("/v1/uploads/{}", kept["id"].as_str().unwrap());

    // Nothing is due yet.
    let report = sluice_worker::retention::sweep_uploads(&app.platform, &app.store, "test")
        .await
        .unwrap();
    assert_eq!(report.uploads.len(), 0);

    app.platform.clock.advance(chrono::Duration::minutes(61));
    // A newer upload, made after the clock moved, is not expired.
    let fresh: Value = upload_multipart(&app, &owner, "c.csv", marked_csv())
        .await
        .json()
        .await
        .unwrap();
    let fresh_path = format!("/v1/uploads/{}", fresh["id"].as_str().unwrap());
    let res = call(&app, Method::GET, &path, &owner).await;
    assert_eq!(res.status(), StatusCode::GONE, "refused before any sweep");
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));
    assert_eq!(
        call(&app, Method::GET, &kept_path, &owner).await.status(),
        StatusCode::GONE
    );
    assert_eq!(stored_files(&app).len(), 3, "not yet swept");

    let report = sluice_worker::retention::sweep_uploads(&app.platform, &app.store, "test")
        .await
        .unwrap();
    assert_eq!(report.uploads.len(), 2);
    assert_eq!(
        stored_files(&app).len(),
        1,
        "only the fresh upload's file is left"
    );
    let keys: i64 = upload_keys::table
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(keys, 1, "the expired uploads' keys are destroyed");
    let reasons: Vec<Value> = events::table
        .filter(events::event_type.eq("upload.removed"))
        .select(events::payload)
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(reasons, vec![serde_json::json!({"reason": "expired"}); 2]);
    assert_eq!(
        call(&app, Method::GET, &path, &owner).await.status(),
        StatusCode::GONE
    );
    assert_eq!(
        call(&app, Method::GET, &fresh_path, &owner).await.status(),
        StatusCode::OK
    );
    // Sweeping again finds nothing more.
    let report = sluice_worker::retention::sweep_uploads(&app.platform, &app.store, "test")
        .await
        .unwrap();
    assert_eq!(report.uploads.len(), 0);
}

#[tokio::test]
async fn delete_destroys_the_key_and_the_file() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let teammate = member(&app, &owner, "member@example.com").await;
    let created: Value = upload_multipart(&app, &owner, "a.csv", marked_csv())
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/v1/uploads/{}", created["id"].as_str().unwrap());
    assert_eq!(
        call(&app, Method::GET, &path, &teammate).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        call(&app, Method::DELETE, &path, &teammate).await.status(),
        StatusCode::FORBIDDEN,
        "a member deletes only their own uploads"
    );
    assert_eq!(
        call(&app, Method::DELETE, &path, &owner).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, Method::GET, &path, &owner).await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(stored_files(&app).is_empty());
    let keys: i64 = upload_keys::table
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(keys, 0);

    let mine: Value = upload_multipart(&app, &teammate, "mine.csv", marked_csv())
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/v1/uploads/{}", mine["id"].as_str().unwrap());
    assert_eq!(
        call(&app, Method::DELETE, &path, &teammate).await.status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn leftover_files_without_a_live_upload_are_swept() {
    let app = spawn_app().await;
    let (staged, mut file) = app
        .store
        .stage("uploads", &uuid::Uuid::now_v7().to_string())
        .unwrap();
    use std::io::Write;
    file.write_all(b"ciphertext of an upload that broke off")
        .unwrap();
    // Pretend it has been idle for an hour.
    file.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();
    std::mem::forget(staged);
    let (fresh, _) = app
        .store
        .stage("uploads", &uuid::Uuid::now_v7().to_string())
        .unwrap();
    std::mem::forget(fresh);
    let report = sluice_worker::retention::sweep_uploads(&app.platform, &app.store, "test")
        .await
        .unwrap();
    assert_eq!(
        report.leftovers, 1,
        "the idle one only: the other may be in progress"
    );
    assert_eq!(stored_files(&app).len(), 1);
}

#[tokio::test]
async fn a_run_reads_a_windows_1252_csv_with_the_dialect_found_at_upload() {
    use crate::imports::{connect_target, create_job, run_to_end, target_db};
    let app = spawn_app().await;
    let target = target_db();
    let (owner, _) = account(&app, "ada@example.com").await;
    let connection = connect_target(&app, &owner, &target).await;
    let latin =
        b"Email;First Name\nm\xFCller@example.com;J\xFCrgen\nstra\xDFe@example.com;Ren\xE9e\n"
            .to_vec();
    let created: Value = upload_raw(&app, &owner, "kunden.csv", latin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["csv"]["encoding"], "windows-1252");
    let mapping = serde_json::json!([
        {"source": "Email", "target": "email"},
        {"source": "First Name", "target": "first_name"},
    ]);
    let job: Value = create_job(
        &app,
        &owner,
        created["id"].as_str().unwrap(),
        &connection,
        mapping,
    )
    .await
    .json()
    .await
    .unwrap();
    let run = run_to_end(&app, &owner, job["id"].as_str().unwrap()).await;
    assert_eq!(run["rows_ok"], 2, "{run}");
    #[derive(QueryableByName)]
    struct Person {
        #[diesel(sql_type = diesel::sql_types::Text)]
        email: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        first_name: String,
    }
    let people: Vec<(String, String)> =
        diesel::sql_query("SELECT email, first_name FROM contacts ORDER BY email")
            .load::<Person>(&mut target.connect())
            .unwrap()
            .into_iter()
            .map(|p| (p.email, p.first_name))
            .collect();
    assert_eq!(
        people,
        [
            ("müller@example.com".to_owned(), "Jürgen".to_owned()),
            ("straße@example.com".to_owned(), "Renée".to_owned()),
        ]
    );
}
