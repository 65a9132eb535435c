//! `ragwire-worker`: answers ragwire's subjects on NATS until SIGTERM/SIGINT.

use ragwire_worker::{telemetry, Config};

// JSON-heavy request handling allocates a lot; mimalloc keeps that cheap.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ragwire-worker: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let config = Config::load()?;
    telemetry::init(config.log_json);
    let worker = ragwire_worker::start(config).await?;
    ragwire_worker::service::wait_for_signal().await;
    worker.shutdown().await;
    Ok(())
}
