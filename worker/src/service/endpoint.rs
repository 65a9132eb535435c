//! One endpoint's loop: a request is taken off the subscription only when
//! the subject's bound has room, and requests run concurrently.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use async_nats::service::endpoint::Endpoint;
use async_nats::service::Request;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use ragwire_schemas::Subject;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::reply::respond;
use super::shared::Shared;

/// Largest request (bytes) run on its endpoint's task rather than its own.
const LOCAL_MAX_BYTES: usize = 16 * 1024;

/// Serves `endpoint` until the worker shuts down, then answers what it had
/// taken.
pub(super) async fn serve(
    mut endpoint: Endpoint,
    subject: Subject,
    permits: Arc<Semaphore>,
    shared: Arc<Shared>,
) {
    // Small requests run here, on the endpoint's task, interleaved with one
    // another: a task per request would cost a cross-thread wake-up each,
    // which outweighs the work of a small request. Large ones, whose decoding
    // takes a while, get a task of their own so they cannot stall the rest.
    let mut local = FuturesUnordered::new();
    let mut pending: Option<Request> = None;
    let mut stopping = false;
    loop {
        tokio::select! {
            Some(()) = local.next(), if !local.is_empty() => {}
            _ = shared.shutdown.cancelled(), if !stopping => {
                stopping = true;
                unsubscribe(&mut endpoint, subject).await;
            }
            // Back-pressure: one request taken off the subscription at a
            // time, and the next only once it has a permit. The permit is
            // asked for after the request comes, not before: the subject's
            // bound is shared by its endpoints (the default tenant's and
            // the other tenants'), and a permit held by an idle endpoint
            // would be a slot lost to the other.
            request = endpoint.next(), if pending.is_none() => match request {
                Some(request) => pending = Some(request),
                None => break,
            },
            acquired = permits.clone().acquire_owned(), if pending.is_some() => {
                let (Ok(held), Some(request)) = (acquired, pending.take()) else {
                    break;
                };
                // Streams live as long as the model writes and send many
                // messages: they get a task (and a core) of their own.
                let small = request.message.payload.len() <= LOCAL_MAX_BYTES
                    && subject != Subject::V1ChatCompletions;
                let task = shared.clone();
                let span = ragwire_client::trace::process_span(
                    request.message.subject.as_str(),
                    request.message.headers.as_ref(),
                );
                let work = ragwire_client::trace::within(span, async move {
                    respond(&task, subject, request).await;
                    drop::<OwnedSemaphorePermit>(held);
                });
                if small {
                    // A bug must not take the endpoint's other requests down.
                    local.push(
                        AssertUnwindSafe(work)
                            .catch_unwind()
                            .map(move |done| {
                                if done.is_err() {
                                    tracing::error!(%subject, "request task panicked");
                                }
                            })
                            .boxed(),
                    );
                } else {
                    shared.tracker.spawn(work);
                }
            }
        }
    }
    // Answer what this task had taken before it stops.
    while local.next().await.is_some() {}
}

async fn unsubscribe(endpoint: &mut Endpoint, subject: Subject) {
    if let Err(e) = endpoint.stop().await {
        tracing::warn!(%subject, error = %e, "could not unsubscribe");
    }
}
