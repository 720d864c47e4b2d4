//! Errors a browser meets as pages: a page, or any path outside the JSON
//! API, that answers 403, 404 or 410 to a request that takes HTML (a
//! browser's navigation) gets the error as a page in the site's layout,
//! with the same status, in place of the API's JSON error. Scripts and API
//! clients (which ask for JSON, or for anything) keep the JSON.

use super::render;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use askama::Template;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    title: &'static str,
    reason: &'static str,
}

/// What a page that is not shown says, by its status.
fn explained(status: StatusCode) -> Option<ErrorPage> {
    let (title, reason) = match status {
        StatusCode::NOT_FOUND => (
            "Page not found",
            "There is nothing here: the address may be mistyped, or what it showed was \
             deleted or belongs to another account.",
        ),
        StatusCode::GONE => (
            "No longer kept",
            "What this address showed has expired and was deleted, as the account's \
             retention settings say.",
        ),
        StatusCode::FORBIDDEN => (
            "Not allowed",
            "Your role in this account does not allow this. An owner or admin of the \
             account can do it, or change your role.",
        ),
        _ => return None,
    };
    Some(ErrorPage { title, reason })
}

/// Whether the request is a browser's navigation to a page: outside the
/// JSON API, asking for HTML.
fn wants_page(req: &actix_web::HttpRequest) -> bool {
    !req.path().starts_with("/v1/")
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
}

/// Turns a 403, 404 or 410 to a browser's navigation into a page.
pub async fn html_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?;
    let page = explained(res.status()).filter(|_| wants_page(res.request()));
    let Some(page) = page else {
        return Ok(res.map_into_boxed_body());
    };
    let status = res.status();
    let (req, _) = res.into_parts();
    Ok(ServiceResponse::new(req, render::page(status, &page)))
}
