//! `/healthz` (the process answers), `/readyz` (database and broker
//! reachable, events reaching the broker),
//! `/metrics` (Prometheus text format) and `/v1/openapi.json` (the API's
//! OpenAPI document).

use crate::error::ApiError;
use crate::openapi::ErrorBody;
use crate::telemetry::Metrics;
use crate::views::account as view;
use crate::AppState;
use actix_web::{get, web, HttpResponse};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The process answers.
#[utoipa::path(responses((status = 200, description = "The process answers.", body = view::Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(view::Health {
        status: "ok".into(),
    })
}

/// Whether the database answers, the broker connection is up, and the
/// relay has published every event older than `SLUICE_RELAY_MAX_LAG`.
#[utoipa::path(responses(
    (status = 200, description = "Both are reachable.", body = view::Readiness),
    (status = 503, description = "One is not: `checks` says which.", body = view::Readiness,
        headers(("Retry-After" = u64, description = "Seconds to wait before asking again (5)."))),
))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.platform.pool.clone();
    let cursor = sluice_events::relay::cursor::cursor_name(&state.platform.config.topology);
    let oldest = web::block(move || {
        let mut conn = pool.get_timeout(Duration::from_secs(2))?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
            sluice_events::relay::cursor::oldest_unpublished(&mut conn, &cursor)?,
        )
    })
    .await
    .ok()
    .and_then(Result::ok);
    let database = oldest.is_some();
    let now = state.platform.clock.now();
    let lag = oldest
        .flatten()
        .map(|at| (now - at).to_std().unwrap_or_default())
        .unwrap_or_default();
    let relay = database && lag <= state.relay_max_lag;
    let broker = state.platform.broker_up.load(Ordering::Relaxed);
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let ready = database && broker && relay;
    let relay = if relay {
        "ok"
    } else if database {
        "lagging"
    } else {
        "unavailable"
    };
    let body = view::Readiness {
        status: if ready { "ready" } else { "unavailable" }.into(),
        checks: view::ReadinessChecks {
            database: word(database).into(),
            broker: word(broker).into(),
            relay: relay.into(),
        },
        relay_lag_seconds: lag.as_secs(),
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "5"))
            .json(body)
    }
}

/// The process's metrics: HTTP requests and latency by route, events
/// appended and published, relay lag, deliveries by consumer and outcome.
#[utoipa::path(responses(
    (status = 200, description = "Prometheus' text format (OpenMetrics).", body = String,
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
    (status = 500, description = "`internal`: the metrics could not be encoded.", body = ErrorBody),
))]
#[get("/metrics")]
pub async fn metrics(metrics: web::Data<Metrics>) -> Result<HttpResponse, ApiError> {
    let mut text = String::new();
    let encoded = match metrics.registry.lock() {
        Ok(registry) => prometheus_client::encoding::text::encode(&mut text, &registry).is_ok(),
        Err(_) => false,
    };
    if !encoded {
        return Err(ApiError::Internal(
            "the metrics could not be encoded".into(),
        ));
    }
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(text))
}

/// This document: the OpenAPI 3.1 description of the whole HTTP API.
#[utoipa::path(responses(
    (status = 200, description = "The OpenAPI document.", body = Object, content_type = "application/json"),
    (status = 500, description = "`internal`: the document could not be made.", body = ErrorBody),
))]
#[get("/v1/openapi.json")]
pub async fn openapi() -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(crate::openapi::json()?))
}
