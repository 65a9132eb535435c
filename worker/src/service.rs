//! The worker as a NATS micro-service: one endpoint per subject in a shared
//! queue group, requests run concurrently under a per-subject bound, errors
//! answered with a JSON body and the `Nats-Service-Error` headers, and a
//! graceful shutdown that answers what was already received.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_nats::service::{endpoint::Endpoint, Request, ServiceExt};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use ragwire_schemas::{headers, ErrorReply, Subject};
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{ms, Config};
use crate::connect::connect;
use crate::error::Error;
use crate::handlers::dispatch;
use crate::jobs::{consume, Jobs};
use crate::state::State;

/// Service name announced on `$SRV.PING`, `$SRV.INFO` and `$SRV.STATS`.
pub const SERVICE_NAME: &str = "ragwire";

/// A running worker.
pub struct WorkerHandle {
    shutdown: CancellationToken,
    stopped: JoinHandle<()>,
    /// The NATS micro-service id of this worker.
    pub id: String,
    /// The worker's configuration and backends (tests read its stores).
    pub state: State,
}

impl WorkerHandle {
    /// Cancelling this token starts the graceful shutdown.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops taking requests, answers the ones in flight (bounded by the
    /// shutdown grace period) and returns when done.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.wait().await;
    }

    /// Returns once the worker has stopped (after its token was cancelled).
    pub async fn wait(self) {
        if let Err(e) = self.stopped.await {
            tracing::error!(error = %e, "worker shutdown task failed");
        }
    }
}

/// Per-endpoint counters reported in `$SRV.STATS` under `data`: the
/// micro-service library counts only requests, these add errors by code.
#[derive(Debug, Default, Clone, Serialize)]
struct EndpointCounters {
    ok: u64,
    errors: u64,
    errors_by_code: HashMap<u16, u64>,
}

type Counters = Arc<Mutex<HashMap<&'static str, EndpointCounters>>>;

/// Connects to NATS and starts a worker.
pub async fn start(config: Config) -> Result<WorkerHandle, Error> {
    let client = connect(&config.nats, "ragwire-worker").await?;
    start_with_client(config, client).await
}

/// Starts a worker on an existing connection.
pub async fn start_with_client(
    config: Config,
    client: async_nats::Client,
) -> Result<WorkerHandle, Error> {
    start_with_state(State::new(config)?, client).await
}

/// This machine's (or container's) host name, empty when unknown.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// The `$SRV.INFO` replies of the ragwire workers with `prefix` that answer
/// within `wait`, through the NATS service API.
pub async fn workers(
    client: &async_nats::Client,
    prefix: &str,
    wait: std::time::Duration,
) -> Result<Vec<serde_json::Value>, Error> {
    let fail = |e: String| Error::Nats(format!("cannot ask for the workers: {e}"));
    let inbox = client.new_inbox();
    let mut replies = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| fail(e.to_string()))?;
    client
        .publish_with_reply(format!("$SRV.INFO.{SERVICE_NAME}"), inbox, Bytes::new())
        .await
        .map_err(|e| fail(e.to_string()))?;
    let mut found = Vec::new();
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            Some(m) = replies.next() => {
                let info: serde_json::Value = serde_json::from_slice(&m.payload).unwrap_or_default();
                if info["metadata"]["prefix"] == prefix {
                    found.push(info);
                }
            }
            _ = &mut deadline => return Ok(found),
        }
    }
}

