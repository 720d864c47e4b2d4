//! Downloading a Dropbox file as a source, with the real client against the
//! stand-in: streamed, renewed once when the access token has expired,
//! and refused with a clear reason.

use sluice_connectors::dropbox::{Dropbox, DropboxApp, DropboxError};
use sluice_testkit::dropbox::{DropboxStandIn, APP_KEY, APP_SECRET};
use zeroize::Zeroizing;

fn client(standin: &DropboxStandIn, access: &str, refresh: Option<&str>) -> Dropbox {
    let app = DropboxApp {
        api_url: standin.url.clone(),
        content_url: standin.url.clone(),
        client_id: APP_KEY.into(),
        client_secret: Zeroizing::new(APP_SECRET.into()),
    };
    Dropbox::new(
        reqwest::Client::new(),
        app,
        Zeroizing::new(access.into()),
        refresh.map(|r| Zeroizing::new(r.into())),
    )
}

async fn fetch(dropbox: &mut Dropbox, path: &str) -> Result<(String, Vec<u8>), DropboxError> {
    let mut bytes = Vec::new();
    let info = dropbox
        .download(path, |piece| {
            bytes.extend_from_slice(piece);
            Ok(())
        })
        .await?;
    Ok((info.name, bytes))
}

#[tokio::test]
async fn a_file_is_downloaded_by_its_path_whatever_its_case_and_characters() {
    let standin = DropboxStandIn::start().await;
    let content: Vec<u8> = (0..200_000u32)
        .flat_map(|i| format!("row{i},Ünïcode\n").into_bytes())
        .collect();
    standin.put_file("/Exports/Übersicht 2026.csv", &content);
    let (access, refresh) = standin.issue_tokens();
    let mut dropbox = client(&standin, &access, Some(&refresh));
    let (name, bytes) = fetch(&mut dropbox, "/exports/übersicht 2026.csv")
        .await
        .unwrap();
    assert_eq!(name, "Übersicht 2026.csv");
    assert_eq!(bytes, content);
    assert!(dropbox.renewed_access_token().is_none());
}

#[tokio::test]
async fn an_expired_token_is_renewed_once_and_the_new_one_handed_back() {
    let standin = DropboxStandIn::start().await;
    standin.put_file("/a.csv", b"id\n1\n");
    let (access, refresh) = standin.issue_tokens();
    standin.expire_access_tokens();
    let mut dropbox = client(&standin, &access, Some(&refresh));
    let (_, bytes) = fetch(&mut dropbox, "/a.csv").await.unwrap();
    assert_eq!(bytes, b"id\n1\n");
    let renewed = dropbox.renewed_access_token().unwrap().to_string();
    assert_ne!(renewed, access);
    assert!(standin.live_tokens().contains(&renewed));
    let calls = standin.calls();
    assert_eq!(
        calls,
        [
            "/2/files/download",
            "/oauth2/token refresh_token",
            "/2/files/download"
        ]
    );

    // Without a refresh token, or once it is revoked, the connection must
    // be made again.
    standin.expire_access_tokens();
    let mut stale = client(&standin, &renewed, None);
    let error = fetch(&mut stale, "/a.csv").await.unwrap_err();
    assert!(matches!(error, DropboxError::Reconnect), "{error}");
    assert!(error.to_string().contains("connect the account again"));
}

#[tokio::test]
async fn a_missing_file_a_bad_path_and_a_rate_limit_are_clear_errors() {
    let standin = DropboxStandIn::start().await;
    let (access, refresh) = standin.issue_tokens();
    let mut dropbox = client(&standin, &access, Some(&refresh));
    for path in ["/nowhere.csv", "no-slash.csv", "/folder/"] {
        let error = fetch(&mut dropbox, path).await.unwrap_err();
        assert!(
            matches!(error, DropboxError::NotFound(_)),
            "{path}: {error}"
        );
        assert!(error.to_string().contains("names no file"), "{error}");
    }
    // Only the real path reached Dropbox; the malformed ones were refused
    // before any call.
    assert_eq!(standin.calls(), ["/2/files/download"]);
    standin.put_file("/a.csv", b"id\n");
    standin.rate_limit(Some(30));
    let error = fetch(&mut dropbox, "/a.csv").await.unwrap_err();
    assert!(matches!(error, DropboxError::RateLimited(30)), "{error}");
}

