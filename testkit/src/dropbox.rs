//! A stand-in for Dropbox's OAuth 2.0 endpoints and the RPC calls a
//! connection makes, speaking the documented protocol:
//!
//! * `GET /oauth2/authorize` redirects with `code` and `state` (or
//!   `error=access_denied`); `token_access_type=offline` is what earns a
//!   refresh token.
//! * `POST /oauth2/token` takes the client by HTTP basic auth or in the body,
//!   checks the exact redirect URI, the single use of a code and its PKCE
//!   verifier, and answers `400 {"error", "error_description"}`. Access
//!   tokens are short-lived (`expires_in`), the response names `account_id`.
//! * RPC endpoints (`/2/users/get_current_account`, `/2/auth/token/revoke`)
//!   take no body when they have no arguments (a JSON content type with an
//!   empty body is a 400 in plain text), answer `401` with
//!   `{"error_summary": "expired_access_token/..", "error": {".tag": ..}}`, and
//!   `429` with `Retry-After` when the app is rate limited. Revoking an access
//!   token also revokes its refresh token and every access token issued from
//!   it.
//! * `POST /2/files/download` (the content host, here the same server)
//!   takes its argument in the `Dropbox-API-Arg` header and no body, and
//!   answers the file with its metadata in `Dropbox-API-Result`, or `409
//!   path/not_found`.

use crate::standin::{oauth_error, pkce_matches, redirect, secret, Server};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::SecretString;
use serde_json::json;
use sluice_api::auth::dropbox::DropboxConfig;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

pub const APP_KEY: &str = "standinappkey01";
pub const APP_SECRET: &str = "standin-app-secret-0123456789";
const ACCOUNT_ID: &str = "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc";

struct Code {
    redirect_uri: String,
    challenge: String,
    offline: bool,
}

#[derive(Default)]
struct Inner {
    deny: bool,
    /// Seconds of `Retry-After` while the app is rate limited.
    rate_limited: Option<u64>,
    codes: HashMap<String, Code>,
    /// Live access tokens, each with the refresh token it came from (if any).
    access: HashMap<String, Option<String>>,
    /// Access tokens past their four hours.
    expired: HashSet<String>,
    refresh: HashSet<String>,
    calls: Vec<String>,
    /// Files by lower-case path: the path as shown, and the content.
    files: HashMap<String, (String, Vec<u8>)>,
}

type Shared = Arc<Mutex<Inner>>;

pub struct DropboxStandIn {
    pub url: String,
    inner: Shared,
    _server: Server,
}

impl DropboxStandIn {
    pub async fn start() -> Self {
        let inner: Shared = Arc::new(Mutex::new(Inner::default()));
        let data = web::Data::new(inner.clone());
        let server = Server::start(move |cfg| {
            cfg.app_data(data.clone())
                .app_data(web::FormConfig::default().limit(16 * 1024))
                .route("/oauth2/authorize", web::get().to(authorize))
                .route("/oauth2/token", web::post().to(token))
                .route(
                    "/2/users/get_current_account",
                    web::post().to(get_current_account),
                )
                .route("/2/auth/token/revoke", web::post().to(revoke))
                .route("/2/files/download", web::post().to(download));
        });
        Self {
            url: server.url.clone(),
            inner,
            _server: server,
        }
    }

