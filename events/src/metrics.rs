//! Counters for the event log, the relay and the consumers, registered with the
//! process's Prometheus registry by whoever serves `/metrics`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub type ConsumerLabels = Vec<(String, String)>;

#[derive(Clone, Debug, Default)]
pub struct EventMetrics {
    pub events_appended: Counter,
    pub append_batches: Counter,
    pub events_published: Counter,
    pub relay_lag: Gauge,
    /// Events the relay could not publish and moved past.
    pub events_quarantined: Counter,
    /// Deliveries by consumer and outcome (`handled`, `skipped`, `retried`, `rejected`).
    pub deliveries: Family<ConsumerLabels, Counter>,
}

impl EventMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "sluice_events_appended",
            "Events appended to the log by this process",
            self.events_appended.clone(),
        );
        registry.register(
            "sluice_append_transactions",
            "Append transactions (each may carry many requests)",
            self.append_batches.clone(),
        );
        registry.register(
            "sluice_events_published",
            "Events published to RabbitMQ by this process's relay",
            self.events_published.clone(),
        );
        registry.register(
            "sluice_relay_lag_events",
            "Events recorded but not yet published, as last seen by the relay",
            self.relay_lag.clone(),
        );
        registry.register(
            "sluice_relay_quarantined_events",
            "Events this process's relay could not publish and quarantined",
            self.events_quarantined.clone(),
        );
        registry.register(
            "sluice_deliveries",
            "Deliveries consumed, by consumer and outcome",
            self.deliveries.clone(),
        );
    }

    pub fn delivery(&self, consumer: &str, outcome: &str) {
        self.deliveries
            .get_or_create(&vec![
                ("consumer".to_owned(), consumer.to_owned()),
                ("outcome".to_owned(), outcome.to_owned()),
            ])
            .inc();
    }
}
