//! Prometheus metrics of the worker, served on `RAGWIRE_METRICS_ADDR`
//! (`/metrics`, by `service`) when it is set: requests by subject and code, latency,
//! time waited before start, in flight, shed and expired requests,
//! embedding batches, backend calls, jobs, and the ingest consumer's lag.
//! The scaling signals are `ragwire_worker_requests_in_flight` (interactive
//! subjects) and `ragwire_worker_jobs_pending`; `deploy/` holds a
//! Prometheus configuration, alert rules and KEDA scalers over them.
//!
//! One set of metrics per process: every part of a worker counts into it
//! without a handle being passed around, as Prometheus clients do.

use std::sync::{LazyLock, OnceLock};

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use ragwire_schemas::Subject;

use crate::error::{Backend, Error};

/// Seconds, from a cache hit to a slow model call.
const SECONDS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// Every metric of the process.
pub struct Metrics {
    registry: Registry,
    /// Requests answered, by subject and code.
    pub requests: IntCounterVec,
    /// Time from start to reply, by subject.
    pub duration: HistogramVec,
    /// Time from being sent (`Ragwire-Sent-At`) to start, by subject.
    pub wait: HistogramVec,
    /// Requests being served, by subject.
    pub in_flight: IntGaugeVec,
    /// Requests answered 503 for having waited too long, by subject.
    pub shed: IntCounterVec,
    /// Requests answered 504 for a deadline passed before start, by subject.
    pub expired: IntCounterVec,
    /// Texts per embedding call, by kind (interactive, bulk).
    pub embed_batch: HistogramVec,
    /// Time an embedding request waited for its batch to leave, by kind.
    pub embed_wait: HistogramVec,
    /// Time of calls to each backend.
    pub backend_duration: HistogramVec,
    /// Failed requests and jobs, by the backend at fault.
    pub backend_errors: IntCounterVec,
    /// Jobs finished or retried, by outcome.
    pub jobs: IntCounterVec,
    /// Ingest jobs waiting for a worker (the consumer's pending count).
    pub jobs_pending: IntGauge,
    /// Ingest jobs handed out and not yet acknowledged.
    pub jobs_ack_pending: IntGauge,
    /// Jobs in the dead-letter stream.
    pub jobs_dead: IntGauge,
    /// Each subject's series, by [`Subject::index`]: found once, not by
    /// hashing its label at every request.
    subjects: Vec<SubjectMetrics>,
    /// Each backend's series of `backend_duration`, by [`kind`], for the
    /// same reason; made at its first call, so that only the backends in
    /// use have one.
    backends: [OnceLock<Histogram>; BACKENDS.len()],
}

/// One subject's series of the per-subject metrics.
pub struct SubjectMetrics {
    /// Time from start to reply.
    pub duration: Histogram,
    /// Time from being sent to start.
    pub wait: Histogram,
    /// Requests being served.
    pub in_flight: IntGauge,
    /// Requests answered 503 for having waited too long.
    pub shed: IntCounter,
    /// Requests answered 504 for a deadline passed before start.
    pub expired: IntCounter,
}

fn histogram(name: &str, help: &str, label: &str, buckets: Vec<f64>) -> HistogramVec {
    HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), &[label])
        .expect("valid metric")
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
}