    /// Every host (www.dropbox.com, api.dropboxapi.com and
    /// content.dropboxapi.com) is this server.
    pub fn config(&self) -> DropboxConfig {
        DropboxConfig {
            authorize_url: self.url.clone(),
            api_url: self.url.clone(),
            content_url: self.url.clone(),
            client_id: APP_KEY.into(),
            client_secret: SecretString::from(APP_SECRET.to_owned()),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("stand-in state")
    }

    /// Whether the user clicks "Cancel" on the consent page.
    pub fn deny_consent(&self, deny: bool) {
        self.inner().deny = deny;
    }

    /// Every access token passes its expiry, as four hours after issue.
    pub fn expire_access_tokens(&self) {
        let mut inner = self.inner();
        let tokens: Vec<String> = inner.access.drain().map(|(t, _)| t).collect();
        inner.expired.extend(tokens);
    }

    /// Answers every RPC call with 429 and this `Retry-After`, or stops.
    pub fn rate_limit(&self, retry_after: Option<u64>) {
        self.inner().rate_limited = retry_after;
    }

    /// Live access and refresh tokens.
    pub fn live_tokens(&self) -> Vec<String> {
        let inner = self.inner();
        inner
            .access
            .keys()
            .chain(inner.refresh.iter())
            .cloned()
            .collect()
    }

    /// Every token ever issued, live or not (to look for them elsewhere).
    pub fn issued_tokens(&self) -> Vec<String> {
        let inner = self.inner();
        inner
            .access
            .keys()
            .chain(inner.expired.iter())
            .chain(inner.refresh.iter())
            .cloned()
            .collect()
    }

    /// An access token and its refresh token, as a completed offline
    /// authorization gives them (for tests of the API calls themselves).
    pub fn issue_tokens(&self) -> (String, String) {
        let mut inner = self.inner();
        let refresh = secret("dbrefresh");
        let access = secret("sl.");
        inner.refresh.insert(refresh.clone());
        inner.access.insert(access.clone(), Some(refresh.clone()));
        (access, refresh)
    }

    /// Puts a file in the account at `path` (such as `/Exports/contacts.csv`).
    pub fn put_file(&self, path: &str, content: &[u8]) {
        self.inner()
            .files
            .insert(path.to_lowercase(), (path.to_owned(), content.to_vec()));
    }

    /// The paths of the RPC and token calls received, in order.
    pub fn calls(&self) -> Vec<String> {
        self.inner().calls.clone()
    }
}

async fn authorize(
    inner: web::Data<Shared>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let q = |k: &str| query.get(k).cloned().unwrap_or_default();
    // Dropbox shows these on its own page rather than redirecting.
    if q("client_id") != APP_KEY {
        return HttpResponse::BadRequest().body("Invalid client_id");
    }
    if q("response_type") != "code" {
        return HttpResponse::BadRequest().body("Invalid response_type");
    }
    let redirect_uri = q("redirect_uri");
    if !redirect_uri.starts_with("http://127.0.0.1:")
        || !redirect_uri.ends_with("/v1/connections/dropbox/callback")
    {
        return HttpResponse::BadRequest().body("Invalid redirect_uri");
    }
    if !matches!(q("code_challenge_method").as_str(), "S256" | "plain")
        || q("code_challenge").len() < 43
    {
        return HttpResponse::BadRequest().body("Invalid code_challenge");
    }
    let mut inner = inner.lock().expect("stand-in state");
    if inner.deny {
        return redirect(
            &redirect_uri,
            &[
                ("error", "access_denied"),
                (
                    "error_description",
                    "The user chose not to give your app access to their Dropbox account.",
                ),
                ("state", &q("state")),
            ],
        );
    }
    let code = secret("dbcode");
    inner.codes.insert(
        code.clone(),
        Code {
            redirect_uri: redirect_uri.clone(),
            challenge: q("code_challenge"),
            offline: q("token_access_type") == "offline",
        },
    );
    redirect(&redirect_uri, &[("code", &code), ("state", &q("state"))])
}

/// The client, from HTTP basic auth or the body (Dropbox takes either).
fn client_ok(req: &HttpRequest, form: &HashMap<String, String>) -> bool {
    let basic = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok());
    let (id, secret) = match basic {
        Some(pair) => match pair.split_once(':') {
            Some((id, secret)) => (id.to_owned(), secret.to_owned()),
            None => return false,
        },
        None => (
            form.get("client_id").cloned().unwrap_or_default(),
            form.get("client_secret").cloned().unwrap_or_default(),
        ),
    };
    id == APP_KEY && secret == APP_SECRET
}