mod through_the_api {
    use crate::accounts::{account, call_json};
    use crate::dropbox_connect::{app_with, connect};
    use crate::imports::{connect_target, contacts_mapping, create_job, run_to_end, target_db};
    use reqwest::{Method, StatusCode};
    use serde_json::{json, Value};
    use sluice_testkit::dropbox::DropboxStandIn;

    const CONTACTS: &[u8] = b"Email;First Name;Amount;Joined\n\
        ada@example.com;Ada;1,5;01.01.2025\n\
        bob@example.com;Bob;2;02.01.2025\n";

    async fn from_dropbox(
        app: &sluice_testkit::TestApp,
        token: &str,
        connection: &str,
        path: &str,
    ) -> (StatusCode, Value) {
        let res = app
            .client
            .post(app.url("/v1/uploads/dropbox"))
            .bearer_auth(token)
            .json(&json!({ "connection_id": connection, "path": path }))
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn a_dropbox_file_becomes_an_upload_that_a_job_imports() {
        let standin = DropboxStandIn::start().await;
        let app = app_with(&standin).await;
        let (owner, _) = account(&app, "ada@example.com").await;
        let dropbox = connect(&app, &owner).await;
        standin.put_file("/Exports/Contacts.csv", CONTACTS);
        // The token has expired since the account was connected: it is
        // renewed once, and the new one kept for the next download.
        standin.expire_access_tokens();
        let (status, upload) = from_dropbox(&app, &owner, &dropbox, "/exports/contacts.csv").await;
        assert_eq!(status, StatusCode::CREATED, "{upload}");
        assert_eq!(upload["filename"], "Contacts.csv");
        assert_eq!(upload["format"], "csv");
        assert_eq!(
            upload["columns"],
            json!(["Email", "First Name", "Amount", "Joined"])
        );
        let (status, again) = from_dropbox(&app, &owner, &dropbox, "/Exports/Contacts.csv").await;
        assert_eq!(status, StatusCode::CREATED, "{again}");
        let refreshes = standin
            .calls()
            .iter()
            .filter(|c| *c == "/oauth2/token refresh_token")
            .count();
        assert_eq!(refreshes, 1, "{:?}", standin.calls());

        let target = target_db();
        let connection = connect_target(&app, &owner, &target).await;
        let upload_id = upload["id"].as_str().unwrap().to_owned();
        let job: Value = create_job(&app, &owner, &upload_id, &connection, contacts_mapping())
            .await
            .json()
            .await
            .unwrap();
        let run = run_to_end(&app, &owner, job["id"].as_str().unwrap()).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(run["rows_ok"], 2);
        let shown = call_json(
            &app,
            Method::GET,
            &format!("/v1/uploads/{upload_id}"),
            &owner,
        )
        .await;
        assert_eq!(shown["size_bytes"], CONTACTS.len());
    }

    #[tokio::test]
    async fn a_missing_file_or_another_kind_of_connection_is_refused_and_stores_nothing() {
        let standin = DropboxStandIn::start().await;
        let app = app_with(&standin).await;
        let (owner, _) = account(&app, "ada@example.com").await;
        let dropbox = connect(&app, &owner).await;
        let (status, body) = from_dropbox(&app, &owner, &dropbox, "/nowhere.csv").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["field"], "path");
        standin.put_file("/notes.docx", b"PK\x03\x04 not really a document");
        let (status, body) = from_dropbox(&app, &owner, &dropbox, "/notes.docx").await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");

        let target = target_db();
        let postgres = connect_target(&app, &owner, &target).await;
        let (status, body) = from_dropbox(&app, &owner, &postgres, "/a.csv").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["field"], "connection_id");
        // Another account's connection is as good as none.
        let (other, _) = account(&app, "eve@example.com").await;
        let (status, body) = from_dropbox(&app, &other, &dropbox, "/a.csv").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["message"], "no such connection");
        standin.rate_limit(Some(7));
        standin.put_file("/a.csv", CONTACTS);
        let res = app
            .client
            .post(app.url("/v1/uploads/dropbox"))
            .bearer_auth(&owner)
            .json(&json!({ "connection_id": dropbox, "path": "/a.csv" }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(res.headers()["retry-after"], "7");
        assert_eq!(
            std::fs::read_dir(app.store.root().join("uploads"))
                .map(|d| d.count())
                .unwrap_or(0),
            0,
            "nothing was stored"
        );
    }
}
