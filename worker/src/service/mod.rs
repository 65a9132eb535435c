//! The worker as a NATS micro-service.
//!
//! - this module: the lifecycle: registration (one endpoint per subject in a
//!   shared queue group) and a graceful shutdown that answers what was
//!   already received.
//! - [`endpoint`]: one endpoint's loop: requests taken off the subscription
//!   only under the bound, run concurrently.
//! - [`reply`]: one request: size limit, deadline and panic guard around its
//!   handler, its reply, its outcome counted and logged; [`error_reply`]:
//!   errors with the `Nats-Service-Error` headers; [`stats`]: the
//!   per-endpoint counters of `$SRV.STATS`; [`shared`]: what the loops
//!   share.
//! - [`stream`]: a streamed reply (chat completion chunks) with its
//!   control subject, credit window and heartbeat.
//! - [`stores`]: where the worker's data lives, in its metadata, and the
//!   refusal to split a prefix's data between embedded stores.

mod endpoint;
mod error_reply;
mod reply;
mod scrape;
mod shared;
mod stats;
mod stores;
mod stream;

use std::sync::Arc;

use async_nats::service::ServiceExt;
use ragwire_common::discovery::{host_name, SERVICE_NAME};
use ragwire_schemas::{tenant, Subject};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::error::Error;
use crate::jobs::consume;
use crate::state::State;
use shared::Shared;
use stats::Counters;

/// A running worker. Dropping the handle starts the worker's graceful
/// shutdown without waiting for it; [`WorkerHandle::shutdown`] waits.
pub struct WorkerHandle {
    shutdown: CancellationToken,
    stopped: Option<JoinHandle<()>>,
    /// The NATS micro-service id of this worker.
    pub id: String,
    /// Where its Prometheus metrics are served (`RAGWIRE_METRICS_ADDR`).
    pub metrics: Option<std::net::SocketAddr>,
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    state: State,
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

#[cfg(feature = "testing")]
impl WorkerHandle {
    /// The worker's configuration and backends (tests read its stores).
    pub fn state(&self) -> &State {
        &self.state
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
    let state = State::builder(config).build(&client).await?;
    start_with_state(state, client).await
}

/// Starts a worker on `client` with its state already built (see
/// [`State::builder`]): for benchmarks and tests that bring their own
/// backend. Returns once the NATS server has the worker's subscriptions.
pub async fn start_with_state(
    state: State,
    client: async_nats::Client,
) -> Result<WorkerHandle, Error> {
    let config = state.config.clone();
    let service = register(&client, &config).await?;
    let id = service.service.info().await.id;
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let shared = Arc::new(Shared {
        client: client.clone(),
        state: state.clone(),
        tracker: tracker.clone(),
        shutdown: shutdown.clone(),
        counters: service.counters.clone(),
        // Replies larger than the server accepts would be lost silently.
        max_payload: client.server_info().max_payload,
        tenants: Default::default(),
    });
    let mut loops = serve_endpoints(&service.service, &shared).await?;
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
    let metrics = match &config.worker.metrics_addr {
        Some(addr) => {
            let addr = addr
                .parse()
                .map_err(|e| Error::config("RAGWIRE_METRICS_ADDR", format!("{e}")))?;
            Some(scrape::serve(addr, state.clone(), shutdown.clone()).await?)
        }
        None => None,
    };
    if !config.worker.allow_separate_stores {
        tokio::spawn(stores::watch(
            client.clone(),
            config.common.prefix.clone(),
            shutdown.clone(),
        ));
    }
    tracing::info!(id = %id, prefix = %config.common.prefix, queue_group = %config.worker.queue_group, "worker started");
    let stopped = tokio::spawn(stop_when_cancelled(
        shutdown.clone(),
        loops,
        tracker,
        client,
        service.service,
        state.clone(),
    ));
    Ok(WorkerHandle {
        shutdown,
        stopped: Some(stopped),
        id,
        metrics,
        state,
    })
}

/// The registered NATS micro-service, and the per-endpoint counters its
/// `$SRV.STATS` reports.
struct Registered {
    service: async_nats::service::Service,
    counters: Counters,
}

/// Registers the worker as the NATS micro-service, with its stores, prefix
/// and host in the metadata, once the stores check allows it to join.
async fn register(client: &async_nats::Client, config: &Config) -> Result<Registered, Error> {
    let mut metadata = stores::metadata(config);
    stores::check_before_joining(client, config, &metadata).await?;
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
    Ok(Registered { service, counters })
}

/// Two endpoints per subject under the prefix: the `default` tenant's
/// (`{prefix}.{suffix}`) and every other tenant's (`{prefix}.t.*.{suffix}`,
/// see [`ragwire_schemas::tenant`]), each served by its own task, the two
/// under the subject's one bound.
async fn serve_endpoints(
    service: &async_nats::service::Service,
    shared: &Arc<Shared>,
) -> Result<Vec<JoinHandle<()>>, Error> {
    let config = &shared.state.config;
    let group = service.group(&config.common.prefix);
    let mut loops = Vec::with_capacity(2 * Subject::ALL.len());
    for &subject in Subject::ALL {
        let bound = Arc::new(Semaphore::new(config.limits.max_in_flight));
        let tenants = format!("{}.*.{}", tenant::TENANT_TOKEN, subject.suffix());
        let names = [
            (
                subject.endpoint_name().to_owned(),
                subject.suffix().to_owned(),
            ),
            (
                format!("{}{TENANTS_ENDPOINT}", subject.endpoint_name()),
                tenants,
            ),
        ];
        for (name, on) in names {
            let endpoint = group
                .endpoint_builder()
                .name(&name)
                .add(on)
                .await
                .map_err(|e| Error::Nats(format!("cannot add endpoint {name}: {e}")))?;
            loops.push(tokio::spawn(endpoint::serve(
                endpoint,
                subject,
                bound.clone(),
                shared.clone(),
            )));
        }
    }
    Ok(loops)
}

/// The suffix of the name of a subject's endpoint for tenants other than
/// `default` (`search_tenants`).
pub const TENANTS_ENDPOINT: &str = "_tenants";

/// Waits for `shutdown`, then stops: the endpoint loops unsubscribe and
/// answer what they already took, the requests and jobs in flight finish
/// within the grace period, the last replies are flushed, the service is
/// deregistered and the vector store flushed.
async fn stop_when_cancelled(
    shutdown: CancellationToken,
    loops: Vec<JoinHandle<()>>,
    tracker: TaskTracker,
    client: async_nats::Client,
    service: async_nats::service::Service,
    state: State,
) {
    shutdown.cancelled().await;
    let aborts: Vec<_> = loops.iter().map(JoinHandle::abort_handle).collect();
    // Each loop unsubscribes, then takes what was already delivered; all
    // of it, and the requests in flight, within the grace period.
    let drain = async {
        futures::future::join_all(loops).await;
        tracker.close();
        tracker.wait().await;
    };
    if tokio::time::timeout(state.config.limits.shutdown_grace, drain)
        .await
        .is_err()
    {
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
    if let Err(e) = state.vectors.flush().await {
        tracing::warn!(error = %e, "could not flush the vector store");
    }
    let _ = tokio::time::timeout(second, state.usage.flush()).await;
    tracing::info!("worker stopped");
}
