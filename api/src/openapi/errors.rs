//! The error body every 4xx and 5xx answer has (see `crate::error`), and
//! the sets of error responses many operations share.

#![expect(
    dead_code,
    reason = "these types describe answers in the document; nothing builds them"
)]

use serde::Serialize;
use utoipa::{IntoResponses, ToSchema};

/// The body of every error: `{"error": {"code", "message", "field"?,
/// "request_id"?}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// What went wrong, for a person to read.
    pub message: String,
    /// With `invalid`: the request's field at fault (`params.host`,
    /// `source.upload_id`; `body` when the body as a whole is).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<String>,
    /// With `connection_failed`: why, as a code: `unreachable`,
    /// `authentication_failed`, `no_such_database` or `tls_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub reason: Option<String>,
    /// With `unavailable` and `internal`: the request's id, to quote when
    /// reporting it (the cause is in the log, never in the answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub request_id: Option<String>,
}

/// The error's code, one for each kind of error (`ApiError::code`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    InvalidCredentials,
    WrongRegion,
    TooManyRequests,
    RequestTimeout,
    Forbidden,
    ProviderRefused,
    NotFound,
    MethodNotAllowed,
    Gone,
    PayloadTooLarge,
    UnsupportedMediaType,
    Invalid,
    Conflict,
    PlanLimit,
    UpstreamFailed,
    ConnectionFailed,
    Unavailable,
    Busy,
    Internal,
}

/// What any operation may answer when Sluice itself fails.
#[derive(IntoResponses)]
pub enum Failures {
    /// `internal`: something failed that should not have; the body names
    /// the request id to report.
    #[response(status = 500)]
    Internal(ErrorBody),
    /// `unavailable`: the database, or a system this request needs, is out
    /// of reach for the moment; retry. `busy` (log-in, sign-up, adding a
    /// user: they hash a password): too many passwords are being hashed at
    /// once; retry.
    #[response(
        status = 503,
        headers(("Retry-After" = u64, description = "Seconds to wait before retrying (5; 1 when busy)."))
    )]
    Unavailable(ErrorBody),
}

/// What any operation that needs a signed-in user may answer besides its
/// own: no token, or not a live one, and Sluice's own failures.
#[derive(IntoResponses)]
pub enum Authenticated {
    /// `unauthorized`: no token, or one that is unknown, expired or
    /// revoked; `wrong_region`: a token of another region (the message
    /// names it).
    #[response(
        status = 401,
        headers(("WWW-Authenticate" = String, description = "`Bearer`, with `unauthorized`."))
    )]
    Unauthorized(ErrorBody),
    /// `internal`: something failed that should not have; the body names
    /// the request id to report.
    #[response(status = 500)]
    Internal(ErrorBody),
    /// `unavailable`: the database, or a system this request needs, is out
    /// of reach for the moment; retry. `busy` (adding a user: it hashes a
    /// password): too many passwords are being hashed at once; retry.
    #[response(
        status = 503,
        headers(("Retry-After" = u64, description = "Seconds to wait before retrying (5; 1 when busy)."))
    )]
    Unavailable(ErrorBody),
}

/// What an operator endpoint may answer besides its own.
#[derive(IntoResponses)]
pub enum OperatorOnly {
    /// `unauthorized`: no bearer token, or not the operator's.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// `not_found`: this deployment has no operator token
    /// (`SLUICE_OPS_TOKEN`), so the operator endpoints do not exist; or
    /// what the path names does not exist.
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// `internal`: something failed that should not have.
    #[response(status = 500)]
    Internal(ErrorBody),
    /// `unavailable`: the database, or a system this request needs, is out
    /// of reach for the moment; retry.
    #[response(
        status = 503,
        headers(("Retry-After" = u64, description = "Seconds to wait before retrying (5)."))
    )]
    Unavailable(ErrorBody),
}

/// What any operation with a JSON body may answer about the body itself.
/// An operation's own 422 describes the checks it makes beyond these.
#[derive(IntoResponses)]
pub enum JsonBody {
    /// `bad_request`: the body is not JSON.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// `request_timeout`: the body stopped coming before it was whole.
    #[response(status = 408)]
    Stalled(ErrorBody),
    /// `payload_too_large`: the body is over 256 KiB.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// `unsupported_media_type`: the body is not sent as
    /// `application/json`.
    #[response(status = 415)]
    NotJson(ErrorBody),
    /// `invalid`: a field is missing, not one the operation takes, or of the
    /// wrong type; `field` names it.
    #[response(status = 422)]
    Invalid(ErrorBody),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use utoipa::PartialSchema;

    /// Every error there is, one of each kind: adding a kind to `ApiError`
    /// fails to compile here until it is added below and to [`ErrorCode`].
    fn every_error() -> Vec<ApiError> {
        let all = vec![
            ApiError::BadRequest(String::new()),
            ApiError::Unauthorized,
            ApiError::InvalidCredentials,
            ApiError::WrongRegion(String::new()),
            ApiError::TooManyRequests {
                retry_after_secs: 1,
            },
            ApiError::Forbidden(String::new()),
            ApiError::Provider(String::new()),
            ApiError::NotFound,
            ApiError::Gone(String::new()),
            ApiError::PayloadTooLarge { limit: 1 },
            ApiError::UnsupportedMediaType(String::new()),
            ApiError::Invalid {
                field: String::new(),
                message: String::new(),
            },
            ApiError::Conflict(String::new()),
            ApiError::PlanLimit(String::new()),
            ApiError::Upstream {
                message: String::new(),
                retry_after_secs: None,
            },
            ApiError::ConnectionFailed {
                reason: "unreachable",
                message: String::new(),
            },
            ApiError::Unavailable(String::new()),
            ApiError::Busy,
            ApiError::Internal(String::new()),
            ApiError::TooManyAtOnce(String::new()),
            ApiError::Timeout(String::new()),
            ApiError::MethodNotAllowed(String::new()),
        ];
        for error in &all {
            match error {
                ApiError::BadRequest(_)
                | ApiError::Unauthorized
                | ApiError::InvalidCredentials
                | ApiError::WrongRegion(_)
                | ApiError::TooManyRequests { .. }
                | ApiError::TooManyAtOnce(_)
                | ApiError::Timeout(_)
                | ApiError::Forbidden(_)
                | ApiError::Provider(_)
                | ApiError::NotFound
                | ApiError::MethodNotAllowed(_)
                | ApiError::Gone(_)
                | ApiError::PayloadTooLarge { .. }
                | ApiError::UnsupportedMediaType(_)
                | ApiError::Invalid { .. }
                | ApiError::Conflict(_)
                | ApiError::PlanLimit(_)
                | ApiError::Upstream { .. }
                | ApiError::ConnectionFailed { .. }
                | ApiError::Unavailable(_)
                | ApiError::Busy
                | ApiError::Internal(_) => {}
            }
        }
        all
    }

    #[test]
    fn the_documented_codes_are_exactly_the_errors_codes() {
        let schema = serde_json::to_value(ErrorCode::schema()).unwrap();
        let mut documented: Vec<String> = schema["enum"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect();
        let mut codes: Vec<String> = every_error().iter().map(|e| e.code().into()).collect();
        documented.sort();
        codes.sort();
        codes.dedup();
        assert_eq!(documented, codes);
    }
}
