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

/// Libraries that log what passes through them at their debug and trace
/// levels: SQL parameters (tokio-postgres: every cell of an import, a
/// rollback's before-images), HTTP and TLS traffic, AMQP frames. They never
/// log below `info`, whatever `SLUICE_LOG` asks for.
const TALKATIVE: &[&str] = &[
    "tokio_postgres",
    "postgres_protocol",
    "diesel",
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
    "rustls",
    "lapin",
    "amq_protocol",
    "actix_http",
    "actix_server",
    "calamine",
    "quick_xml",
];

/// The log filter for `spec` (the value of `SLUICE_LOG`), with the
/// libraries of [`TALKATIVE`] held at `info` or above.
pub fn log_filter(spec: &str) -> String {
    let mut filter = spec.trim().to_owned();
    for library in TALKATIVE {
        let named = filter
            .split(',')
            .any(|d| d.trim().starts_with(&format!("{library}=")));
        if !named {
            if !filter.is_empty() {
                filter.push(',');
            }
            filter.push_str(&format!("{library}=info"));
        }
    }
    filter
        .split(',')
        .map(|directive| match directive.split_once('=') {
            Some((target, level))
                if TALKATIVE.contains(&target.trim())
                    && matches!(level.trim(), "debug" | "trace") =>
            {
                format!("{}=info", target.trim())
            }
            _ => directive.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

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

#[cfg(test)]
mod tests {
    use super::log_filter;

    #[test]
    fn talkative_libraries_stay_at_info_whatever_is_asked() {
        let filter = log_filter("trace");
        assert!(filter.starts_with("trace,"));
        assert!(filter.contains("tokio_postgres=info"));
        let filter = log_filter("debug,tokio_postgres=trace,lapin=warn");
        assert!(filter.contains("tokio_postgres=info"));
        assert!(!filter.contains("tokio_postgres=trace"));
        assert!(filter.contains("lapin=warn"), "a quieter level is kept");
    }
}
