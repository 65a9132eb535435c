//! What a request is waiting on, so that a request whose deadline passes is
//! reported as the backend that was slow (a 504 naming the LLM provider),
//! not as the worker.
//!
//! A request runs under [`until`]; backend calls mark themselves with [`on`]
//! while they are awaited. Small requests share their endpoint's task, so
//! the mark lives with the request's future (a task-local set on each poll),
//! not with the task; it costs no allocation.

use std::cell::RefCell;
use std::future::Future;
use std::time::Duration;

use ragwire_client::trace;

use crate::error::Backend;

tokio::task_local! {
    static CURRENT: RefCell<Option<Backend>>;
}

/// Runs `request` for at most `deadline`: its output, or, when the deadline
/// passes first, the backend it was waiting on then (`None`: none).
pub async fn until<F: Future>(
    deadline: Duration,
    request: F,
) -> Result<F::Output, Option<Backend>> {
    let work = CURRENT.scope(RefCell::new(None), request);
    tokio::pin!(work);
    // The request first: one that is done at its first poll (a cache hit)
    // never registers its timer, which costs a lock on the timer wheel.
    tokio::select! {
        biased;
        out = &mut work => Ok(out),
        () = tokio::time::sleep(deadline) => {
            Err(work.as_mut().take_value().and_then(RefCell::into_inner))
        }
    }
}

/// Awaits `call` as a call to `backend`: the request waits on it until it
/// returns. Outside a request (jobs, tests) it is just `call`.
pub async fn on<F: Future>(backend: Backend, call: F) -> F::Output {
    let label = crate::metrics::label(&backend);
    let timer = crate::metrics::get().backend(&backend).start_timer();
    let call = trace::within(span(label), call);
    let Ok(before) = CURRENT.try_with(|c| c.replace(Some(backend))) else {
        return call.await;
    };
    let out = call.await;
    drop(timer);
    // Not on drop: a call dropped at the request's deadline stays recorded,
    // which is what the deadline's 504 reports.
    let _ = CURRENT.try_with(|c| c.replace(before));
    out
}

/// The client span of a call to `backend` (`llm`, `embeddings`, `qdrant`,
/// ...) when the current trace is recorded.
fn span(backend: &'static str) -> Option<trace::Context> {
    trace::child(trace::SpanKind::Client, || {
        (
            backend.into(),
            vec![trace::KeyValue::new("ragwire.backend", backend)],
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_call_in_flight_at_the_deadline_is_named() {
        let request = async {
            on(Backend::Embeddings, async {}).await;
            on(
                Backend::Reranker,
                tokio::time::sleep(Duration::from_secs(60)),
            )
            .await;
        };
        let waited = until(Duration::from_millis(20), request).await;
        assert_eq!(waited.unwrap_err(), Some(Backend::Reranker));
        // A call that returned is forgotten; the one around it is current.
        let request = async {
            on(Backend::Llm(None), async {
                on(Backend::Qdrant, async {}).await;
                tokio::time::sleep(Duration::from_secs(60)).await;
            })
            .await
        };
        let waited = until(Duration::from_millis(20), request).await;
        assert_eq!(waited.unwrap_err(), Some(Backend::Llm(None)));
        let nothing = until(
            Duration::from_millis(20),
            tokio::time::sleep(Duration::from_secs(60)),
        );
        assert_eq!(nothing.await.unwrap_err(), None);
        assert_eq!(until(Duration::from_secs(1), async { 7 }).await, Ok(7));
        assert_eq!(
            on(Backend::Qdrant, async { 7 }).await,
            7,
            "outside a request"
        );
    }
}
