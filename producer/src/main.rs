//! `ragwire-producer`: the HTTP API, bridged to the workers over NATS.

use ragwire_producer::AppState;
use ragwire_worker::{connect::connect, telemetry, Config};
use tokio_util::sync::CancellationToken;

// JSON-heavy request handling allocates a lot; mimalloc keeps that cheap.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    let config = Config::load()?;
    telemetry::init(config.log_json);
    let nats = connect(&config.nats, "ragwire-producer").await?;
    let listener = tokio::net::TcpListener::bind(&config.http.addr).await?;
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(ragwire_producer::serve(
        listener,
        AppState::new(&config, nats),
        shutdown.clone(),
    ));
    ragwire_worker::service::wait_for_signal().await;
    shutdown.cancel();
    server.await??;
    Ok(())
}
