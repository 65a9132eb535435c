//! `ragwire-worker`: answers ragwire's subjects on NATS until SIGTERM/SIGINT.

use ragwire_common::{settings, signal, telemetry};
use ragwire_worker::Config;

// JSON-heavy request handling allocates a lot; mimalloc keeps that cheap.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// ragwire-worker: answers ragwire's subjects on NATS. Every setting is a
/// flag or an environment variable.
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
            eprintln!("ragwire-worker: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let config = settings::load_or_exit::<Args>()?.config.validate()?;
    let _telemetry = telemetry::init(config.common.log_json, "ragwire-worker");
    let worker = ragwire_worker::start(config).await?;
    signal::wait_for_signal().await;
    worker.shutdown().await;
    Ok(())
}
