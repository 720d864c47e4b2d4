//! A file in a connected Dropbox account as an import source: downloaded
//! by path (`POST /2/files/download` on Dropbox's content host, the path in
//! the `Dropbox-API-Arg` header) and streamed to the caller as it arrives.
//!
//! A download answered `401 expired_access_token` renews the access token
//! once with the connection's refresh token (`POST /oauth2/token` on the API
//! host, the app's key and secret by HTTP basic auth) and is tried again;
//! the new token is handed back for the caller to keep. Both hosts come from
//! the deployment's settings.

use futures_util::{Stream, StreamExt};
use zeroize::Zeroizing;

/// The Dropbox app and hosts of a deployment.
#[derive(Clone)]
pub struct DropboxApp {
    /// The RPC and OAuth host: `https://api.dropboxapi.com`.
    pub api_url: String,
    /// The content host: `https://content.dropboxapi.com`.
    pub content_url: String,
    pub client_id: String,
    pub client_secret: Zeroizing<String>,
}

impl std::fmt::Debug for DropboxApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DropboxApp")
            .field("api_url", &self.api_url)
            .field("content_url", &self.content_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum DropboxError {
    #[error("the Dropbox path \"{0}\" names no file (it must start with / and name a file)")]
    NotFound(String),
    #[error("Dropbox no longer accepts this connection's tokens: connect the account again")]
    Reconnect,
    #[error("Dropbox is limiting requests; try again in {0} s")]
    RateLimited(u64),
    #[error("Dropbox refused the download: {0}")]
    Refused(String),
    #[error("Dropbox could not be reached: {0}")]
    Unreachable(String),
    /// The caller's sink failed.
    #[error("the download could not be stored: {0}")]
    Sink(std::io::Error),
}

/// What Dropbox says of a downloaded file (`Dropbox-API-Result`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct FileInfo {
    pub name: String,
    #[serde(default)]
    pub size: u64,
}

/// A connected account.
pub struct Dropbox {
    http: reqwest::Client,
    app: DropboxApp,
    access_token: Zeroizing<String>,
    refresh_token: Option<Zeroizing<String>>,
    renewed: bool,
}

/// Dropbox's error body.
#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error_summary: String,
}

impl Dropbox {
    pub fn new(
        http: reqwest::Client,
        app: DropboxApp,
        access_token: Zeroizing<String>,
        refresh_token: Option<Zeroizing<String>>,
    ) -> Self {
        Self {
            http,
            app,
            access_token,
            refresh_token,
            renewed: false,
        }
    }

    /// The access token, if the client renewed it: the caller keeps it
    /// (sealed) in place of the old one.
    pub fn renewed_access_token(&self) -> Option<&Zeroizing<String>> {
        self.renewed.then_some(&self.access_token)
    }

    /// Downloads the file at `path`, giving each piece to `sink` as it
    /// arrives.
    pub async fn download(
        &mut self,
        path: &str,
        mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<FileInfo, DropboxError> {
        let (info, body) = self.open(path).await?;
        futures_util::pin_mut!(body);
        while let Some(piece) = body.next().await {
            sink(&piece?).map_err(DropboxError::Sink)?;
        }
        Ok(info)
    }

    /// Starts downloading the file at `path`: what Dropbox says of it, and
    /// its content as it arrives.
    pub async fn open(
        &mut self,
        path: &str,
    ) -> Result<
        (
            FileInfo,
            impl Stream<Item = Result<bytes::Bytes, DropboxError>> + Unpin,
        ),
        DropboxError,
    > {
        if !path.starts_with('/') || path.ends_with('/') || path.contains('\0') {
            return Err(DropboxError::NotFound(path.to_owned()));
        }
        // Header values are ASCII: serde_json escapes nothing beyond what
        // JSON needs, so other characters are escaped by hand.
        let argument = ascii_json(&serde_json::json!({ "path": path }).to_string());
        let url = format!(
            "{}/2/files/download",
            self.app.content_url.trim_end_matches('/')
        );
        let mut renewed = false;
        let response = loop {
            let response = self
                .http
                .post(&url)
                .bearer_auth(self.access_token.as_str())
                .header("Dropbox-API-Arg", &argument)
                .send()
                .await
                .map_err(|e| DropboxError::Unreachable(e.without_url().to_string()))?;
            match self.failure(response, path).await {
                Ok(response) => break response,
                Err(DropboxError::Reconnect) if !renewed && self.refresh_token.is_some() => {
                    self.renew().await?;
                    renewed = true;
                }
                Err(e) => return Err(e),
            }
        };
        let info: FileInfo = response
            .headers()
            .get("Dropbox-API-Result")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| serde_json::from_str(v).ok())
            .unwrap_or(FileInfo {
                name: path.rsplit('/').next().unwrap_or_default().to_owned(),
                size: 0,
            });
        let body = response.bytes_stream().map(|piece| {
            piece.map_err(|e| {
                DropboxError::Unreachable(format!(
                    "the download was cut short: {}",
                    e.without_url()
                ))
            })
        });
        Ok((info, body))
    }

    /// The response if it is a success; the error it says otherwise.
    async fn failure(
        &self,
        response: reqwest::Response,
        path: &str,
    ) -> Result<reqwest::Response, DropboxError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(60);
            return Err(DropboxError::RateLimited(wait));
        }
        let summary = response
            .bytes()
            .await
            .ok()
            .and_then(|b| serde_json::from_slice::<ErrorBody>(&b).ok())
            .map(|b| b.error_summary)
            .unwrap_or_default();
        // "path/not_found/.." names the reason before the first dots.
        let reason: String = summary
            .split("/..")
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '/'))
            .take(80)
            .collect();
        Err(match (status.as_u16(), reason.as_str()) {
            (401, _) => DropboxError::Reconnect,
            (409, r) if r.starts_with("path/not_found") || r.starts_with("path/not_file") => {
                DropboxError::NotFound(path.to_owned())
            }
            (_, "") => DropboxError::Refused(format!("HTTP {}", status.as_u16())),
            (_, r) => DropboxError::Refused(r.to_owned()),
        })
    }

    /// A new access token from the refresh token.
    async fn renew(&mut self) -> Result<(), DropboxError> {
        let refresh = self.refresh_token.as_ref().ok_or(DropboxError::Reconnect)?;
        #[derive(serde::Deserialize)]
        struct Token {
            access_token: String,
        }
        let response = self
            .http
            .post(format!(
                "{}/oauth2/token",
                self.app.api_url.trim_end_matches('/')
            ))
            .basic_auth(&self.app.client_id, Some(self.app.client_secret.as_str()))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
            ])
            .send()
            .await
            .map_err(|e| DropboxError::Unreachable(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(DropboxError::Reconnect);
        }
        let token: Token = response
            .json()
            .await
            .map_err(|_| DropboxError::Unreachable("an unreadable token answer".into()))?;
        self.access_token = Zeroizing::new(token.access_token);
        self.renewed = true;
        Ok(())
    }
}

/// JSON text with every non-ASCII character escaped (`\uXXXX`, surrogate
/// pairs beyond the basic plane), as an HTTP header takes it.
fn ascii_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_arguments_are_ascii_json() {
        let text = serde_json::json!({ "path": "/Übersicht/😀.csv" }).to_string();
        let header = ascii_json(&text);
        assert!(header.is_ascii());
        let back: serde_json::Value = serde_json::from_str(&header).unwrap();
        assert_eq!(back["path"], "/Übersicht/😀.csv");
    }
}
