//! `ragwire`: run a worker and the HTTP producer together (`ragwire serve`),
//! or either alone; submit files as ingest jobs and follow them
//! (`ragwire ingest`, `ragwire jobs`).

mod ingest;
mod jobs;
mod ping;

use clap::{Parser, Subcommand};
use ragwire_producer::AppState;
use ragwire_worker::{connect::connect, service::wait_for_signal, telemetry, Config};
use tokio_util::sync::CancellationToken;

/// ragwire: RAG and GraphRAG backend work as jobs on NATS.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a worker and the HTTP producer in one process (configured by environment).
    Serve,
    /// Run a worker only.
    Worker,
    /// Run the HTTP producer only.
    Producer,
    /// Submit text and Markdown files as ingest jobs and follow them to the end.
    Ingest(ingest::Ingest),
    /// Job status, dead letters and replay.
    #[command(subcommand)]
    Jobs(jobs::Jobs),
    /// List the workers that answer; fails when none does (a health check).
    Ping(ping::Ping),
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
    let cli = Cli::parse();
    let config = Config::load()?;
    telemetry::init(config.log_json);
    let (run_worker, run_producer) = match cli.command {
        Command::Serve => (true, true),
        Command::Worker => (true, false),
        Command::Producer => (false, true),
        Command::Ingest(args) => {
            let nats = connect(&config.nats, "ragwire-ingest").await?;
            let s = ingest::run(&nats, &config.prefix, args).await?;
            println!(
                "{} done, {} failed, {} deduplicated, {} skipped",
                s.done, s.failed, s.deduplicated, s.skipped
            );
            anyhow::ensure!(s.failed == 0, "{} jobs failed", s.failed);
            return Ok(());
        }
        Command::Jobs(command) => {
            let nats = connect(&config.nats, "ragwire-jobs").await?;
            return jobs::run(&nats, &config.prefix, command).await;
        }
        Command::Ping(args) => {
            let nats = connect(&config.nats, "ragwire-ping").await?;
            return ping::run(&nats, &config.prefix, args).await;
        }
    };
    let worker = match run_worker {
        true => Some(ragwire_worker::start(config.clone()).await?),
        false => None,
    };
    let shutdown = CancellationToken::new();
    let producer = match run_producer {
        true => {
            let nats = connect(&config.nats, "ragwire-producer").await?;
            let listener = tokio::net::TcpListener::bind(&config.http.addr).await?;
            let state = AppState::new(&config, nats);
            Some(tokio::spawn(ragwire_producer::serve(
                listener,
                state,
                shutdown.clone(),
            )))
        }
        false => None,
    };
    wait_for_signal().await;
    shutdown.cancel();
    if let Some(worker) = worker {
        worker.shutdown().await;
    }
    if let Some(producer) = producer {
        producer.await??;
    }
    Ok(())
}