async fn token(
    req: HttpRequest,
    inner: web::Data<Shared>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let f = |k: &str| form.get(k).cloned().unwrap_or_default();
    let mut inner = inner.lock().expect("stand-in state");
    inner
        .calls
        .push(format!("/oauth2/token {}", f("grant_type")));
    if !client_ok(&req, &form) {
        return oauth_error("invalid_client", "Invalid client_id or client_secret");
    }
    let (refresh, new_refresh) = match f("grant_type").as_str() {
        "authorization_code" => {
            // A code works once, whatever happens next.
            let Some(code) = inner.codes.remove(&f("code")) else {
                return oauth_error("invalid_grant", "code doesn't exist or has expired");
            };
            if code.redirect_uri != f("redirect_uri") {
                return oauth_error("invalid_grant", "redirect_uri mismatch");
            }
            if !pkce_matches(&f("code_verifier"), &code.challenge) {
                return oauth_error("invalid_grant", "invalid code verifier");
            }
            if code.offline {
                let refresh = secret("dbrefresh");
                inner.refresh.insert(refresh.clone());
                (Some(refresh), true)
            } else {
                (None, false)
            }
        }
        "refresh_token" => {
            let refresh = f("refresh_token");
            if !inner.refresh.contains(&refresh) {
                return oauth_error("invalid_grant", "refresh token is invalid or revoked");
            }
            (Some(refresh), false)
        }
        _ => return oauth_error("unsupported_grant_type", "grant_type is not supported"),
    };
    let access = secret("sl.");
    inner.access.insert(access.clone(), refresh.clone());
    let mut body = json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": 14400,
        "scope": "account_info.read files.content.read",
        "account_id": ACCOUNT_ID,
        "uid": "12345",
    });
    if new_refresh {
        body["refresh_token"] = json!(refresh);
    }
    HttpResponse::Ok().json(body)
}

/// Checks an RPC call without arguments: the rate limit, the body, the token.
fn rpc(
    req: &HttpRequest,
    body: &web::Bytes,
    inner: &mut Inner,
    endpoint: &str,
) -> Result<String, Box<HttpResponse>> {
    inner.calls.push(format!("/2/{endpoint}"));
    rate_limited(inner)?;
    let json_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let empty = body.is_empty() || body.as_ref() == b"null";
    if (json_type && body.is_empty()) || !empty {
        return Err(bad_request(
            endpoint,
            "request body: could not decode input as JSON",
        ));
    }
    access_token(req, inner)
}

/// Dropbox's plain-text 400 for a malformed call.
fn bad_request(endpoint: &str, what: &str) -> Box<HttpResponse> {
    Box::new(
        HttpResponse::BadRequest()
            .content_type("text/plain; charset=utf-8")
            .body(format!(
                "Error in call to API function \"{endpoint}\": {what}"
            )),
    )
}

/// 429 with `Retry-After` while the app is rate limited.
fn rate_limited(inner: &Inner) -> Result<(), Box<HttpResponse>> {
    match inner.rate_limited {
        Some(seconds) => Err(Box::new(
            HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", seconds.to_string()))
                .json(json!({
                    "error_summary": "too_many_requests/..",
                    "error": { "reason": { ".tag": "too_many_requests" }, "retry_after": seconds },
                })),
        )),
        None => Ok(()),
    }
}

/// The call's live access token, or Dropbox's 401.
fn access_token(req: &HttpRequest, inner: &Inner) -> Result<String, Box<HttpResponse>> {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    if inner.access.contains_key(&token) {
        return Ok(token);
    }
    let tag = if inner.expired.contains(&token) {
        "expired_access_token"
    } else {
        "invalid_access_token"
    };
    Err(Box::new(HttpResponse::Unauthorized().json(json!({
        "error_summary": format!("{tag}/..."),
        "error": { ".tag": tag },
    }))))
}

