//! `/healthz` (the process answers), `/readyz` (database and broker reachable),
//! `/metrics` (Prometheus text format).

use crate::telemetry::Metrics;
use crate::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.platform.pool.clone();
    let database = web::block(move || {
        use diesel::RunQueryDsl;
        let mut conn = pool.get_timeout(Duration::from_secs(2))?;
        diesel::sql_query("SELECT 1").execute(&mut conn)?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    })
    .await
    .map(|r| r.is_ok())
    .unwrap_or(false);
    let broker = state.platform.broker_up.load(Ordering::Relaxed);
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let body = json!({
        "status": if database && broker { "ready" } else { "unavailable" },
        "checks": { "database": word(database), "broker": word(broker) },
    });
    if database && broker {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "5"))
            .json(body)
    }
}

pub async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    let mut text = String::new();
    let encoded = match metrics.registry.lock() {
        Ok(registry) => prometheus_client::encoding::text::encode(&mut text, &registry).is_ok(),
        Err(_) => false,
    };
    if !encoded {
        return HttpResponse::InternalServerError().finish();
    }
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(text)
}
