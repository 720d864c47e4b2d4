//! One error type for every handler, mapped to a status code and a JSON body
//! `{"error": {"code", "message"}}`. A 5xx body is opaque: it names the request
//! id, and the cause goes to the log.

use crate::request_id;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("authentication required")]
    Unauthorized,
    #[error("email or password is wrong")]
    InvalidCredentials,
    #[error("this token belongs to region {0}; use that region's address")]
    WrongRegion(String),
    #[error("too many failed attempts; try again later")]
    TooManyRequests { retry_after_secs: u64 },
    /// More requests of one kind at once than one user may make (uploads).
    #[error("{0}")]
    TooManyAtOnce(String),
    /// The client stopped sending its body.
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Forbidden(String),
    /// An identity provider refused or could not vouch for the user.
    #[error("{0}")]
    Provider(String),
    #[error("not found")]
    NotFound,
    /// The path exists, with other methods (listed in `Allow`).
    #[error("this path answers {0} only")]
    MethodNotAllowed(String),
    /// It existed, and is gone for good (expired).
    #[error("{0}")]
    Gone(String),
    #[error("request body is too large (limit {limit} bytes)")]
    PayloadTooLarge { limit: usize },
    #[error("unsupported content type: {0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    /// The account's plan does not allow it; the message names the limit
    /// and what lifts it.
    #[error("{0}")]
    PlanLimit(String),
    /// A system Sluice reaches for the caller (Dropbox, Salesforce) refused
    /// or failed; the message says why, in the caller's terms.
    #[error("{message}")]
    Upstream {
        message: String,
        retry_after_secs: Option<u64>,
    },
    /// A connection being added could not be reached with what was given;
    /// `reason` is a stable code (`unreachable`, `authentication_failed`,
    /// `no_such_database`, `tls_failed`).
    #[error("{message}")]
    ConnectionFailed {
        reason: &'static str,
        message: String,
    },
    #[error("service temporarily unavailable")]
    Unavailable(String),
    /// Too many requests of an expensive kind (password hashing) at once.
    #[error("too many log-ins at once; try again in a moment")]
    Busy,
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::InvalidCredentials => "invalid_credentials",
            Self::WrongRegion(_) => "wrong_region",
            Self::TooManyRequests { .. } | Self::TooManyAtOnce(_) => "too_many_requests",
            Self::Timeout(_) => "request_timeout",
            Self::Forbidden(_) => "forbidden",
            Self::Provider(_) => "provider_refused",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::Gone(_) => "gone",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Invalid { .. } => "invalid",
            Self::Conflict(_) => "conflict",
            Self::PlanLimit(_) => "plan_limit",
            Self::Upstream { .. } => "upstream_failed",
            Self::ConnectionFailed { .. } => "connection_failed",
            Self::Unavailable(_) => "unavailable",
            Self::Busy => "busy",
            Self::Internal(_) => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::InvalidCredentials | Self::WrongRegion(_) => {
                StatusCode::UNAUTHORIZED
            }
            Self::TooManyRequests { .. } | Self::TooManyAtOnce(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Provider(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Gone(_) => StatusCode::GONE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Invalid { .. } | Self::ConnectionFailed { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PlanLimit(_) => StatusCode::PAYMENT_REQUIRED,
            Self::Upstream { .. } => StatusCode::BAD_GATEWAY,
            Self::Unavailable(_) | Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let request_id = request_id::current();
        let mut body = json!({ "code": self.code(), "message": self.to_string() });
        match self {
            Self::Invalid { field, .. } => body["field"] = json!(field),
            Self::ConnectionFailed { reason, .. } => body["reason"] = json!(reason),
            Self::Unavailable(cause) | Self::Internal(cause) => {
                tracing::error!(request_id = %request_id, code = self.code(), cause = %cause, "request failed");
                body["request_id"] = json!(request_id);
            }
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        if let Self::Unavailable(_) = self {
            response.insert_header((header::RETRY_AFTER, "5"));
        }
        if let Self::Busy = self {
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        if let Self::TooManyAtOnce(_) = self {
            response.insert_header((header::RETRY_AFTER, "5"));
        }
        if let Self::MethodNotAllowed(allow) = self {
            response.insert_header((header::ALLOW, allow.as_str()));
        }
        if let Self::Unauthorized = self {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let Self::Upstream {
            retry_after_secs: Some(seconds),
            ..
        } = self
        {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        if let Self::TooManyRequests { retry_after_secs } = self {
            response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        response.json(json!({ "error": body }))
    }
}

impl From<sluice_events::AppendError> for ApiError {
    fn from(e: sluice_events::AppendError) -> Self {
        use sluice_events::AppendError as E;
        match e {
            E::Conflict { .. } => Self::Conflict("the resource changed meanwhile; retry".into()),
            E::Invalid(cause) => Self::Internal(cause),
            E::TooLarge { .. } => Self::Invalid {
                field: "body".into(),
                message: format!(
                    "the request holds more than the {} KiB an event may record; send less",
                    sluice_events::MAX_EVENT_BYTES / 1024
                ),
            },
            E::Unavailable(cause) => Self::Unavailable(cause),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    /// What a user can act on: a row that is not there is a 404; a database
    /// that cannot answer right now (a lost connection, a transaction that
    /// lost a race, a statement cut short) a 503 to retry; anything else is
    /// a fault of Sluice's, an opaque 500.
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind as Kind, Error as E};
        match e {
            E::NotFound => Self::NotFound,
            E::DatabaseError(
                Kind::ClosedConnection
                | Kind::SerializationFailure
                | Kind::ReadOnlyTransaction
                | Kind::Unknown,
                _,
            ) => Self::Unavailable(e.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<r2d2_error::PoolError> for ApiError {
    fn from(e: r2d2_error::PoolError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

mod r2d2_error {
    pub type PoolError = diesel::r2d2::PoolError;
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<serde_json::Error> for ApiError {
    /// A body read by hand: the same answers as a JSON extractor's, never
    /// quoting what was sent.
    fn from(err: serde_json::Error) -> Self {
        if err.is_data() {
            let (field, message) = describe_data_error(&err.to_string());
            Self::Invalid { field, message }
        } else {
            Self::BadRequest("request body is not valid JSON".into())
        }
    }
}

impl From<actix_web::error::JsonPayloadError> for ApiError {
    fn from(e: actix_web::error::JsonPayloadError) -> Self {
        use actix_web::error::JsonPayloadError as J;
        match e {
            J::OverflowKnownLength { limit, .. } | J::Overflow { limit } => {
                Self::PayloadTooLarge { limit }
            }
            J::ContentType => Self::UnsupportedMediaType("expected application/json".into()),
            J::Payload(e) if crate::body_timeout::is_stalled(&e) => {
                Self::Timeout("the request's body sent nothing in time; send it again".into())
            }
            J::Deserialize(err) if err.is_data() => {
                let (field, message) = describe_data_error(&err.to_string());
                Self::Invalid { field, message }
            }
            J::Deserialize(err) => {
                Self::BadRequest(format!("request body is not valid JSON: {err}"))
            }
            other => Self::BadRequest(format!("unreadable request body: {other}")),
        }
    }
}

/// A field and a message for a body of the wrong shape. serde's own message
/// can quote the value it rejected (a password sent as a number, say), so it
/// is never passed on; only the field names it reports are.
pub(crate) fn describe_data_error(serde_message: &str) -> (String, String) {
    let named = |prefix: &str| {
        serde_message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .filter(|f| !f.is_empty() && f.len() <= 64)
            .map(str::to_owned)
    };
    // The transforms' own refusals (see `sluice_schema::job`) name
    // what is wrong without quoting the value: they are passed on.
    let own = serde_message
        .rsplit_once(" at line ")
        .map_or(serde_message, |(message, _)| message);
    if own.starts_with("a ") && own.contains(" transform") && own.len() <= 200 {
        return ("mapping".into(), own.to_owned());
    }
    // A job's source and operation say what to give in words of their own
    // (see `sluice_schema::job::field_of`).
    if let Some(field) = sluice_schema::job::field_of(own) {
        return (field.into(), own.to_owned());
    }
    if let Some(field) = named("missing field `") {
        let message = format!("{field} is required");
        (field, message)
    } else if let Some(field) = named("unknown field `") {
        let message = format!("{field} is not an accepted field");
        (field, message)
    } else {
        (
            "body".into(),
            "a field of the request body has the wrong type or an unusable value".into(),
        )
    }
}

/// Gives every error of the JSON API the JSON error shape, including those
/// actix-web answers itself before a handler runs (a body over the limit
/// read as bytes, an unreadable body), which come as plain text.
pub async fn json_errors(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let res = next.call(req).await?;
    let status = res.status();
    let api = res.request().path().starts_with("/v1/");
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !api || json || !(status.is_client_error() || status.is_server_error()) {
        return Ok(res.map_into_boxed_body());
    }
    let error = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge {
            limit: crate::JSON_LIMIT,
        },
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::UnsupportedMediaType("this endpoint does not take that content type".into())
        }
        StatusCode::NOT_FOUND => ApiError::NotFound,
        StatusCode::REQUEST_TIMEOUT => ApiError::Timeout("the request was not sent in time".into()),
        s if s.is_client_error() => ApiError::BadRequest("the request could not be read".into()),
        _ => ApiError::Internal(format!("a {status} answer without a body")),
    };
    let (req, _) = res.into_parts();
    Ok(actix_web::dev::ServiceResponse::new(
        req,
        error.error_response(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind as Kind, Error as E};

    fn database(kind: Kind) -> E {
        E::DatabaseError(kind, Box::new("the database's own words".to_owned()))
    }

    #[test]
    fn database_errors_answer_as_a_user_expects() {
        let status = |e: E| ApiError::from(e).status_code();
        assert_eq!(status(E::NotFound), StatusCode::NOT_FOUND);
        for passing in [
            Kind::ClosedConnection,
            Kind::SerializationFailure,
            Kind::ReadOnlyTransaction,
            Kind::Unknown,
        ] {
            assert_eq!(status(database(passing)), StatusCode::SERVICE_UNAVAILABLE);
        }
        for fault in [
            Kind::UniqueViolation,
            Kind::ForeignKeyViolation,
            Kind::CheckViolation,
        ] {
            assert_eq!(status(database(fault)), StatusCode::INTERNAL_SERVER_ERROR);
        }
        assert_eq!(
            status(E::QueryBuilderError("a query built wrong".into())),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn an_unavailable_database_asks_for_a_retry_and_no_answer_quotes_the_database() {
        let res = ApiError::from(database(Kind::ClosedConnection)).error_response();
        assert_eq!(res.headers().get(header::RETRY_AFTER).unwrap(), "5");
        for e in [
            database(Kind::ClosedConnection),
            database(Kind::UniqueViolation),
        ] {
            let err = ApiError::from(e);
            assert!(!err.to_string().contains("own words"), "{err}");
        }
    }
}
