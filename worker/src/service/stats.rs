//! The per-endpoint counters a worker reports in `$SRV.STATS`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
    pub(super) fn count(&self, subject: Subject, code: u16) {
        let mut counters = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let c = counters.entry(subject.endpoint_name()).or_default();
        if code == 200 {
            c.ok += 1;
        } else {
            c.errors += 1;
            *c.errors_by_code.entry(code).or_default() += 1;
        }
    }

    /// Counts a request not started (its code is counted by [`count`]).
    ///
    /// [`count`]: Counters::count
    pub(super) fn refused(&self, subject: Subject, why: &super::reply::Refusal) {
        let mut counters = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let c = counters.entry(subject.endpoint_name()).or_default();
        match why {
            super::reply::Refusal::Expired { .. } => c.expired += 1,
            super::reply::Refusal::Shed { .. } => c.shed += 1,
        }
    }

    /// The `data` of `endpoint` in `$SRV.STATS`.
    pub(super) fn stats(&self, endpoint: &str) -> serde_json::Value {
        let counters = self.0.lock().unwrap_or_else(|p| p.into_inner());
        serde_json::to_value(counters.get(endpoint).cloned().unwrap_or_default())
            .unwrap_or_default()
    }
}
