//! The worker as a NATS micro-service.
//!
//! - this module: the lifecycle: registration (one endpoint per subject in a
//!   shared queue group), the request bounds ([`Limits`]), and a graceful
//!   shutdown that answers what was already received.
//! - [`endpoint`]: one endpoint's loop: requests taken off the subscription
//!   only under the bound, run concurrently.
//! - [`reply`]: one request: size limit, deadline and panic guard around its
//!   handler, the reply (errors with the `Nats-Service-Error` headers), the
//!   per-endpoint counters of `$SRV.STATS`.
//! - [`stream`]: a streamed reply (chat completion chunks) with its
//!   control subject, credit window and heartbeat.
//! - [`stores`]: where the worker's data lives, in its metadata, and the
//!   refusal to split a prefix's data between embedded stores.

mod endpoint;
mod reply;
mod stores;
mod stream;

use std::sync::Arc;

use async_nats::service::ServiceExt;
use ragwire_common::discovery::{host_name, SERVICE_NAME};
use ragwire_common::settings::parse;
use ragwire_schemas::Subject;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{ms, Config};
use crate::error::Error;
use crate::jobs::{consume, Jobs};
use crate::state::State;
use reply::Counters;

/// Bounds on a worker's work and input.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Limits")]
pub struct Limits {
    /// Requests in flight per subject per worker; beyond it, requests wait
    /// in the subscription (back-pressure).
    #[arg(id = "limits.max_in_flight", long = "max-in-flight", env = "RAGWIRE_MAX_IN_FLIGHT",
          default_value_t = 1024, value_parser = parse::at_least_one::<usize>)]
    pub max_in_flight: usize,
    /// Largest request payload, in bytes (413 beyond).
    #[arg(id = "limits.max_request_bytes", long = "max-request-bytes",
          env = "RAGWIRE_MAX_REQUEST_BYTES", default_value_t = 1 << 20,
          value_parser = parse::at_least_one::<usize>)]
    pub max_request_bytes: usize,
    /// Most texts (embed), chunks (index) or messages (chat) in one request.
    #[arg(id = "limits.max_texts", long = "max-texts", env = "RAGWIRE_MAX_TEXTS",
          default_value_t = 2048, value_parser = parse::at_least_one::<usize>)]
    pub max_texts: usize,
    /// Most documents in one rerank request.
    #[arg(id = "limits.max_documents", long = "max-documents", env = "RAGWIRE_MAX_DOCUMENTS",
          default_value_t = 1000, value_parser = parse::at_least_one::<usize>)]
    pub max_documents: usize,
    /// Deadline of one request, all backend calls included, in
    /// milliseconds.
    #[arg(id = "limits.request_timeout_ms", long = "request-timeout-ms",
          env = "RAGWIRE_REQUEST_TIMEOUT_MS", default_value_t = 120_000, value_parser = parse::millis)]
    pub request_timeout_ms: u64,
    /// On SIGTERM or SIGINT, how long (ms) to wait for in-flight requests.
    #[arg(
        id = "limits.shutdown_grace_ms",
        long = "shutdown-grace-ms",
        env = "RAGWIRE_SHUTDOWN_GRACE_MS",
        default_value_t = 30_000
    )]
    pub shutdown_grace_ms: u64,
}

ragwire_common::default_from_declarations!(Limits);

/// A running worker. Dropping the handle starts the worker's graceful
/// shutdown without waiting for it; [`WorkerHandle::shutdown`] waits.
pub struct WorkerHandle {
    shutdown: CancellationToken,
    stopped: Option<JoinHandle<()>>,
    /// The NATS micro-service id of this worker.
    pub id: String,
    /// The worker's configuration and backends (tests read its stores).
    pub state: State,
}

impl WorkerHandle {
    /// Stops taking requests, answers the ones in flight (bounded by the
    /// shutdown grace period) and returns when done.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(stopped) = self.stopped.take() {
            if let Err(e) = stopped.await {
                tracing::error!(error = %e, "worker shutdown task failed");
            }
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Connects to NATS and starts a worker.
pub async fn start(config: Config) -> Result<WorkerHandle, Error> {
    let client = ragwire_common::nats::connect(&config.common.nats, "ragwire-worker").await?;
    start_with_state(State::new(config)?, client).await
}

/// Starts a worker on `client` with backends already built (see
/// [`State::new`]): for benchmarks and tests that bring their own backend
/// ([`State::with_embed_backend`]).
pub async fn start_with_state(
    mut state: State,
    client: async_nats::Client,
) -> Result<WorkerHandle, Error> {
    if state.config.jobs.enabled {
        // A NATS server without JetStream still serves every other subject.
        match Jobs::setup(&client, &state.config.common.prefix, &state.config.jobs).await {
            Ok(jobs) => state.jobs = Some(jobs),
            Err(e) => tracing::warn!(error = %e, "ingest jobs are off: JetStream is not usable"),
        }
    }
    let config = state.config.clone();
    let mut metadata = stores::metadata(&config);
    stores::check_before_joining(&client, &config, &metadata).await?;
    metadata.extend([
        ("prefix".to_owned(), config.common.prefix.clone()),
        // `ragwire ping --local` finds this host's workers by it.
        ("host".to_owned(), host_name()),
    ]);
    let counters = Counters::default();
    let stats_counters = counters.clone();
    let service = client
        .service_builder()
        .description("ragwire: RAG backend work over NATS")
        .queue_group(&config.worker.queue_group)
        .metadata(metadata)
        .stats_handler(move |endpoint, _| stats_counters.stats(&endpoint))
        .start(SERVICE_NAME, env!("CARGO_PKG_VERSION"))
        .await
        .map_err(|e| Error::Nats(format!("cannot register the NATS service: {e}")))?;
    let id = service.info().await.id;
    let group = service.group(&config.common.prefix);
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let shared = Arc::new(Shared {
        client: client.clone(),
        state: state.clone(),
        tracker: tracker.clone(),
        shutdown: shutdown.clone(),
        counters,
        // Replies larger than the server accepts would be lost silently.
        max_payload: client.server_info().max_payload,
    });
    let mut loops = Vec::with_capacity(Subject::ALL.len());
    for &subject in Subject::ALL {
        let endpoint = group
            .endpoint_builder()
            .name(subject.endpoint_name())
            .add(subject.suffix())
            .await
            .map_err(|e| Error::Nats(format!("cannot add endpoint {subject}: {e}")))?;
        loops.push(tokio::spawn(endpoint::serve(
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
    ragwire_common::nats::subscriptions_live(&client).await?;
    if !config.worker.allow_separate_stores {
        tokio::spawn(stores::watch(
            client.clone(),
            config.common.prefix.clone(),
            shutdown.clone(),
        ));
    }
    tracing::info!(id = %id, prefix = %config.common.prefix, queue_group = %config.worker.queue_group, "worker started");

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
        stopped: Some(stopped),
        id,
        state,
    })
}

/// What the endpoint loops of one worker share.
struct Shared {
    client: async_nats::Client,
    state: State,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    counters: Counters,
    max_payload: usize,
}
