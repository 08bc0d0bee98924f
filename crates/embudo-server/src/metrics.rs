//! Prometheus metrics at `GET /metrics`: requests by route and status, request latency, and
//! the ingestion counters of the group committer.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of request metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The HTTP method.
    pub method: String,
    /// The matched route (`/v1/orders/{id}`), not the raw path, to bound cardinality.
    pub route: String,
    /// The status code.
    pub status: u16,
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    /// Requests answered.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency in seconds.
    pub latency: Histogram,
    /// Tracking messages refused as invalid.
    pub rejected_messages: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("embudo");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        let latency = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        let rejected_messages = Counter::default();
        registry.register(
            "tracking_rejected_messages",
            "Tracking messages refused as invalid",
            rejected_messages.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            rejected_messages,
        }
    }
}

impl Metrics {
    /// The metrics in the OpenMetrics text format, with `extra` counters added.
    pub fn render(&self, extra: &[(&str, &str, u64)]) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        let body = text
            .trim_end()
            .strip_suffix("# EOF")
            .unwrap_or(&text)
            .to_string();
        let mut out = body;
        for (name, help, value) in extra {
            out.push_str(&format!("# HELP embudo_{name} {help}\n# TYPE embudo_{name} counter\nembudo_{name}_total {value}\n"));
        }
        out.push_str("# EOF\n");
        out
    }
}
