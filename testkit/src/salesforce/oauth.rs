//! Salesforce's OAuth 2.0 endpoints, speaking the documented protocol: the
//! authorization endpoint redirects with `code` and `state` (or
//! `error=access_denied`), the token endpoint checks the client, the exact
//! redirect URI, the single use of a code and its PKCE verifier (S256), and
//! answers errors as Salesforce does (`400 {"error", "error_description"}`);
//! userinfo and revoke behave likewise.
//!
//! Modes a test switches on, each following Salesforce's documentation:
//!
//! * Refresh token rotation ("OAuth 2.0 Refresh Token Flow", "Refresh Token
//!   Rotation"): a refresh answers a new refresh token and the one used
//!   stops working (`invalid_grant`); using a spent one again revokes the
//!   session it was rotated into, access tokens included.
//! * Scopes ("UserInfo Endpoint"; RFC 6750 for the error): a token carries
//!   the scopes the authorization asked for; userinfo needs `openid`, `id`,
//!   `profile` or `email`, the data API `api` or `full`; a token without
//!   them is answered `403` with `WWW-Authenticate: Bearer
//!   error="insufficient_scope"`.
//!   A refresh token is issued only with the `refresh_token` (or
//!   `offline_access`) scope.
//! * An org moved to another instance: the token endpoint answers the new
//!   `instance_url`, and data calls to the old one are refused as an
//!   invalid session.
//! * A token answer without `instance_url`: "OAuth 2.0 Web Server Flow for
//!   Web App Integration" lists it in every answer, but an identity
//!   gateway or a misconfigured "My Domain" proxy in front of the token
//!   endpoint can drop it; the tokens are issued all the same.
//!
//! Every refresh grant received and every token revoked is recorded.

use super::session::Denied;
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
    scopes: Vec<String>,
}

/// The scopes a token has when the authorization named none, and the
/// test helper's tokens: the connected app's selected scopes.
const APP_SCOPES: [&str; 4] = ["api", "refresh_token", "openid", "email"];

/// Scopes that open the userinfo endpoint.
const IDENTITY_SCOPES: [&str; 4] = ["openid", "id", "profile", "email"];

/// Scopes that open the data API.
const DATA_SCOPES: [&str; 2] = ["api", "full"];

#[derive(Default)]
pub(super) struct Inner {
    pub email: String,
    pub email_verified: bool,
    pub deny: bool,
    pub codes: HashMap<String, Code>,
    /// Live access tokens, each with the user it was issued to.
    pub access: HashMap<String, String>,
    pub refresh: HashMap<String, String>,
    /// Whether a refresh rotates the refresh token.
    pub rotate: bool,
    /// Rotated-out refresh tokens, each with the one that replaced it.
    pub spent: HashMap<String, String>,
    /// Refresh grants received, answered or refused.
    pub refreshes: u64,
    /// How long the token endpoint takes to answer a refresh grant.
    pub refresh_delay: std::time::Duration,
    /// Tokens revoked at the revoke endpoint, in order.
    pub revoked: Vec<String>,
    /// Whether userinfo and the data API check a token's scopes.
    pub strict_scopes: bool,
    /// The scopes of every token issued (access and refresh).
    pub scopes: HashMap<String, Vec<String>>,
    /// The instance URL the org moved to, once it moved.
    pub moved_to: Option<String>,
    /// Whether token answers leave out `instance_url`.
    pub no_instance_url: bool,
    /// The connected app's selected scopes, when a test narrowed them: an
    /// authorization is granted the scopes it asks for among these.
    pub selected: Option<Vec<String>>,
}

impl Inner {
    fn scopes_of(&self, token: &str) -> &[String] {
        self.scopes
            .get(token)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    fn has_scope(&self, token: &str, any_of: &[&str]) -> bool {
        self.scopes_of(token)
            .iter()
            .any(|s| any_of.contains(&s.as_str()))
    }

    /// Ends the session `refresh` belongs to: it and the access tokens of its user.
    fn end_session(&mut self, refresh: &str) {
        if let Some(email) = self.refresh.remove(refresh) {
            self.access.retain(|_, owner| *owner != email);
        }
    }
}

pub(super) type Shared = Arc<Mutex<Inner>>;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/services/oauth2/authorize", web::get().to(authorize))
        .route("/services/oauth2/token", web::post().to(token))
        .route("/services/oauth2/userinfo", web::get().to(userinfo))
        .route("/services/oauth2/revoke", web::post().to(revoke));
}

/// Whether `token` opens the data API at `instance` (`http://host:port`):
/// a live access token, with the `api` scope when scopes are checked, at
/// the instance the org is on.
pub(super) fn admit_session(inner: &Shared, token: &str, instance: &str) -> Result<(), Denied> {
    let inner = inner.lock().expect("stand-in state");
    if !inner.access.contains_key(token) {
        return Err(Denied::Session);
    }
    if inner.moved_to.as_deref().is_some_and(|to| to != instance) {
        return Err(Denied::Session);
    }
    if inner.strict_scopes && !inner.has_scope(token, &DATA_SCOPES) {
        return Err(Denied::Scope);
    }
    Ok(())
}