/// `POST /2/files/download` (content host): the argument in the
/// `Dropbox-API-Arg` header (ASCII JSON), no body; the file's metadata in
/// `Dropbox-API-Result`. Paths are case-insensitive. A missing file is
/// `409 path/not_found`.
async fn download(req: HttpRequest, body: web::Bytes, inner: web::Data<Shared>) -> HttpResponse {
    const ENDPOINT: &str = "files/download";
    let mut inner = inner.lock().expect("stand-in state");
    inner.calls.push(format!("/2/{ENDPOINT}"));
    let checked = (|| {
        rate_limited(&inner)?;
        let content_type = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !matches!(
            content_type,
            "" | "application/octet-stream" | "text/plain; charset=dropbox-cors-hack"
        ) {
            return Err(bad_request(
                ENDPOINT,
                &format!("Bad HTTP \"Content-Type\" header: \"{content_type}\"."),
            ));
        }
        if !body.is_empty() {
            return Err(bad_request(ENDPOINT, "this function takes no request body"));
        }
        let argument = req
            .headers()
            .get("Dropbox-API-Arg")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| serde_json::from_str::<serde_json::Value>(v).ok())
            .and_then(|v| v["path"].as_str().map(str::to_owned))
            .ok_or_else(|| {
                bad_request(
                    ENDPOINT,
                    "HTTP header \"Dropbox-API-Arg\": could not decode input as JSON",
                )
            })?;
        access_token(&req, &inner)?;
        Ok(argument)
    })();
    let path = match checked {
        Ok(path) => path,
        Err(res) => return *res,
    };
    let Some((display, bytes)) = inner.files.get(&path.to_lowercase()) else {
        return HttpResponse::Conflict().json(json!({
            "error_summary": "path/not_found/..",
            "error": { ".tag": "path", "path": { ".tag": "not_found" } },
        }));
    };
    let name = display.rsplit('/').next().unwrap_or_default();
    let metadata = json!({
        "name": name,
        "path_lower": display.to_lowercase(),
        "path_display": display,
        "id": "id:a4ayc_80_OEAAAAAAAAAXw",
        "size": bytes.len(),
        "is_downloadable": true,
    });
    HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header(("Dropbox-API-Result", ascii_json(&metadata.to_string())))
        .body(bytes.clone())
}

/// JSON text with non-ASCII characters escaped, as Dropbox puts it in a
/// header.
fn ascii_json(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                let mut units = [0u16; 2];
                c.encode_utf16(&mut units)
                    .iter()
                    .map(|u| format!("\\u{u:04x}"))
                    .collect()
            }
        })
        .collect()
}

async fn get_current_account(
    req: HttpRequest,
    body: web::Bytes,
    inner: web::Data<Shared>,
) -> HttpResponse {
    let mut inner = inner.lock().expect("stand-in state");
    match rpc(&req, &body, &mut inner, "users/get_current_account") {
        Ok(_) => HttpResponse::Ok().json(json!({
            "account_id": ACCOUNT_ID,
            "name": { "given_name": "Stand", "surname": "In", "display_name": "Stand In" },
            "email": "standin@example.com",
            "email_verified": true,
            "disabled": false,
            "country": "DE",
            "locale": "en",
            "account_type": { ".tag": "basic" },
        })),
        Err(res) => *res,
    }
}

async fn revoke(req: HttpRequest, body: web::Bytes, inner: web::Data<Shared>) -> HttpResponse {
    let mut inner = inner.lock().expect("stand-in state");
    match rpc(&req, &body, &mut inner, "auth/token/revoke") {
        Ok(token) => {
            if let Some(Some(refresh)) = inner.access.remove(&token) {
                inner.refresh.remove(&refresh);
                inner
                    .access
                    .retain(|_, from| from.as_ref() != Some(&refresh));
            }
            HttpResponse::Ok()
                .content_type("application/json")
                .body("null")
        }
        Err(res) => *res,
    }
}
