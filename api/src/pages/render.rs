//! What every page shares: rendering a template, the signed-in user, and
//! the redirects.

use crate::auth::{page_user, AuthUser};
use crate::error::ApiError;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

/// The signed-in user of a page, and the CSRF token its scripts send.
pub struct Viewer {
    pub user: AuthUser,
    pub csrf: String,
}

/// The page's viewer, or a redirect to the log-in page.
pub async fn viewer(req: &HttpRequest) -> Result<Result<Viewer, HttpResponse>, ApiError> {
    Ok(match page_user(req).await? {
        Some((user, csrf)) => Ok(Viewer { user, csrf }),
        None => Err(see_other("/login")),
    })
}

/// A page as HTML, with `status`. Pages show what one user may see: no
/// cache keeps them.
pub fn page(status: actix_web::http::StatusCode, template: &impl Template) -> HttpResponse {
    match template.render() {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, "a page could not be rendered");
            HttpResponse::InternalServerError().body("internal error")
        }
    }
}

pub fn ok(template: &impl Template) -> HttpResponse {
    page(actix_web::http::StatusCode::OK, template)
}

pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// A time as the pages show it.
pub fn when(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}