impl Metrics {
    fn new() -> Metrics {
        let seconds = SECONDS.to_vec();
        let mut metrics = Metrics {
            registry: Registry::new(),
            requests: counter(
                "ragwire_worker_requests_total",
                "Requests answered, by subject and code",
                &["subject", "code"],
            ),
            duration: histogram(
                "ragwire_worker_request_duration_seconds",
                "Time from a request's start to its reply, by subject",
                "subject",
                seconds.clone(),
            ),
            wait: histogram(
                "ragwire_worker_request_wait_seconds",
                "Time from a request being sent to its start in a worker, by subject",
                "subject",
                seconds.clone(),
            ),
            in_flight: IntGaugeVec::new(
                Opts::new(
                    "ragwire_worker_requests_in_flight",
                    "Requests being served, by subject",
                ),
                &["subject"],
            )
            .expect("valid metric"),
            shed: counter(
                "ragwire_worker_requests_shed_total",
                "Requests answered 503 for waiting longer than RAGWIRE_LIMITS_MAX_WAIT_MS, by subject",
                &["subject"],
            ),
            expired: counter(
                "ragwire_worker_requests_expired_total",
                "Requests answered 504 because their caller's deadline passed before start, by subject",
                &["subject"],
            ),
            embed_batch: histogram(
                "ragwire_worker_embed_batch_texts",
                "Texts per embedding call, by kind of work",
                "kind",
                vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
            ),
            embed_wait: histogram(
                "ragwire_worker_embed_wait_seconds",
                "Time an embedding request waited for its batch to be sent, by kind of work",
                "kind",
                seconds.clone(),
            ),
            backend_duration: histogram(
                "ragwire_worker_backend_duration_seconds",
                "Time of calls to a backend, by backend",
                "backend",
                seconds,
            ),
            backend_errors: counter(
                "ragwire_worker_backend_errors_total",
                "Requests and jobs failed by a backend, by backend",
                &["backend"],
            ),
            jobs: counter(
                "ragwire_worker_jobs_total",
                "Ingest jobs by outcome: done, failed, superseded, retried",
                &["outcome"],
            ),
            jobs_pending: IntGauge::new(
                "ragwire_worker_jobs_pending",
                "Ingest jobs waiting for a worker: the consumer's pending messages",
            )
            .expect("valid metric"),
            jobs_ack_pending: IntGauge::new(
                "ragwire_worker_jobs_ack_pending",
                "Ingest jobs handed to workers and not yet acknowledged",
            )
            .expect("valid metric"),
            jobs_dead: IntGauge::new(
                "ragwire_worker_jobs_dead_letters",
                "Jobs in the dead-letter stream",
            )
            .expect("valid metric"),
            subjects: Vec::new(),
            backends: Default::default(),
        };
        metrics.subjects = Subject::ALL
            .iter()
            .map(|s| {
                let name = [s.endpoint_name()];
                SubjectMetrics {
                    duration: metrics.duration.with_label_values(&name),
                    wait: metrics.wait.with_label_values(&name),
                    in_flight: metrics.in_flight.with_label_values(&name),
                    shed: metrics.shed.with_label_values(&name),
                    expired: metrics.expired.with_label_values(&name),
                }
            })
            .collect();
        let r = &metrics.registry;
        for collector in [
            Box::new(metrics.requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(metrics.duration.clone()),
            Box::new(metrics.wait.clone()),
            Box::new(metrics.in_flight.clone()),
            Box::new(metrics.shed.clone()),
            Box::new(metrics.expired.clone()),
            Box::new(metrics.embed_batch.clone()),
            Box::new(metrics.embed_wait.clone()),
            Box::new(metrics.backend_duration.clone()),
            Box::new(metrics.backend_errors.clone()),
            Box::new(metrics.jobs.clone()),
            Box::new(metrics.jobs_pending.clone()),
            Box::new(metrics.jobs_ack_pending.clone()),
            Box::new(metrics.jobs_dead.clone()),
        ] {
            r.register(collector).expect("metric registered once");
        }
        metrics
    }

    /// `subject`'s series.
    pub fn subject(&self, subject: Subject) -> &SubjectMetrics {
        &self.subjects[subject.index()]
    }

    /// The time of calls to `backend`.
    pub fn backend(&self, backend: &Backend) -> &Histogram {
        let kind = kind(backend);
        self.backends[kind]
            .get_or_init(|| self.backend_duration.with_label_values(&[BACKENDS[kind]]))
    }

    /// Counts a failure of `error`'s backend, if a backend is at fault.
    pub fn failed(&self, error: &Error) {
        if let Some(backend) = error.backend() {
            self.backend_errors
                .with_label_values(&[label(backend)])
                .inc();
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "cannot encode the metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The label of each kind of backend, by [`kind`].
const BACKENDS: [&str; 9] = [
    "llm",
    "embeddings",
    "reranker",
    "qdrant",
    "embedded_vectors",
    "bolt",
    "embedded_graph",
    "jetstream",
    "worker",
];

/// The backend's kind: its index in [`BACKENDS`].
fn kind(backend: &Backend) -> usize {
    match backend {
        Backend::Llm(_) => 0,
        Backend::Embeddings => 1,
        Backend::Reranker => 2,
        Backend::Qdrant => 3,
        Backend::EmbeddedVectors => 4,
        Backend::Bolt => 5,
        Backend::EmbeddedGraph => 6,
        Backend::JetStream => 7,
        Backend::Worker => 8,
    }
}

/// The backend's label: its kind, never a provider's configured name.
pub fn label(backend: &Backend) -> &'static str {
    BACKENDS[kind(backend)]
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}
