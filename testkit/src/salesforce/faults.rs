//! Transient failures a test switches on: the next calls (or the next
//! records saved) answer as Salesforce does when it is busy, down for
//! maintenance, or behind a proxy that gave up. Each follows Salesforce's
//! documentation:
//!
//! * REST API Developer Guide, "Status Codes and Error Responses":
//!   `503 Service Unavailable` while the server is down for maintenance
//!   (an HTML page, not JSON) or overloaded (`SERVER_UNAVAILABLE`).
//! * "API Request Limits and Allocations": the total API requests per 24
//!   hours and the concurrent long-running requests are both answered
//!   `403 REQUEST_LIMIT_EXCEEDED`, the first with "TotalRequests Limit
//!   exceeded." (see [`SalesforceStandIn::limit_requests`]), the second
//!   with "ConcurrentPerOrgLongTxn Limit exceeded.".
//! * `UNABLE_TO_LOCK_ROW`: another transaction holds the record; answered
//!   for a whole request, or as one record's save error among sObject
//!   Collections results (the other records are saved).
//! * A proxy or load balancer in front of the org answers `502 Bad
//!   Gateway` or `504 Gateway Timeout` (HTML) when the org's answer does
//!   not reach it: the request may have been carried out.
//!
//! A fault that refuses a request does so before the request is read or
//! counted; a gateway fault lets the request be carried out (and counted)
//! and replaces its answer.
//!
//! [`SalesforceStandIn::limit_requests`]: super::SalesforceStandIn::limit_requests

use super::org::Shared;
use actix_web::http::{Method, StatusCode};
use actix_web::HttpResponse;
use serde_json::json;

/// How one data-API call fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `503` with an HTML maintenance page.
    Maintenance,
    /// `503 SERVER_UNAVAILABLE`.
    ServerUnavailable,
    /// `403 REQUEST_LIMIT_EXCEEDED`: "ConcurrentPerOrgLongTxn Limit exceeded.".
    ConcurrentLimit,
    /// `400 UNABLE_TO_LOCK_ROW` for the whole request, which did nothing.
    LockedRow,
    /// The request is carried out, then a proxy answers `502 Bad Gateway`.
    BadGateway,
    /// The request is carried out, then a proxy answers `504 Gateway Timeout`.
    GatewayTimeout,
}

impl Fault {
    /// Whether the request is carried out before the fault answers.
    pub(super) fn after(self) -> bool {
        matches!(self, Self::BadGateway | Self::GatewayTimeout)
    }

    pub(super) fn response(self) -> HttpResponse {
        let html = |status: StatusCode, title: &str| {
            HttpResponse::build(status)
                .content_type("text/html;charset=UTF-8")
                .body(format!(
                    "<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
                ))
        };
        let rest = |status: StatusCode, code: &str, message: &str| {
            HttpResponse::build(status)
                .content_type("application/json;charset=UTF-8")
                .body(json!([{"message": message, "errorCode": code}]).to_string())
        };
        match self {
            Self::Maintenance => html(
                StatusCode::SERVICE_UNAVAILABLE,
                "Salesforce is down for maintenance",
            ),
            Self::ServerUnavailable => rest(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVER_UNAVAILABLE",
                "Server temporarily unavailable. Please try again later.",
            ),
            Self::ConcurrentLimit => rest(
                StatusCode::FORBIDDEN,
                "REQUEST_LIMIT_EXCEEDED",
                "ConcurrentPerOrgLongTxn Limit exceeded.",
            ),
            Self::LockedRow => rest(
                StatusCode::BAD_REQUEST,
                "UNABLE_TO_LOCK_ROW",
                "unable to obtain exclusive access to this record",
            ),
            Self::BadGateway => html(StatusCode::BAD_GATEWAY, "502 Bad Gateway"),
            Self::GatewayTimeout => html(StatusCode::GATEWAY_TIMEOUT, "504 Gateway Timeout"),
        }
    }
}

/// Which calls a queued fault waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Calls {
    Any,
    /// Calls that can change data: any method but `GET`.
    Writes,
}

/// The fault a data-API call with `method` meets, if one queued waits for it.
pub(super) fn next(org: &Shared, method: &Method) -> Option<Fault> {
    let mut org = org.lock().expect("stand-in state");
    let at = org
        .faults
        .iter()
        .position(|(calls, _)| *calls == Calls::Any || method != Method::GET)?;
    org.faults.remove(at).map(|(_, fault)| fault)
}
