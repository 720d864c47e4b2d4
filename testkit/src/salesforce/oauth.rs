//! Salesforce's OAuth 2.0 endpoints, speaking the documented protocol: the
//! authorization endpoint redirects with `code` and `state` (or
//! `error=access_denied`), the token endpoint checks the client, the exact
//! redirect URI, the single use of a code and its PKCE verifier (S256), and
//! answers errors as Salesforce does (`400 {"error", "error_description"}`);
//! userinfo and revoke behave likewise.

use super::{CLIENT_ID, CLIENT_SECRET};
use crate::standin::{oauth_error, pkce_matches, redirect};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub(super) struct Code {
    redirect_uri: String,
    challenge: String,
    email: String,
}

#[derive(Default)]
pub(super) struct Inner {
    pub email: String,
    pub email_verified: bool,
    pub deny: bool,
    pub codes: HashMap<String, Code>,
    /// Live access tokens, each with the user it was issued to.
    pub access: HashMap<String, String>,
    pub refresh: HashMap<String, String>,
}

pub(super) type Shared = Arc<Mutex<Inner>>;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/services/oauth2/authorize", web::get().to(authorize))
        .route("/services/oauth2/token", web::post().to(token))
        .route("/services/oauth2/userinfo", web::get().to(userinfo))
        .route("/services/oauth2/revoke", web::post().to(revoke));
}

/// Whether `token` is an access token this stand-in issued and still honours.
pub(super) fn session_is_live(inner: &Shared, token: &str) -> bool {
    inner
        .lock()
        .expect("stand-in state")
        .access
        .contains_key(token)
}

/// Issues an access and a refresh token for the signed-in user, as a
/// completed authorization would.
pub(super) fn issue(inner: &Shared) -> (String, String) {
    let mut inner = inner.lock().expect("stand-in state");
    let (access, refresh) = (secret(), secret());
    let email = inner.email.clone();
    inner.access.insert(access.clone(), email.clone());
    inner.refresh.insert(refresh.clone(), email);
    (access, refresh)
}

fn secret() -> String {
    crate::standin::secret("00D")
}

async fn authorize(
    inner: web::Data<Shared>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let q = |k: &str| query.get(k).cloned().unwrap_or_default();
    if q("client_id") != CLIENT_ID {
        return HttpResponse::BadRequest().body("error=invalid_client_id");
    }
    if q("response_type") != "code" {
        return HttpResponse::BadRequest().body("error=unsupported_response_type");
    }
    let redirect_uri = q("redirect_uri");
    // The connected app's registered callback URLs: Sluice's log-in and connect callbacks.
    let registered = [
        "/v1/auth/salesforce/callback",
        "/v1/connections/salesforce/callback",
    ];
    if !redirect_uri.starts_with("http://127.0.0.1:")
        || !registered.iter().any(|path| redirect_uri.ends_with(path))
    {
        return HttpResponse::BadRequest().body("error=redirect_uri_mismatch");
    }
    if q("code_challenge_method") != "S256" || q("code_challenge").is_empty() {
        return redirect(
            &redirect_uri,
            &[("error", "invalid_request"), ("state", &q("state"))],
        );
    }
    let mut inner = inner.lock().expect("stand-in state");
    if inner.deny {
        return redirect(
            &redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "end-user denied authorization"),
                ("state", &q("state")),
            ],
        );
    }
    let code = format!("aPrx{}", uuid::Uuid::new_v4().simple());
    let email = inner.email.clone();
    inner.codes.insert(
        code.clone(),
        Code {
            redirect_uri: redirect_uri.clone(),
            challenge: q("code_challenge"),
            email,
        },
    );
    redirect(&redirect_uri, &[("code", &code), ("state", &q("state"))])
}

async fn token(
    req: HttpRequest,
    inner: web::Data<Shared>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let f = |k: &str| form.get(k).cloned().unwrap_or_default();
    if f("client_id") != CLIENT_ID || f("client_secret") != CLIENT_SECRET {
        return oauth_error("invalid_client", "invalid client credentials");
    }
    let instance = format!("http://{}", req.connection_info().host());
    let mut inner = inner.lock().expect("stand-in state");
    let email = match f("grant_type").as_str() {
        "authorization_code" => {
            // A code works once, whatever happens next.
            let Some(code) = inner.codes.remove(&f("code")) else {
                return oauth_error("invalid_grant", "expired authorization code");
            };
            if code.redirect_uri != f("redirect_uri") {
                return oauth_error(
                    "redirect_uri_mismatch",
                    "redirect_uri must match configuration",
                );
            }
            if !pkce_matches(&f("code_verifier"), &code.challenge) {
                return oauth_error("invalid_grant", "invalid code verifier");
            }
            code.email
        }
        "refresh_token" => match inner.refresh.get(&f("refresh_token")) {
            Some(email) => email.clone(),
            None => return oauth_error("invalid_grant", "expired access/refresh token"),
        },
        _ => return oauth_error("unsupported_grant_type", "grant type not supported"),
    };
    let access = secret();
    inner.access.insert(access.clone(), email.clone());
    let mut body = json!({
        "access_token": access,
        "signature": URL_SAFE_NO_PAD.encode(Sha256::digest(access.as_bytes())),
        "scope": "openid email refresh_token",
        "instance_url": instance,
        "id": format!("{instance}/id/00Dstandin/005standin"),
        "token_type": "Bearer",
        "issued_at": "1764000000000",
    });
    if f("grant_type") == "authorization_code" {
        let refresh = secret();
        inner.refresh.insert(refresh.clone(), email);
        body["refresh_token"] = json!(refresh);
    }
    HttpResponse::Ok().json(body)
}

async fn userinfo(req: HttpRequest, inner: web::Data<Shared>) -> HttpResponse {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let inner = inner.lock().expect("stand-in state");
    match inner.access.get(token) {
        Some(email) => HttpResponse::Ok().json(json!({
            "sub": format!("{}/id/00Dstandin/005standin", req.connection_info().host()),
            "user_id": "005standin",
            "organization_id": "00Dstandin",
            "email": email,
            "email_verified": inner.email_verified,
            "name": "Stand-in User",
        })),
        None => HttpResponse::Forbidden().body("Bad_OAuth_Token"),
    }
}

/// Revoking a refresh token ends its session: the access tokens issued from
/// it stop working too, as at Salesforce.
async fn revoke(
    inner: web::Data<Shared>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let token = form.get("token").cloned().unwrap_or_default();
    let mut inner = inner.lock().expect("stand-in state");
    if let Some(email) = inner.refresh.remove(&token) {
        inner.access.retain(|_, owner| *owner != email);
        return HttpResponse::Ok().finish();
    }
    if inner.access.remove(&token).is_some() {
        return HttpResponse::Ok().finish();
    }
    oauth_error("unsupported_token_type", "this token type is not supported")
}