/// Starts a worker with backends already built (see [`State::new`]).
pub async fn start_with_state(
    mut state: State,
    client: async_nats::Client,
) -> Result<WorkerHandle, Error> {
    if state.config.jobs.enabled {
        // A NATS server without JetStream still serves every other subject.
        match Jobs::setup(&client, &state.config).await {
            Ok(jobs) => state.jobs = Some(jobs),
            Err(e) => tracing::warn!(error = %e, "ingest jobs are off: JetStream is not usable"),
        }
    }
    let config = state.config.clone();
    let counters: Counters = Arc::default();
    let stats_counters = counters.clone();
    let service = client
        .service_builder()
        .description("ragwire: RAG backend work over NATS")
        .queue_group(&config.queue_group)
        .metadata(HashMap::from([
            ("prefix".to_owned(), config.prefix.clone()),
            // `ragwire ping --local` finds this host's workers by it.
            ("host".to_owned(), host_name()),
        ]))
        .stats_handler(move |endpoint, _| {
            let counters = stats_counters.lock().unwrap_or_else(|p| p.into_inner());
            serde_json::to_value(counters.get(endpoint.as_str()).cloned().unwrap_or_default())
                .unwrap_or_default()
        })
        .start(SERVICE_NAME, env!("CARGO_PKG_VERSION"))
        .await
        .map_err(|e| Error::Nats(format!("cannot register the NATS service: {e}")))?;
    let id = service.info().await.id;
    let group = service.group(&config.prefix);
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let shared = Arc::new(Shared {
        state: state.clone(),
        tracker: tracker.clone(),
        shutdown: shutdown.clone(),
        counters,
        // Replies larger than the server accepts would be lost silently.
        max_payload: client.server_info().max_payload,
    });
    let mut loops = Vec::with_capacity(Subject::ALL.len());
    for subject in Subject::ALL {
        let endpoint = group
            .endpoint_builder()
            .name(subject.endpoint_name())
            .add(subject.suffix())
            .await
            .map_err(|e| Error::Nats(format!("cannot add endpoint {subject}: {e}")))?;
        loops.push(tokio::spawn(serve_endpoint(
            endpoint,
            subject,
            Arc::new(Semaphore::new(config.limits.max_in_flight)),
            shared.clone(),
        )));
    }
    if let Some(jobs) = state.jobs.clone().filter(|_| config.jobs.consume) {
        // Jobs in flight share the tracker, so shutdown waits for them too.
        loops.push(tokio::spawn(consume::run(
            jobs,
            state.clone(),
            shutdown.clone(),
            tracker.clone(),
        )));
    }
    crate::connect::subscriptions_live(&client).await?;
    tracing::info!(id = %id, prefix = %config.prefix, queue_group = %config.queue_group, "worker started");

    let token = shutdown.clone();
    let vectors = state.vectors.clone();
    let grace = ms(config.limits.shutdown_grace_ms);
    let stopped = tokio::spawn(async move {
        token.cancelled().await;
        let aborts: Vec<_> = loops.iter().map(JoinHandle::abort_handle).collect();
        // Each loop unsubscribes, then takes what was already delivered; all
        // of it, and the requests in flight, within the grace period.
        let drain = async {
            futures::future::join_all(loops).await;
            tracker.close();
            tracker.wait().await;
        };
        if tokio::time::timeout(grace, drain).await.is_err() {
            aborts.iter().for_each(|a| a.abort());
            tracing::warn!(
                in_flight = tracker.len(),
                "shutdown grace period over; abandoning requests"
            );
        }
        let second = std::time::Duration::from_secs(1);
        if !matches!(
            tokio::time::timeout(second, client.flush()).await,
            Ok(Ok(()))
        ) {
            tracing::warn!("could not flush the last replies");
        }
        if !matches!(
            tokio::time::timeout(second, service.stop()).await,
            Ok(Ok(()))
        ) {
            tracing::warn!("could not stop the NATS service cleanly");
        }
        if let Err(e) = vectors.flush().await {
            tracing::warn!(error = %e, "could not flush the vector store");
        }
        tracing::info!("worker stopped");
    });
    Ok(WorkerHandle {
        shutdown,
        stopped,
        id,
        state,
    })
}

/// What the endpoint loops of one worker share.
struct Shared {
    state: State,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    counters: Counters,
    max_payload: usize,
}

