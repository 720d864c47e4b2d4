//! Per-request tracing and Prometheus metrics. Logs name the route pattern,
//! never the query string or the body.

use crate::request_id;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Mutex;
use std::time::Instant;
use tracing::Instrument;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

/// The process's registry and the HTTP metrics.
pub struct Metrics {
    pub registry: Mutex<Registry>,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
}

impl Metrics {
    pub fn new(events: &sluice_events::EventMetrics) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "sluice_http_requests",
            "HTTP requests answered",
            requests.clone(),
        );
        registry.register(
            "sluice_http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        events.register(&mut registry);
        Self {
            registry: Mutex::new(registry),
            requests,
            latency,
        }
    }
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id::choose(
        req.headers()
            .get(request_id::HEADER)
            .and_then(|v| v.to_str().ok()),
    );
    let method = req.method().to_string();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let metrics = req.app_data::<actix_web::web::Data<Metrics>>().cloned();
    let span = tracing::info_span!("request", request_id = %id, %method, %route);
    let header_value = HeaderValue::from_str(&id).ok();
    let mut res = request_id::scope(id, next.call(req).instrument(span.clone())).await?;
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    if let Some(value) = header_value {
        res.headers_mut()
            .insert(HeaderName::from_static(request_id::HEADER), value);
    }
    if let Some(metrics) = metrics {
        metrics
            .requests
            .get_or_create(&RequestLabels {
                method: method.clone(),
                route: route.clone(),
                status,
            })
            .inc();
        metrics
            .latency
            .get_or_create(&RouteLabels { route })
            .observe(elapsed.as_secs_f64());
    }
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "answered"
        );
    });
    Ok(res)
}