/// RFC 6750's answer to a token without the scope a resource needs.
pub(super) const INSUFFICIENT_SCOPE: &str = r#"Bearer error="insufficient_scope""#;

/// Issues an access and a refresh token for the signed-in user, as a
/// completed authorization would.
pub(super) fn issue(inner: &Shared) -> (String, String) {
    let mut inner = inner.lock().expect("stand-in state");
    let (access, refresh) = (secret(), secret());
    let email = inner.email.clone();
    let scopes: Vec<String> = APP_SCOPES.iter().map(|s| (*s).to_owned()).collect();
    inner.access.insert(access.clone(), email.clone());
    inner.refresh.insert(refresh.clone(), email);
    inner.scopes.insert(access.clone(), scopes.clone());
    inner.scopes.insert(refresh.clone(), scopes);
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
    let asked = q("scope");
    let mut scopes: Vec<String> = if asked.trim().is_empty() {
        APP_SCOPES.iter().map(|s| (*s).to_owned()).collect()
    } else {
        asked.split_whitespace().map(str::to_owned).collect()
    };
    if let Some(selected) = &inner.selected {
        scopes.retain(|s| selected.contains(s));
    }
    inner.codes.insert(
        code.clone(),
        Code {
            redirect_uri: redirect_uri.clone(),
            challenge: q("code_challenge"),
            email,
            scopes,
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
    if f("grant_type") == "refresh_token" {
        let delay = {
            let mut inner = inner.lock().expect("stand-in state");
            inner.refreshes += 1;
            inner.refresh_delay
        };
        // Slow, as a busy token endpoint is: concurrent renewals overlap.
        tokio::time::sleep(delay).await;
    }
    let here = format!("http://{}", req.connection_info().host());
    let mut inner = inner.lock().expect("stand-in state");
    let instance = inner.moved_to.clone().unwrap_or(here);
    let (email, scopes, used_refresh) = match f("grant_type").as_str() {
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
            (code.email, code.scopes, None)
        }
        "refresh_token" => {
            let used = f("refresh_token");
            match inner.refresh.get(&used) {
                Some(email) => (email.clone(), inner.scopes_of(&used).to_vec(), Some(used)),
                None => {
                    // A spent token used again: the session it was rotated
                    // into ends too, as a stolen token's would.
                    let mut next = inner.spent.get(&used).cloned();
                    while let Some(token) = next {
                        next = inner.spent.get(&token).cloned();
                        inner.end_session(&token);
                    }
                    return oauth_error("invalid_grant", "expired access/refresh token");
                }
            }
        }
        _ => return oauth_error("unsupported_grant_type", "grant type not supported"),
    };
    let access = secret();
    inner.access.insert(access.clone(), email.clone());
    inner.scopes.insert(access.clone(), scopes.clone());
    let mut body = json!({
        "access_token": access,
        "signature": URL_SAFE_NO_PAD.encode(Sha256::digest(access.as_bytes())),
        "scope": scopes.join(" "),
        "instance_url": instance,
        "id": format!("{instance}/id/00Dstandin/005standin"),
        "token_type": "Bearer",
        "issued_at": "1764000000000",
    });
    if inner.no_instance_url {
        if let Some(fields) = body.as_object_mut() {
            fields.remove("instance_url");
        }
    }
    let rotate = used_refresh.as_ref().is_some_and(|_| inner.rotate);
    // A refresh token comes with the refresh_token (or offline_access) scope.
    let offline = !inner.strict_scopes
        || scopes
            .iter()
            .any(|s| s == "refresh_token" || s == "offline_access");
    if (used_refresh.is_none() && offline) || rotate {
        let refresh = secret();
        if let Some(used) = used_refresh {
            inner.refresh.remove(&used);
            inner.spent.insert(used, refresh.clone());
        }
        inner.refresh.insert(refresh.clone(), email);
        inner.scopes.insert(refresh.clone(), scopes);
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
    if inner.access.contains_key(token)
        && inner.strict_scopes
        && !inner.has_scope(token, &IDENTITY_SCOPES)
    {
        return HttpResponse::Forbidden()
            .insert_header(("WWW-Authenticate", INSUFFICIENT_SCOPE))
            .json(json!({
                "error": "insufficient_scope",
                "error_description": "the token was not granted the openid or id scope",
            }));
    }
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
    if inner.refresh.contains_key(&token) {
        inner.end_session(&token);
        inner.revoked.push(token);
        return HttpResponse::Ok().finish();
    }
    if inner.access.remove(&token).is_some() {
        inner.revoked.push(token);
        return HttpResponse::Ok().finish();
    }
    oauth_error("unsupported_token_type", "this token type is not supported")
}
