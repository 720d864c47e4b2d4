//! Who may call the data API, and how its errors read. A REST handler takes
//! an [`ApiCall`]: it exists only once the URI and headers are within
//! Salesforce's size limits, the bearer token is a live session, and the
//! org's request limit allows one more call, which it counts.

use super::oauth;
use super::org::{self, CallKind};
use actix_web::dev::Payload;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use serde_json::{json, Value};
use std::future::{ready, Ready};

/// The daily request allocation `Sforce-Limit-Info` reports when a test set
/// no limit: a Developer Edition org's.
pub(super) const DAILY_REQUESTS: u64 = 15_000;

/// The documented ceiling on a REST request's URI, and on URI and headers
/// together: "the maximum length for the combined URI and headers is
/// 16,384 bytes. A request exceeding this limit returns a 431 Request
/// Header Fields Too Large error. If the URI itself exceeds this limit, the
/// request returns a 414 URI Too Long error" (Salesforce Help, "Maximum
/// number of rows returned by SOQL queries over the REST API", 000386264).
/// The URI counted is the request's, percent-encoded as it travels. The
/// body of either answer is not documented: a line of text here, not
/// Salesforce's JSON errors.
const URI_AND_HEADERS_LIMIT: usize = 16_384;

/// A REST error as Salesforce answers it: a status and
/// `[{"message", "errorCode"}]`.
#[derive(Debug)]
pub(super) struct RestError {
    status: StatusCode,
    body: Value,
    /// A `WWW-Authenticate` challenge, for a token without the scope.
    challenge: Option<&'static str>,
}

impl RestError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        let body = json!([{"message": message.into(), "errorCode": code}]);
        Self {
            status,
            body,
            challenge: None,
        }
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found() -> Self {
        let message = "The requested resource does not exist";
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    fn plain(status: StatusCode, text: &str) -> Self {
        Self {
            status,
            body: Value::String(text.into()),
            challenge: None,
        }
    }
}

impl std::fmt::Display for RestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

impl ResponseError for RestError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(challenge) = self.challenge {
            response.insert_header(("WWW-Authenticate", challenge));
        }
        match &self.body {
            Value::String(text) => response
                .content_type("text/plain;charset=UTF-8")
                .body(text.clone()),
            body => response
                .content_type("application/json;charset=UTF-8")
                .body(body.to_string()),
        }
    }
}

/// Why a data-API call was turned away.
pub(super) enum Denied {
    Session,
    /// A live session without the scope the data API needs.
    Scope,
    Limit,
}

/// Admits a call with `token`: a live session, within the org's limit.
pub(super) fn admit(req: &HttpRequest, token: &str, kind: CallKind) -> Result<(), Denied> {
    let (Some(sessions), Some(org)) = (
        req.app_data::<web::Data<oauth::Shared>>(),
        req.app_data::<web::Data<org::Shared>>(),
    ) else {
        return Err(Denied::Session);
    };
    let instance = format!("http://{}", req.connection_info().host());
    oauth::admit_session(sessions, token, &instance)?;
    if org.lock().expect("stand-in state").admit(kind) {
        Ok(())
    } else {
        Err(Denied::Limit)
    }
}

/// An admitted, counted REST call, with the API version of its path.
pub(super) struct ApiCall {
    pub version: String,
}

impl FromRequest for ApiCall {
    type Error = RestError;
    type Future = Ready<Result<Self, RestError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(admit_rest(req))
    }
}

fn admit_rest(req: &HttpRequest) -> Result<ApiCall, RestError> {
    let uri = req.uri().to_string().len();
    if uri > URI_AND_HEADERS_LIMIT {
        return Err(RestError::plain(StatusCode::URI_TOO_LONG, "URI Too Long"));
    }
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if uri + headers > URI_AND_HEADERS_LIMIT {
        let text = "Request Header Fields Too Large";
        return Err(RestError::plain(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            text,
        ));
    }
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("OAuth "))
        })
        .unwrap_or_default();
    let path = req.path();
    let mut segments = path.trim_end_matches('/').rsplit('/').skip(1);
    let kind = if !path.contains("/jobs/") {
        CallKind::Rest
    } else if req.method() == Method::GET && segments.next() == Some("ingest") {
        CallKind::BulkPoll
    } else {
        CallKind::Bulk
    };
    match admit(req, token, kind) {
        Ok(()) => Ok(ApiCall {
            version: req
                .match_info()
                .get("version")
                .unwrap_or("v62.0")
                .to_owned(),
        }),
        Err(Denied::Session) => Err(RestError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        )),
        Err(Denied::Scope) => Err(RestError {
            status: StatusCode::FORBIDDEN,
            body: json!({
                "error": "insufficient_scope",
                "error_description": "the token was not granted the api scope",
            }),
            challenge: Some(oauth::INSUFFICIENT_SCOPE),
        }),
        Err(Denied::Limit) => Err(RestError::new(
            StatusCode::FORBIDDEN,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        )),
    }
}

/// Salesforce's answer to a method a resource does not take.
pub(super) fn method_not_allowed(
    allowed: &'static str,
) -> impl Fn(HttpRequest) -> Ready<HttpResponse> + Clone {
    move |req: HttpRequest| {
        let message = format!(
            "HTTP Method '{}' not allowed. Allowed are {allowed}",
            req.method()
        );
        ready(
            RestError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                message,
            )
            .error_response(),
        )
    }
}

pub(super) async fn not_found() -> HttpResponse {
    RestError::not_found().error_response()
}

/// The version number of a path's `vXX.X`, as job info reports `apiVersion`.
pub(super) fn version_number(version: &str) -> f64 {
    version.trim_start_matches('v').parse().unwrap_or(62.0)
}

/// `Sforce-Limit-Info: api-usage=used/allowed`, on every REST response.
pub(super) fn add_limit_info(org: &org::Shared, headers: &mut HeaderMap) {
    let org = org.lock().expect("stand-in state");
    let used = org.calls.total;
    let allowed = org.remaining.map_or(DAILY_REQUESTS, |left| used + left);
    if let Ok(value) = HeaderValue::from_str(&format!("api-usage={used}/{allowed}")) {
        headers.insert(HeaderName::from_static("sforce-limit-info"), value);
    }
}
