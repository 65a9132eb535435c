//! Prometheus metrics of the producer, one registry per app.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use tokio::sync::OwnedSemaphorePermit;

use ragwire_schemas::TenantId;

use crate::tenants::quota::Quotas;

/// Request counters, latency histograms and the in-flight gauge.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGauge,
    streams: IntGaugeVec,
    first_chunk: HistogramVec,
    stream_duration: HistogramVec,
    tenant_requests: IntCounterVec,
    tenant_refused: IntCounterVec,
    tenant_usage: IntGaugeVec,
    tenant_points: IntGaugeVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every counter and histogram at zero, in a registry of their own.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "ragwire_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "ragwire_http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0, 60.0,
            ]),
            &["route"],
        )
        .expect("valid metric");
        let in_flight = IntGauge::new(
            "ragwire_http_requests_in_flight",
            "HTTP requests being served",
        )
        .expect("valid metric");
        let streams = IntGaugeVec::new(
            Opts::new(
                "ragwire_http_streams_in_flight",
                "Streamed replies (chat completions with stream: true) being sent, by route",
            ),
            &["route"],
        )
        .expect("valid metric");
        let seconds = vec![
            0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
        ];
        let first_chunk = HistogramVec::new(
            HistogramOpts::new(
                "ragwire_http_stream_first_chunk_seconds",
                "Time from a streamed request to its first chunk (time to first token), by route",
            )
            .buckets(seconds.clone()),
            &["route"],
        )
        .expect("valid metric");
        let stream_duration = HistogramVec::new(
            HistogramOpts::new(
                "ragwire_http_stream_duration_seconds",
                "Time from a streamed request to its end, by route",
            )
            .buckets(seconds),
            &["route"],
        )
        .expect("valid metric");
        let tenant_requests = IntCounterVec::new(
            Opts::new(
                "ragwire_tenant_requests_total",
                "Requests this producer let through, by tenant",
            ),
            &["tenant"],
        )
        .expect("valid metric");
        let tenant_refused = IntCounterVec::new(
            Opts::new(
                "ragwire_tenant_refused_total",
                "Requests this producer refused (429) by tenant and the quota they would exceed",
            ),
            &["tenant", "quota"],
        )
        .expect("valid metric");
        let tenant_usage = IntGaugeVec::new(
            Opts::new(
                "ragwire_tenant_usage_today",
                "Usage of the UTC day by tenant, every producer and worker together (requests, \
                 LLM requests, LLM tokens, embedded texts), as the usage bucket holds it",
            ),
            &["tenant", "counter"],
        )
        .expect("valid metric");
        let tenant_points = IntGaugeVec::new(
            Opts::new(
                "ragwire_tenant_points",
                "Points (chunks) stored by tenant in all collections, as counted by the workers \
                 at most a minute ago",
            ),
            &["tenant"],
        )
        .expect("valid metric");
        for metric in [
            Box::new(streams.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(tenant_points.clone()),
            Box::new(first_chunk.clone()),
            Box::new(stream_duration.clone()),
            Box::new(tenant_requests.clone()),
            Box::new(tenant_refused.clone()),
            Box::new(tenant_usage.clone()),
        ] {
            registry.register(metric).expect("registers once");
        }
        registry
            .register(Box::new(requests.clone()))
            .expect("registers once");
        registry
            .register(Box::new(latency.clone()))
            .expect("registers once");
        registry
            .register(Box::new(in_flight.clone()))
            .expect("registers once");
        Metrics {
            registry,
            requests,
            latency,
            in_flight,
            streams,
            first_chunk,
            stream_duration,
            tenant_requests,
            tenant_refused,
            tenant_usage,
            tenant_points,
        }
    }

    /// Brings the tenant series up to date with `quotas`: this producer's
    /// requests let through and refused, and the day's usage of all; and
    /// with `points`, each tenant's stored points.
    pub fn update_tenants(&self, quotas: &Quotas, points: &[(TenantId, u64)]) {
        self.tenant_points.reset();
        for (tenant, n) in points {
            self.tenant_points
                .with_label_values(&[tenant.as_str()])
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        for (tenant, quota, n) in quotas.outcomes() {
            let counter = match quota {
                None => self.tenant_requests.with_label_values(&[tenant.as_str()]),
                Some(q) => self
                    .tenant_refused
                    .with_label_values(&[tenant.as_str(), q.name()]),
            };
            counter.inc_by(n.saturating_sub(counter.get()));
        }
        self.tenant_usage.reset();
        for (tenant, counter, n) in quotas.all_today() {
            self.tenant_usage
                .with_label_values(&[tenant.as_str(), counter.name()])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// A stream of `route` got its first chunk; it holds `permit` until
    /// its end.
    pub fn stream_started(
        &self,
        route: &str,
        started: Instant,
        permit: OwnedSemaphorePermit,
    ) -> StreamTimer {
        self.first_chunk
            .with_label_values(&[route])
            .observe(started.elapsed().as_secs_f64());
        let streams = self.streams.with_label_values(&[route]);
        streams.inc();
        StreamTimer {
            started,
            streams,
            duration: self.stream_duration.with_label_values(&[route]),
            _permit: permit,
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding does not fail");
        String::from_utf8(out).unwrap_or_default()
    }
}

/// A stream being sent: counted in flight, and timed, until dropped (its
/// end, or its client going away).
pub struct StreamTimer {
    started: Instant,
    streams: IntGauge,
    duration: Histogram,
    _permit: OwnedSemaphorePermit,
}

impl Drop for StreamTimer {
    fn drop(&mut self) {
        self.streams.dec();
        self.duration.observe(self.started.elapsed().as_secs_f64());
    }
}

/// Counts a request in flight until dropped, also when the client goes away
/// mid-request.
struct InFlight<'a>(&'a IntGauge);

impl<'a> InFlight<'a> {
    fn enter(gauge: &'a IntGauge) -> Self {
        gauge.inc();
        InFlight(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Middleware recording every request.
pub async fn record(State(m): State<Metrics>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let _in_flight = InFlight::enter(&m.in_flight);
    let started = Instant::now();
    let response = next.run(request).await;
    m.latency
        .with_label_values(&[&route])
        .observe(started.elapsed().as_secs_f64());
    m.requests
        .with_label_values(&[&route, response.status().as_str()])
        .inc();
    response
}
