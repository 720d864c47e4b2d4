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
