//! What every page shares: rendering a template, the signed-in user, and
//! the redirects.

use crate::auth::{page_user, AuthUser};
use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use askama::Template;
use futures_util::future::LocalBoxFuture;

/// The signed-in user of a page, and the CSRF token its scripts send.
pub struct Viewer {
    pub user: AuthUser,
    pub csrf: String,
}

/// Why a page is not shown: the browser has no live session (it goes to
/// the log-in page), or reading the session failed.
#[derive(Debug)]
pub enum NoViewer {
    SignIn,
    Failed(ApiError),
}

impl std::fmt::Display for NoViewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SignIn => f.write_str("sign in first"),
            Self::Failed(e) => e.fmt(f),
        }
    }
}

impl ResponseError for NoViewer {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignIn => StatusCode::SEE_OTHER,
            Self::Failed(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::SignIn => see_other("/login"),
            Self::Failed(e) => e.error_response(),
        }
    }
}

/// A page's handler that takes a [`Viewer`] is shown only to a browser
/// with a live session; any other goes to the log-in page.
impl FromRequest for Viewer {
    type Error = NoViewer;
    type Future = LocalBoxFuture<'static, Result<Self, NoViewer>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match page_user(&req).await {
                Ok(Some((user, csrf))) => Ok(Viewer { user, csrf }),
                Ok(None) => Err(NoViewer::SignIn),
                Err(e) => Err(NoViewer::Failed(e)),
            }
        })
    }
}

/// A page as HTML, with `status`. Pages show what one user may see: no
/// cache keeps them.
pub fn page(status: StatusCode, template: &impl Template) -> HttpResponse {
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
    page(StatusCode::OK, template)
}

pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}
