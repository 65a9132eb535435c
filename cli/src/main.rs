//! `ragwire`: run a worker and the HTTP producer together (`ragwire serve`),
//! or either alone; submit files as ingest jobs and follow them
//! (`ragwire ingest`, `ragwire jobs`); list, show and drop collections and
//! delete documents (`ragwire collections`, `ragwire docs`); list the
//! workers (`ragwire ping`);
//! print the settings reference (`ragwire config`).
//!
//! `serve`, `worker` and `producer` need the default feature `server`;
//! without it (`--no-default-features`) the command line is a client only,
//! built without the worker's model, vector and graph engines.
//!
//! - [`collections`]: `ragwire collections` and `ragwire docs`.
//! - [`config`]: `ragwire config reference`.
//! - [`ingest`]: `ragwire ingest`.
//! - [`jobs`]: `ragwire jobs`.
//! - [`ping`]: `ragwire ping`.
//! - [`server`]: `ragwire serve`, `worker` and `producer`.

mod collections;
mod config;
mod ingest;
mod jobs;
mod ping;
#[cfg(feature = "server")]
mod server;

use clap::{Parser, Subcommand};
use ragwire_common::settings;

/// ragwire: RAG and GraphRAG backend work as jobs on NATS. Every setting is
/// a flag or an environment variable (`ragwire serve --help` lists them).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start, so the size of its largest variant (a worker's
// and a producer's settings) costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run a worker and the HTTP producer in one process.
    #[cfg(feature = "server")]
    Serve(server::Serve),
    /// Run a worker only.
    #[cfg(feature = "server")]
    Worker {
        #[command(flatten)]
        config: ragwire_worker::Config,
    },
    /// Run the HTTP producer only.
    #[cfg(feature = "server")]
    Producer {
        #[command(flatten)]
        config: ragwire_producer::Config,
    },
    /// Submit text and Markdown files as ingest jobs and follow them to the end.
    Ingest(ingest::Ingest),
    /// Job status, dead letters and replay.
    Jobs(jobs::Jobs),
    /// Vector collections: list, show, delete.
    Collections(collections::Collections),
    /// Documents: delete one's chunks.
    Docs(collections::Docs),
    /// List the workers that answer; fails when none does (a health check).
    Ping(ping::Ping),
    /// The settings reference.
    #[command(subcommand)]
    Config(config::Config),
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
    match settings::load_or_exit::<Cli>()?.command {
        #[cfg(feature = "server")]
        Command::Serve(serve) => server::serve(serve).await,
        #[cfg(feature = "server")]
        Command::Worker { config } => server::run(Some(config), None).await,
        #[cfg(feature = "server")]
        Command::Producer { config } => server::run(None, Some(config)).await,
        Command::Ingest(args) => ingest::run(args).await,
        Command::Jobs(args) => jobs::run(args).await,
        Command::Collections(args) => collections::run(args).await,
        Command::Docs(args) => collections::run_docs(args).await,
        Command::Ping(args) => ping::run(args).await,
        Command::Config(command) => config::run(command),
    }
}
