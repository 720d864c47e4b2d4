//! What the provider stand-ins share: a server on a free local port, and the
//! redirects and secrets of OAuth.

use actix_web::{web, App, HttpResponse, HttpServer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// A running stand-in server.
pub(crate) struct Server {
    pub url: String,
    handle: actix_web::dev::ServerHandle,
}

impl Server {
    /// Serves `routes` on a free port of 127.0.0.1.
    pub fn start<F>(routes: F) -> Self
    where
        F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the stand-in");
        let url = format!(
            "http://{}",
            listener.local_addr().expect("stand-in address")
        );
        let server = HttpServer::new(move || App::new().configure(routes.clone()))
            .workers(1)
            .disable_signals()
            .listen(listener)
            .expect("listen")
            .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { url, handle }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let stopping = self.handle.stop(false);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(stopping);
        }
    }
}

/// A 302 to `to` with `params` in its query.
pub(crate) fn redirect(to: &str, params: &[(&str, &str)]) -> HttpResponse {
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
    HttpResponse::Found()
        .insert_header(("Location", format!("{to}?{}", query.join("&"))))
        .finish()
}

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether `verifier` answers a PKCE S256 `challenge`.
pub(crate) fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

/// The standard OAuth error body, with the status a provider uses.
pub(crate) fn oauth_error(error: &str, description: &str) -> HttpResponse {
    HttpResponse::BadRequest()
        .json(serde_json::json!({ "error": error, "error_description": description }))
}

/// A fresh opaque token with a provider's prefix.
pub(crate) fn secret(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}
