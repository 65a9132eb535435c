//! `ragwire serve`, `ragwire worker` and `ragwire producer`: a worker and the
//! HTTP producer in one process, or either alone, until a stop signal.

use ragwire_common::{signal, telemetry};
use ragwire_producer::{AppState, HttpConfig};
use tokio_util::sync::CancellationToken;

/// The settings of `ragwire serve`: a worker's and a producer's.
#[derive(clap::Args)]
pub struct Serve {
    #[command(flatten)]
    worker: ragwire_worker::Config,
    #[command(flatten)]
    http: HttpConfig,
}

/// Runs a worker and a producer sharing the worker's general settings.
pub async fn serve(Serve { worker, http }: Serve) -> anyhow::Result<()> {
    let producer = ragwire_producer::Config {
        common: worker.common.clone(),
        http,
    };
    run(Some(worker), Some(producer)).await
}

/// Runs the worker and the producer given, until a stop signal.
pub async fn run(
    worker: Option<ragwire_worker::Config>,
    producer: Option<ragwire_producer::Config>,
) -> anyhow::Result<()> {
    let common = worker
        .as_ref()
        .map(|w| &w.common)
        .or(producer.as_ref().map(|p| &p.common))
        .expect("serve, worker or producer");
    let _telemetry = telemetry::init(common.log_json, "ragwire");
    let worker = match worker {
        Some(config) => Some(ragwire_worker::start(config.validate()?).await?),
        None => None,
    };
    let shutdown = CancellationToken::new();
    let producer = match producer {
        Some(config) => {
            let rag = config.common.client("ragwire-producer").await?;
            let listener = tokio::net::TcpListener::bind(&config.http.addr).await?;
            let state = AppState::start(&config.http, rag).await?;
            Some(tokio::spawn(ragwire_producer::serve(
                listener,
                state,
                shutdown.clone(),
            )))
        }
        None => None,
    };
    signal::wait_for_signal().await;
    shutdown.cancel();
    if let Some(worker) = worker {
        worker.shutdown().await;
    }
    if let Some(producer) = producer {
        producer.await??;
    }
    Ok(())
}
