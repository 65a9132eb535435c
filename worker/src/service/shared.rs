//! What the endpoint loops of one worker share.

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::stats::Counters;
use crate::state::State;

/// What the endpoint loops of one worker share.
pub(super) struct Shared {
    pub(super) client: async_nats::Client,
    pub(super) state: State,
    pub(super) tracker: TaskTracker,
    pub(super) shutdown: CancellationToken,
    pub(super) counters: Counters,
    pub(super) max_payload: usize,
}
