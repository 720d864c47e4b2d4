//! Inputs without a bound: a header row or a cell as large as the file
//! allows is refused when the file is received, with a 4xx that names the
//! bound, and leaves nothing behind.

use crate::accounts::{account, call};
use crate::uploads::upload_multipart;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sluice_schema::schema::uploads;
use sluice_testkit::{spawn_app, spawn_app_with, AppOptions, TestApp};
use std::io::Write;
use std::time::Duration;

/// An XLSX workbook of one sheet whose first row is `header` (as shared
/// strings) and whose second row is `1, 2, ...`. `padding` bytes of
/// incompressible data are stored in an extra part, as a crafted file
/// would, so that the package does not look like a compression bomb.
pub fn xlsx(header: &[String], padding: usize) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut part = |name: &str, text: &str| {
        zip.start_file(name, deflated).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    };
    part(
        "[Content_Types].xml",
        r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#,
    );
    part(
        "_rels/.rels",
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
    );
    part(
        "xl/workbook.xml",
        r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
    );
    part(
        "xl/_rels/workbook.xml.rels",
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#,
    );
    let strings: String = header
        .iter()
        .map(|h| format!("<si><t>{h}</t></si>"))
        .collect();
    part(
        "xl/sharedStrings.xml",
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{n}" uniqueCount="{n}">{strings}</sst>"#,
            n = header.len()
        ),
    );
    let column = |i: usize| {
        let mut name = String::new();
        let mut n = i + 1;
        while n > 0 {
            name.insert(0, char::from(b'A' + ((n - 1) % 26) as u8));
            n = (n - 1) / 26;
        }
        name
    };
    let first: String = (0..header.len())
        .map(|i| format!(r#"<c r="{}1" t="s"><v>{i}</v></c>"#, column(i)))
        .collect();
    let second: String = (0..header.len())
        .map(|i| format!(r#"<c r="{}2"><v>{}</v></c>"#, column(i), i + 1))
        .collect();
    part(
        "xl/worksheets/sheet1.xml",
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">{first}</row><row r="2">{second}</row></sheetData></worksheet>"#
        ),
    );
    if padding > 0 {
        // Bytes that do not compress: a stored part of pseudo-random noise.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let noise: Vec<u8> = (0..padding)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        zip.start_file("xl/media/image1.bin", stored).unwrap();
        zip.write_all(&noise).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

async fn refused(res: reqwest::Response) -> String {
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["field"], "file");
    body["error"]["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_header_cell_past_the_cell_limit_is_refused_before_it_is_read() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    // The audit's file, scaled down: one header cell of 4 MiB, and a stored
    // part of noise that keeps the package under the expansion ratio.
    let cell = "A".repeat(4 * 1024 * 1024);
    let file = xlsx(&[cell, "Email".into()], 256 * 1024);
    assert!(file.len() < 400 * 1024, "the package stays small");
    let message = refused(upload_multipart(&app, &owner, "crafted.xlsx", file).await).await;
    assert!(message.contains("32767 characters"), "{message}");

    let fine = xlsx(&["Email".into(), "Name".into()], 0);
    let res = upload_multipart(&app, &owner, "fine.xlsx", fine).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["columns"], serde_json::json!(["Email", "Name"]));
    let kept: i64 = uploads::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(kept, 1, "only the good file is recorded");
}

#[tokio::test]
async fn header_rows_past_their_bounds_are_refused_in_every_format() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;

    // Each name is within a cell's limit; together they pass 64 KiB.
    let wide: Vec<String> = (0..40)
        .map(|i| format!("{i}{}", "é".repeat(1_000)))
        .collect();
    let message = refused(upload_multipart(&app, &owner, "wide.xlsx", xlsx(&wide, 0)).await).await;
    assert!(message.contains("64 KiB"), "{message}");

    let long_name = format!("id,{},email\n1,2,3\n", "n".repeat(1_025));
    let message =
        refused(upload_multipart(&app, &owner, "long.csv", long_name.into_bytes()).await).await;
    assert!(message.contains("column 2"), "{message}");
    assert!(message.contains("1024 characters"), "{message}");

    let many = format!(
        "{}\n",
        (0..5_000)
            .map(|i| format!("c{i}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let message =
        refused(upload_multipart(&app, &owner, "many.csv", many.into_bytes()).await).await;
    assert!(message.contains("4096"), "{message}");

    let kept: i64 = uploads::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(kept, 0);
}

/// Connects to the app and writes what `request` makes of its address
/// (the `Host`), as a client would that sends no more after it.
async fn send_raw(app: &TestApp, request: impl FnOnce(&str) -> String) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let address = app
        .url("/")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    // A server that refuses the head may close before all of it is read;
    // its answer is what the tests look at.
    let _ = stream.write_all(request(&address).as_bytes()).await;
    stream
}

/// Opens a raw upload that promises `length` bytes, sends the start of a
/// CSV and then nothing more, as a stalled or malicious client would.
async fn stalled_upload(app: &TestApp, token: &str, length: usize) -> tokio::net::TcpStream {
    send_raw(app, |address| {
        format!(
            "POST /v1/uploads?filename=slow.csv HTTP/1.1\r\nHost: {address}\r\n\
             Authorization: Bearer {token}\r\nContent-Type: text/csv\r\n\
             Content-Length: {length}\r\n\r\nEmail,Name\r\n"
        )
    })
    .await
}

/// The status line's code of what `stream` is answered, within `within`.
async fn answer(stream: &mut tokio::net::TcpStream, within: Duration) -> Option<u16> {
    use tokio::io::AsyncReadExt;
    let mut buffer = vec![0u8; 4096];
    let n = tokio::time::timeout(within, stream.read(&mut buffer))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&buffer[..n]);
    text.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test]
async fn stalled_uploads_are_cut_off_and_bounded_per_user() {
    let app = spawn_app_with(AppOptions {
        body_idle_timeout: Duration::from_secs(2),
        uploads_per_user: 2,
        ..AppOptions::default()
    })
    .await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let (other, _) = account(&app, "grace@example.com").await;

    let mut first = stalled_upload(&app, &owner, 1_000_000).await;
    let mut second = stalled_upload(&app, &owner, 1_000_000).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A third upload of the same user is refused at once...
    let res = upload_multipart(&app, &owner, "more.csv", b"Email\na@b.c\n".to_vec()).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("at most 2 uploads"));
    // ...while other users and other requests go on as usual.
    let res = upload_multipart(&app, &other, "theirs.csv", b"Email\na@b.c\n".to_vec()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let started = std::time::Instant::now();
    let me = call(&app, Method::GET, "/v1/me", &owner).await;
    assert_eq!(me.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(1));

    // The stalled bodies are answered 408 once they have been idle for
    // the timeout, and their slots are given back.
    assert_eq!(answer(&mut first, Duration::from_secs(10)).await, Some(408));
    assert_eq!(
        answer(&mut second, Duration::from_secs(10)).await,
        Some(408)
    );
    let res = upload_multipart(&app, &owner, "later.csv", b"Email\na@b.c\n".to_vec()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let kept: i64 = uploads::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(kept, 2, "the stalled uploads left nothing");
}

#[tokio::test]
async fn a_column_named_like_a_formula_is_defused_in_both_result_files() {
    use crate::imports::{connect_target, create_job, result_file, run_to_end, target_db, upload};
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let target = target_db();
    let connection = connect_target(&app, &owner, &target).await;
    let csv = "Email,=HYPERLINK(\"http://evil.example\"),@SUM(A1)\n\
               good@example.com,Ada,1\n\
               ,Nobody,2\n";
    let upload = upload(&app, &owner, csv.as_bytes().to_vec()).await;
    let mapping = serde_json::json!([
        {"source": "Email", "target": "email"},
        {"source": "=HYPERLINK(\"http://evil.example\")", "target": "first_name"},
    ]);
    let res = create_job(&app, &owner, &upload, &connection, mapping).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let job = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = run_to_end(&app, &owner, &job).await;
    assert_eq!(run["rows_ok"], 1, "{run}");
    assert_eq!(run["rows_failed"], 1, "{run}");
    let run = run["id"].as_str().unwrap();
    for name in ["success.csv", "errors.csv"] {
        let rows = result_file(&app, &owner, run, name.trim_end_matches(".csv")).await;
        let header = &rows[0];
        assert!(
            header.contains(&"'=HYPERLINK(\"http://evil.example\")".to_owned()),
            "{name}: {header:?}"
        );
        assert!(
            header.contains(&"'@SUM(A1)".to_owned()),
            "{name}: {header:?}"
        );
        assert!(
            header.iter().all(|h| !h.starts_with(['=', '+', '-', '@'])),
            "{name}: {header:?}"
        );
    }
}

#[tokio::test]
async fn transforms_that_cannot_work_are_refused_when_the_job_is_saved() {
    use crate::imports::{connect_target, create_job, target_db, upload};
    use sluice_schema::schema::jobs;
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let target = target_db();
    let connection = connect_target(&app, &owner, &target).await;
    let upload = upload(&app, &owner, b"Email,Amount,Joined\na@b.c,1,2\n".to_vec()).await;
    let email = serde_json::json!({"source": "Email", "target": "email"});
    let cases = [
        (
            serde_json::json!({"type": "constant", "value": "a\u{0}b"}),
            "NUL",
        ),
        (
            serde_json::json!({"type": "default", "value": "x\u{0}"}),
            "NUL",
        ),
        (
            serde_json::json!({"type": "number", "locale": "xx"}),
            "locale",
        ),
        (
            serde_json::json!({"type": "number", "locale": "d\u{0}"}),
            "NUL",
        ),
        (
            serde_json::json!({"type": "date", "format": "%Q"}),
            "date format",
        ),
        (
            serde_json::json!({"type": "date", "format": "%d.%m.%"}),
            "date format",
        ),
        (
            serde_json::json!({"type": "date", "format": "%d\u{0}"}),
            "NUL",
        ),
        (serde_json::json!({"type": 0}), "its name"),
        (
            serde_json::json!({"type": "trim", "extra": true}),
            "no settings",
        ),
        (
            serde_json::json!({"type": "number", "locale": "de", "extra": 1}),
            "does not take",
        ),
    ];
    for (transform, says) in cases {
        let mapping = serde_json::json!([
            email,
            {"source": "Amount", "target": "first_name", "transform": transform},
        ]);
        let res = create_job(&app, &owner, &upload, &connection, mapping).await;
        assert_eq!(
            res.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{transform}"
        );
        let body: Value = res.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{transform}: {message}");
        assert!(
            !message.contains("xx") && !message.contains("%Q"),
            "{message}"
        );
    }
    let saved: i64 = jobs::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(saved, 0, "nothing was saved");

    // A German number still reads, and `de-CH` is a locale.
    let mapping = serde_json::json!([
        email,
        {"source": "Amount", "target": "amount", "transform": {"type": "number", "locale": "de-CH"}},
    ]);
    let res = create_job(&app, &owner, &upload, &connection, mapping).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_rollback_body_of_the_wrong_shape_is_refused_without_quoting_it() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let value = "Q".repeat(50_000);
    for body in [
        serde_json::json!({"force": value}),
        serde_json::json!([value]),
    ] {
        let res = app
            .client
            .post(app.url(&format!("/v1/runs/{}/rollback", uuid::Uuid::now_v7())))
            .bearer_auth(&owner)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let text = res.text().await.unwrap();
        assert!(!text.contains("QQQQ"), "the value came back");
        assert!(
            !text.contains("RollbackRequest"),
            "an internal name came back: {text}"
        );
        assert!(text.len() < 500);
    }
    // Over the body limit: the JSON error shape, not plain text.
    let res = app
        .client
        .post(app.url(&format!("/v1/runs/{}/rollback", uuid::Uuid::now_v7())))
        .bearer_auth(&owner)
        .header("content-type", "application/json")
        .body(format!("{{\"force\": \"{}\"}}", "Q".repeat(400_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn port_zero_is_refused_naming_the_port() {
    let app = spawn_app().await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let mut params = crate::connections::params_for(&app, "unused-password");
    params["port"] = serde_json::json!(0);
    let res = crate::connections::create(&app, &owner, "warehouse", params).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["field"], "params.port");
}

#[tokio::test]
async fn the_document_describes_schedules_as_the_api_reads_them() {
    fn schedules<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(text) = map
                    .get("schedule")
                    .and_then(|s| s.get("description"))
                    .and_then(Value::as_str)
                {
                    out.push(text);
                }
                map.values().for_each(|v| schedules(v, out));
            }
            Value::Array(list) => list.iter().for_each(|v| schedules(v, out)),
            _ => {}
        }
    }
    let app = spawn_app().await;
    let document: Value = app
        .client
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut found = Vec::new();
    schedules(&document, &mut found);
    assert!(!found.is_empty(), "the document describes schedules");
    for text in found {
        assert!(text.contains("five fields"), "{text}");
        assert!(!text.contains("seconds"), "{text}");
    }
}

#[tokio::test]
async fn a_json_body_that_stalls_is_answered_408() {
    let app = spawn_app_with(AppOptions {
        body_idle_timeout: Duration::from_secs(1),
        ..AppOptions::default()
    })
    .await;
    let (owner, _) = account(&app, "ada@example.com").await;
    let mut stream = send_raw(&app, |address| {
        format!(
            "POST /v1/jobs HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {owner}\r\n\
             Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{{\"name\": \"half"
        )
    })
    .await;
    let started = std::time::Instant::now();
    assert_eq!(
        answer(&mut stream, Duration::from_secs(10)).await,
        Some(408)
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_request_head_past_the_http_layers_limit_is_a_431_not_an_outage() {
    let app = spawn_app().await;
    let mut stream = send_raw(&app, |address| {
        format!(
            "GET /v1/me HTTP/1.1\r\nHost: {address}\r\nX-Padding: {}\r\n\r\n",
            "p".repeat(130 * 1024)
        )
    })
    .await;
    assert_eq!(
        answer(&mut stream, Duration::from_secs(10)).await,
        Some(431)
    );
    // The server goes on answering everyone else.
    let ready = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}
