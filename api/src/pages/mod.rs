//! The web pages: server-rendered HTML (askama templates) with one small
//! script for what a page does with the JSON API (uploads, forms sent as
//! JSON, live progress). Pages read the session cookie; everything they
//! change goes through `/v1` with the session's CSRF token, so the pages
//! hold no logic of their own beyond showing what the API keeps.
//!
//! Every response carries the security headers of [`headers`]: a content
//! security policy that allows only this origin's scripts and styles, no
//! framing, no sniffing, no referrer to other sites; and, where users reach
//! Sluice over HTTPS, HSTS ([`HSTS`]).

mod account_pages;
mod assets;
mod auth_pages;
mod errors;
mod import_pages;
mod job_pages;
mod job_words;
mod people_pages;
mod render;
mod words;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;

pub use errors::html_errors;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/",
        web::get().to(|| async { render::see_other("/app/runs") }),
    )
    .configure(assets::routes)
    .route("/login", web::get().to(auth_pages::login_page))
    .route("/login", web::post().to(auth_pages::login))
    .route("/signup", web::get().to(auth_pages::signup_page))
    .route("/signup", web::post().to(auth_pages::signup))
    .route("/logout", web::post().to(auth_pages::logout))
    .route(
        "/app",
        web::get().to(|| async { render::see_other("/app/runs") }),
    )
    .route(
        "/app/connections",
        web::get().to(account_pages::connections),
    )
    .route("/app/settings", web::get().to(account_pages::settings))
    .route("/app/people", web::get().to(people_pages::people))
    .route("/app/tokens", web::get().to(people_pages::tokens))
    .route("/app/imports/new", web::get().to(import_pages::new_import))
    .route("/app/jobs", web::get().to(job_pages::jobs_page))
    .route("/app/jobs/{id}", web::get().to(job_pages::job_page))
    .route("/app/runs", web::get().to(import_pages::runs))
    .route("/app/runs/{id}", web::get().to(import_pages::run));
}

/// Browsers that saw it use only HTTPS for this host, and its subdomains,
/// for a year.
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Whether users reach this server over HTTPS: it serves TLS itself, or
/// its public address is `https://` (a TLS proxy in front). A browser
/// ignores HSTS received over plain HTTP, so sending it to a request that
/// came past the proxy is harmless.
fn over_https(req: &ServiceRequest) -> bool {
    req.app_config().secure()
        || req
            .app_data::<web::Data<crate::AppState>>()
            .is_some_and(|state| state.public_url.starts_with("https://"))
}

/// The security headers, on every response (the JSON API's too).
pub async fn headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let https = over_https(&req);
    let mut res = next.call(req).await?;
    let set = res.headers_mut();
    if https {
        set.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    let fixed = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
             object-src 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            header::HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=()",
        ),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in fixed {
        set.insert(name, HeaderValue::from_static(value));
    }
    Ok(res)
}