async fn serve_endpoint(
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
    let mut permit: Option<OwnedSemaphorePermit> = None;
    let mut stopping = false;
    loop {
        tokio::select! {
            Some(()) = local.next(), if !local.is_empty() => {}
            _ = shared.shutdown.cancelled(), if !stopping => {
                stopping = true;
                unsubscribe(&mut endpoint, subject).await;
            }
            // Back-pressure: no permit, no new request taken off the subscription.
            acquired = permits.clone().acquire_owned(), if permit.is_none() => match acquired {
                Ok(p) => permit = Some(p),
                Err(_) => break,
            },
            request = endpoint.next(), if permit.is_some() => {
                let Some(request) = request else {
                    break;
                };
                let small = request.message.payload.len() <= LOCAL_MAX_BYTES;
                let held = permit.take();
                let task = shared.clone();
                let work = async move {
                    respond(&task, subject, request).await;
                    drop(held);
                };
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

/// Largest request (bytes) run on its endpoint's task rather than its own.
const LOCAL_MAX_BYTES: usize = 16 * 1024;

async fn unsubscribe(endpoint: &mut Endpoint, subject: Subject) {
    if let Err(e) = endpoint.stop().await {
        tracing::warn!(%subject, error = %e, "could not unsubscribe");
    }
}

async fn respond(shared: &Shared, subject: Subject, request: Request) {
    let (state, max_payload) = (&shared.state, shared.max_payload);
    let started = Instant::now();
    let request_id = request
        .message
        .headers
        .as_ref()
        .and_then(|h| h.get(headers::REQUEST_ID))
        .map(|v| v.as_str().to_owned());
    let result = run(state, subject, &request.message.payload).await;
    let mut reply_headers = HeaderMap::new();
    if let Some(id) = &request_id {
        reply_headers.insert(headers::REQUEST_ID, id.as_str());
    }
    // The server's limit counts headers too; keep room for the error headers.
    let room = max_payload.saturating_sub(HEADER_ROOM);
    let result = result.and_then(|body| {
        if max_payload > 0 && body.len() > room {
            Err(Error::TooLarge {
                what: "the reply size in bytes".into(),
                size: body.len(),
                limit: room,
            })
        } else {
            Ok(body)
        }
    });
    let (body, code, backend) = match result {
        Ok(body) => (body, 200, None),
        Err(err) => {
            let backend = err.backend().map(str::to_owned);
            let error = err.to_body();
            reply_headers.insert(
                headers::SERVICE_ERROR,
                header_value(&error.message).as_str(),
            );
            reply_headers.insert(headers::SERVICE_ERROR_CODE, error.code.to_string().as_str());
            let body = serde_json::to_vec(&ErrorReply::from(error.clone())).unwrap_or_default();
            (Bytes::from(body), error.code, backend)
        }
    };
    {
        let mut counters = shared.counters.lock().unwrap_or_else(|p| p.into_inner());
        let c = counters.entry(subject.endpoint_name()).or_default();
        if code == 200 {
            c.ok += 1;
        } else {
            c.errors += 1;
            *c.errors_by_code.entry(code).or_default() += 1;
        }
    }
    let latency_ms = started.elapsed().as_secs_f64() * 1e3;
    let request_id = request_id.as_deref().unwrap_or("-");
    match code {
        200 => tracing::debug!(%subject, request_id, latency_ms, code, "handled"),
        c if c >= 500 => {
            let backend = backend.as_deref().unwrap_or("-");
            tracing::warn!(%subject, request_id, latency_ms, code, backend, "failed")
        }
        _ => tracing::info!(%subject, request_id, latency_ms, code, "rejected"),
    }
    if request.message.reply.is_none() {
        tracing::info!(%subject, request_id, "request had no reply subject; nothing sent");
        return;
    }
    if let Err(e) = request.respond_with_headers(Ok(body), reply_headers).await {
        tracing::warn!(%subject, request_id, error = %e, "could not send reply");
        // Still answer, so the caller does not wait for its timeout.
        let error = Error::Internal(format!("the reply could not be sent: {e}")).to_body();
        let mut fallback = HeaderMap::new();
        fallback.insert(
            headers::SERVICE_ERROR,
            header_value(&error.message).as_str(),
        );
        fallback.insert(headers::SERVICE_ERROR_CODE, "500");
        let body = serde_json::to_vec(&ErrorReply::from(error)).unwrap_or_default();
        let _ = request
            .respond_with_headers(Ok(body.into()), fallback)
            .await;
    }
}

/// Bytes kept free in a reply for its headers (request id, error headers).
const HEADER_ROOM: usize = 1024;

/// Size limit, deadline and panic guard around one handler call.
async fn run(state: &State, subject: Subject, payload: &Bytes) -> Result<Bytes, Error> {
    let limit = state.config.limits.max_request_bytes;
    if payload.len() > limit {
        return Err(Error::TooLarge {
            what: "the request size in bytes".into(),
            size: payload.len(),
            limit,
        });
    }
    let deadline = ms(state.config.limits.request_timeout_ms);
    let work = AssertUnwindSafe(dispatch(state, subject, payload)).catch_unwind();
    match tokio::time::timeout(deadline, work).await {
        Ok(Ok(result)) => result,
        Ok(Err(_panic)) => {
            tracing::error!(%subject, "handler panicked");
            Err(Error::Internal(format!(
                "the {subject} handler failed unexpectedly"
            )))
        }
        Err(_) => Err(Error::Timeout {
            backend: "worker".into(),
            after: deadline,
        }),
    }
}

/// Header values are one line of visible text.
fn header_value(message: &str) -> String {
    let line: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(256)
        .collect();
    line
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn wait_for_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}
