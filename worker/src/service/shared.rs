//! What the endpoint loops of one worker share.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ragwire_schemas::TenantId;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::stats::Counters;
use crate::state::State;

/// Tenants whose state a worker keeps made; beyond, the kept ones are let
/// go and made again as requests come.
const KEPT_TENANTS: usize = 4096;

/// What the endpoint loops of one worker share.
pub(super) struct Shared {
    pub(super) client: async_nats::Client,
    pub(super) state: State,
    pub(super) tracker: TaskTracker,
    pub(super) shutdown: CancellationToken,
    pub(super) counters: Counters,
    pub(super) max_payload: usize,
    /// The state of each tenant that sent requests, made once rather than
    /// at every request.
    pub(super) tenants: Mutex<HashMap<TenantId, Arc<State>>>,
}

impl Shared {
    /// The state of a request of `tenant`.
    pub(super) fn tenant_state(&self, tenant: &TenantId) -> Arc<State> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(state) = tenants.get(tenant) {
            return state.clone();
        }
        if tenants.len() >= KEPT_TENANTS {
            tenants.clear();
        }
        let state = Arc::new(self.state.for_tenant(tenant));
        tenants.insert(tenant.clone(), state.clone());
        state
    }
}
