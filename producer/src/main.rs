//! `ragwire-producer`: the HTTP API, bridged to the workers over NATS.

use ragwire_common::{settings, signal, telemetry};
use ragwire_producer::{AppState, Config};
use tokio_util::sync::CancellationToken;

// JSON-heavy request handling allocates a lot; mimalloc keeps that cheap.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// ragwire-producer: ragwire's HTTP API, bridged to the workers over NATS.
/// Every setting is a flag or an environment variable.
#[derive(clap::Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    config: Config,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ragwire-producer: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let Config { common, http } = settings::load_or_exit::<Args>()?.config;
    let _telemetry = telemetry::init(common.log_json, "ragwire-producer");
    let rag = common.client("ragwire-producer").await?;
    let listener = tokio::net::TcpListener::bind(&http.addr).await?;
    let state = AppState::start(&http, rag).await?;
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(ragwire_producer::serve(listener, state, shutdown.clone()));
    signal::wait_for_signal().await;
    shutdown.cancel();
    server.await??;
    Ok(())
}
