//! `ragwire`: run a worker and the HTTP producer together (`ragwire serve`),
//! or either alone; submit files as ingest jobs and follow them
//! (`ragwire ingest`, `ragwire jobs`); list the workers (`ragwire ping`);
//! print the settings reference (`ragwire config`).

mod config;
mod ingest;
mod jobs;
mod ping;

use clap::{Parser, Subcommand};
use ragwire_common::{settings, signal, telemetry};
use ragwire_producer::{AppState, HttpConfig};
use tokio_util::sync::CancellationToken;

/// ragwire: RAG and GraphRAG backend work as jobs on NATS. Every setting is
/// a flag or an environment variable (`ragwire serve --help` lists them).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a worker and the HTTP producer in one process.
    Serve(Serve),
    /// Run a worker only.
    Worker {
        #[command(flatten)]
        config: ragwire_worker::Config,
    },
    /// Run the HTTP producer only.
    Producer {
        #[command(flatten)]
        config: ragwire_producer::Config,
    },
    /// Submit text and Markdown files as ingest jobs and follow them to the end.
    Ingest(ingest::Ingest),
    /// Job status, dead letters and replay.
    Jobs(jobs::Jobs),
    /// List the workers that answer; fails when none does (a health check).
    Ping(ping::Ping),
    /// The settings reference.
    #[command(subcommand)]
    Config(config::Config),
}

/// The settings of `ragwire serve`: a worker's and a producer's.
#[derive(clap::Args)]
pub struct Serve {
    #[command(flatten)]
    worker: ragwire_worker::Config,
    #[command(flatten)]
    http: HttpConfig,
}

// JSON-heavy request handling allocates a lot; mimalloc keeps that cheap.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ragwire: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let (worker, producer) = match settings::load_or_exit::<Cli>()?.command {
        Command::Serve(Serve { worker, http }) => {
            let producer = ragwire_producer::Config {
                common: worker.common.clone(),
                http,
            };
            (Some(worker), Some(producer))
        }
        Command::Worker { config } => (Some(config), None),
        Command::Producer { config } => (None, Some(config)),
        Command::Ingest(args) => return ingest::run(args).await,
        Command::Jobs(args) => return jobs::run(args).await,
        Command::Ping(args) => return ping::run(args).await,
        Command::Config(command) => return config::run(command),
    };
    let common = worker
        .as_ref()
        .map(|w| &w.common)
        .or(producer.as_ref().map(|p| &p.common))
        .expect("serve, worker or producer");
    telemetry::init(common.log_json);
    let worker = match worker {
        Some(config) => Some(ragwire_worker::start(config.validate()?).await?),
        None => None,
    };
    let shutdown = CancellationToken::new();
    let producer = match producer {
        Some(config) => {
            let rag = config.common.client("ragwire-producer").await?;
            let listener = tokio::net::TcpListener::bind(&config.http.addr).await?;
            let state = AppState::new(&config.http, rag);
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
