//! What a request is waiting on, so that a request whose deadline passes is
//! reported as the backend that was slow (a 504 naming the LLM provider),
//! not as the worker.
//!
//! A request runs inside [`Waiting::scope`]; backend calls mark themselves
//! with [`on`] while they are awaited. Small requests share their endpoint's
//! task, so the mark lives with the request's future (a task-local set on
//! each poll), not with the task.

use std::future::Future;
use std::sync::{Arc, Mutex};

use crate::error::Backend;

tokio::task_local! {
    static CURRENT: Waiting;
}

/// The backend a request is waiting on now, if any. Cheap to clone.
#[derive(Clone, Default)]
pub struct Waiting(Arc<Mutex<Option<Backend>>>);

impl Waiting {
    /// Runs `request` so that the backend calls inside it mark this record.
    pub async fn scope<F: Future>(&self, request: F) -> F::Output {
        CURRENT.scope(self.clone(), request).await
    }

    /// The backend being waited on, when a call is out.
    pub fn current(&self) -> Option<Backend> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, backend: Option<Backend>) -> Option<Backend> {
        std::mem::replace(
            &mut self.0.lock().unwrap_or_else(|p| p.into_inner()),
            backend,
        )
    }
}

/// Awaits `call` as a call to `backend`: the request waits on it until it
/// returns. Outside a request (jobs, tests) it is just `call`.
pub async fn on<F: Future>(backend: Backend, call: F) -> F::Output {
    let Ok(waiting) = CURRENT.try_with(Clone::clone) else {
        return call.await;
    };
    let before = waiting.set(Some(backend));
    let out = call.await;
    // Not on drop: a call dropped at the request's deadline stays recorded,
    // which is what the deadline's 504 reports.
    waiting.set(before);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn the_call_in_flight_at_the_deadline_is_named() {
        let waiting = Waiting::default();
        let request = async {
            on(Backend::Embeddings, async {}).await;
            on(
                Backend::Reranker,
                tokio::time::sleep(Duration::from_secs(60)),
            )
            .await;
        };
        let timed_out =
            tokio::time::timeout(Duration::from_millis(20), waiting.scope(request)).await;
        assert!(timed_out.is_err());
        assert_eq!(waiting.current(), Some(Backend::Reranker));
        // A call that returned is forgotten; the one around it is current.
        let waiting = Waiting::default();
        let watcher = waiting.clone();
        let request = async move {
            on(Backend::Llm(None), async {
                on(Backend::Qdrant, async {}).await;
                watcher.current()
            })
            .await
        };
        assert_eq!(waiting.scope(request).await, Some(Backend::Llm(None)));
        assert_eq!(waiting.current(), None);
        assert_eq!(
            on(Backend::Qdrant, async { 7 }).await,
            7,
            "outside a request"
        );
    }
}
