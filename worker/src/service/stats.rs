//! The per-endpoint counters a worker reports in `$SRV.STATS`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ragwire_schemas::Subject;
use serde::Serialize;

/// Per-endpoint counters reported in `$SRV.STATS` under `data`: the
/// micro-service library counts only requests, these add errors by code.
#[derive(Debug, Default, Clone, Serialize)]
struct EndpointCounters {
    ok: u64,
    errors: u64,
    errors_by_code: HashMap<u16, u64>,
    /// Not started: the caller's deadline had passed (504).
    expired: u64,
    /// Not started: waited longer than `RAGWIRE_LIMITS_MAX_WAIT_MS` (503).
    shed: u64,
}

/// The counters of every endpoint of a worker. Cheap to clone.
#[derive(Clone, Default)]
pub(super) struct Counters(Arc<Mutex<HashMap<&'static str, EndpointCounters>>>);

impl Counters {
    /// Counts a request of `subject` answered with `code`, started at
    /// `started`, here and in the Prometheus metrics.
    pub(super) fn count(&self, subject: Subject, code: u16, started: Instant) {
        let metrics = crate::metrics::get();
        metrics
            .requests
            .with_label_values(&[subject.endpoint_name(), &code.to_string()])
            .inc();
        metrics
            .subject(subject)
            .duration
            .observe(started.elapsed().as_secs_f64());
        let mut counters = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let c = counters.entry(subject.endpoint_name()).or_default();
        if code == 200 {
            c.ok += 1;
        } else {
            c.errors += 1;
            *c.errors_by_code.entry(code).or_default() += 1;
        }
    }

    /// Counts a request not started, here and in the Prometheus metrics
    /// (its code is counted by [`count`]).
    ///
    /// [`count`]: Counters::count
    pub(super) fn refused(&self, subject: Subject, why: &super::reply::Refusal) {
        let series = crate::metrics::get().subject(subject);
        let mut counters = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let c = counters.entry(subject.endpoint_name()).or_default();
        match why {
            super::reply::Refusal::Expired { .. } => {
                c.expired += 1;
                series.expired.inc();
            }
            super::reply::Refusal::Shed { .. } => {
                c.shed += 1;
                series.shed.inc();
            }
        }
    }

    /// The `data` of `endpoint` in `$SRV.STATS`.
    pub(super) fn stats(&self, endpoint: &str) -> serde_json::Value {
        let counters = self.0.lock().unwrap_or_else(|p| p.into_inner());
        serde_json::to_value(counters.get(endpoint).cloned().unwrap_or_default())
            .unwrap_or_default()
    }
}
