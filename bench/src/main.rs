//! `ragwire-bench`: requests/s and latency percentiles of ragwire against the
//! raw NATS request-reply it is built on, measured in one run: the
//! request-reply scenarios ([`requests`]), the cost of printing an embed
//! reply ([`codec`]), retrieval quality per search mode on Cranfield
//! ([`quality`]), streamed chat completions through the producer
//! against the model called directly ([`streams`]), then index and search on the
//! embedded vector store ([`vectors`]), graph extraction with a serial
//! against a hedged provider chain ([`extract`]), bulk indexing through
//! ingest jobs with 1 and 2 worker processes ([`ingest`]), and scale-out on
//! a Qdrant server with 1, 2 and 3 worker processes ([`scale`]), and
//! deletes and re-ingest on both stores ([`lifecycle`]); on demand, one
//! Qdrant server against a three-node cluster ([`cluster`]).

mod cluster;
mod codec;
mod extract;
mod ingest;
mod lifecycle;
mod load;
mod priority;
mod procs;
mod quality;
mod requests;
mod scale;
mod streams;
mod tenants;
mod tracing_cost;
mod vectors;

use std::sync::OnceLock;

use clap::Parser;
use ragwire_client::{ConnectOptions, RagClient};
use ragwire_tests::{Behaviour, FakeOpenAi};

/// The bench's client of the workers, on a connection whose state comes
/// from its events, as the producer's does.
static CLIENT: OnceLock<RagClient> = OnceLock::new();

/// A client of `prefix`'s subjects.
pub fn rag(prefix: &str) -> RagClient {
    CLIENT
        .get()
        .expect("the client is made first")
        .for_prefix(prefix)
}

/// Throughput and latency benchmark for ragwire (needs NATS on NATS_URL).
#[derive(Parser)]
struct Args {
    /// Seconds measured per scenario and concurrency level, per round.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Rounds over all request-reply scenarios and levels; tables give medians.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Concurrency levels (requests in flight).
    #[arg(long, value_delimiter = ',', default_value = "1,16,64,256")]
    concurrency: Vec<usize>,
    /// Scenarios to run after the always-run `nats-echo` baseline (default: all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Most embedding backend calls in flight per worker.
    #[arg(long, default_value_t = 16)]
    embed_calls: usize,
    /// The embedding batcher's window in microseconds.
    #[arg(long, default_value_t = 2000)]
    batch_window_us: u64,
    /// Skip the vector store section.
    #[arg(long)]
    no_vectors: bool,
    /// Embedding dimension of the fake backend (384 = all-MiniLM-L6-v2).
    #[arg(long, default_value_t = 384)]
    dim: usize,
    /// graph.extract requests per chain kind (0 skips the section).
    #[arg(long, default_value_t = 400)]
    extract_requests: usize,
    /// Skip everything but the graph.extract section.
    #[arg(long)]
    extract_only: bool,
    /// Chunks indexed through ingest jobs with the instant fake embedder (0 skips the section).
    #[arg(long, default_value_t = 10_000)]
    ingest_chunks: usize,
    /// Chunks indexed through ingest jobs with the local model (0 skips).
    #[arg(long, default_value_t = 2_000)]
    ingest_model_chunks: usize,
    /// Skip everything but the ingest section.
    #[arg(long)]
    ingest_only: bool,
    /// Chunks ingested per row of the scale-out section (0 skips it).
    #[arg(long, default_value_t = 10_000)]
    scale_chunks: usize,
    /// Skip everything but the scale-out section.
    #[arg(long)]
    scale_only: bool,
    /// Run only the Qdrant cluster section (one server against three
    /// nodes, then one node down; `--scale-chunks` chunks a row). Not part
    /// of the full run: it starts Qdrant servers of its own.
    #[arg(long)]
    cluster_only: bool,
    /// The Cranfield collection of the retrieval quality section.
    #[arg(long, default_value = "../shared/testdata/cranfield")]
    cranfield: std::path::PathBuf,
    /// Skip the retrieval quality section.
    #[arg(long)]
    no_quality: bool,
    /// Skip everything but the retrieval quality section.
    #[arg(long)]
    quality_only: bool,
    /// Run only the indexing cost of BM25 vectors (part of the quality
    /// section).
    #[arg(long)]
    index_cost_only: bool,
    /// Run only the deletes and re-ingest section.
    #[arg(long)]
    lifecycle_only: bool,
    /// Other points beside the deleted document in the smaller collection
    /// of the deletes section (the larger has ten times as many; 0 skips
    /// the section).
    #[arg(long, default_value_t = 20_000)]
    lifecycle_points: usize,
    /// Run only the cost of traces: one worker with traces off, then
    /// exported over OTLP, at 64 in flight.
    #[arg(long)]
    tracing_only: bool,
    /// Run only the instructions the worker runs per request with traces
    /// off and on, counted by callgrind (needs valgrind): this many
    /// `rag.embed` requests per row, a fortieth as many searches.
    #[arg(long)]
    tracing_instructions: Option<usize>,
    /// Run only the interactive-beside-bulk section: search latency alone
    /// and during an ingest, on the local model and an embedding service.
    #[arg(long)]
    priority_only: bool,
    /// Chunks ingested per row of the interactive-beside-bulk section.
    #[arg(long, default_value_t = 2_000)]
    priority_chunks: usize,
    /// Run only the tenants section: search latency of a tenant among 100
    /// sharing a collection of 100,000 points against the same tenant
    /// alone, on the embedded store and the Qdrant server; then `/embed`
    /// with a tenant key against a legacy key; then quotas held by three
    /// producers.
    #[arg(long)]
    tenants_only: bool,
    /// Run only the quotas part of the tenants section.
    #[arg(long)]
    quotas_only: bool,
    /// Searches per row of the tenants section.
    #[arg(long, default_value_t = 1_000)]
    tenant_searches: usize,
    /// Skip the streamed chat completion section.
    #[arg(long)]
    no_streams: bool,
    /// Skip everything but the streamed chat completion section.
    #[arg(long)]
    streams_only: bool,
    /// Paces of the streaming section: `model` (chunks 50 ms apart, every
    /// stream starting at once), `model-spread` (starts spread over a
    /// stream's length), `flat` (chunks at once).
    #[arg(long, value_delimiter = ',', default_value = "model,model-spread,flat")]
    stream_paces: Vec<String>,
    /// Routes of the streaming section besides `direct`: `producer`
    /// (HTTP), `nats` (`RagClient::stream`).
    #[arg(long, value_delimiter = ',', default_value = "producer,nats")]
    stream_routes: Vec<String>,
    /// Skip the streaming section's chunks per second of 64 long streams.
    #[arg(long)]
    no_long_streams: bool,
    /// Run the streaming section's worker and producer in the bench's
    /// process rather than as processes of their own (the release binaries
    /// beside the bench).
    #[arg(long)]
    stream_in_process: bool,
    /// Start the streaming section's fake model (at a model's pace), worker
    /// and producer, print where they listen, and keep them up until
    /// interrupted: for measuring with clients of one's own.
    #[arg(long)]
    stream_serve: bool,
    /// The Qdrant server of the scale-out and indexing cost sections (its
    /// gRPC port; `scripts/qdrant start` runs one).
    #[arg(long, env = "QDRANT_URL", default_value = "http://127.0.0.1:6334")]
    qdrant_url: String,
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The worker's logs, when asked for (e.g. RUST_LOG=info).
    if std::env::var_os("RUST_LOG").is_some() {
        std::mem::forget(ragwire_common::telemetry::init(false, "ragwire-bench"));
    }
    let options = ConnectOptions::new(ragwire_tests::nats_url()).name("ragwire-bench");
    let client = RagClient::connect(&options, "rag").await?;
    let nats = client.nats().clone();
    CLIENT.set(client).ok();
    // `--ingest-only`, `--extract-only`, `--scale-only` and `--streams-only`
    // run their section alone.
    let focused = args.ingest_only
        || args.extract_only
        || args.scale_only
        || args.streams_only
        || args.quality_only;
    let streams = streams::Plan {
        seconds: args.seconds,
        rounds: args.rounds,
        levels: args.concurrency.clone(),
        paces: args.stream_paces.clone(),
        routes: args.stream_routes.clone(),
        long: !args.no_long_streams,
        processes: !args.stream_in_process,
        serve: args.stream_serve,
    };
    if args.streams_only || args.stream_serve {
        return streams::run(&streams).await;
    }
    let lifecycle = lifecycle::Sizes {
        points: args.lifecycle_points,
        doc_chunks: 10_000,
        docs: 1_000,
        dim: 64,
    };
    if args.quotas_only {
        return tenants::quotas().await;
    }
    if args.tenants_only {
        tenants::run(&args.qdrant_url, args.tenant_searches).await?;
        tenants::keys(args.seconds.max(3.0), args.rounds, args.dim).await?;
        return tenants::quotas().await;
    }
    if let Some(requests) = args.tracing_instructions {
        return tracing_cost::instructions(&nats, requests, args.dim).await;
    }
    if args.tracing_only {
        return tracing_cost::run(&nats, args.seconds.max(5.0), args.rounds, args.dim).await;
    }
    if args.priority_only {
        return priority::run(&nats, args.priority_chunks, args.dim).await;
    }
    if args.cluster_only {
        return cluster::run(&nats, args.scale_chunks, args.seconds, args.dim).await;
    }
    if args.lifecycle_only {
        return lifecycle::run(&args.qdrant_url, &lifecycle).await;
    }
    if args.index_cost_only {
        return quality::index_cost(&args.cranfield, &args.qdrant_url, 10_000, 5).await;
    }
    if args.quality_only || (!focused && !args.no_quality) {
        quality::run(&args.cranfield).await?;
        quality::index_cost(&args.cranfield, &args.qdrant_url, 10_000, 5).await?;
        if args.quality_only {
            return Ok(());
        }
    }
    if !focused {
        let fake = FakeOpenAi::start_with(Behaviour::default(), args.dim).await;
        fake.stop_recording();
        let plan = requests::Plan {
            seconds: args.seconds,
            rounds: args.rounds,
            concurrency: args.concurrency.clone(),
            only: args.only.clone(),
            embed_calls: args.embed_calls,
            batch_window_us: args.batch_window_us,
            dim: args.dim,
        };
        requests::run(&plan, &fake, &nats).await?;
    }
    if !focused {
        codec::run(args.dim);
    }
    if !focused && !args.no_streams {
        streams::run(&streams).await?;
    }
    if !focused && !args.no_vectors {
        let vector_levels: Vec<usize> = args
            .concurrency
            .iter()
            .copied()
            .filter(|c| *c <= 64)
            .collect();
        vectors::run(args.seconds, &vector_levels).await?;
        vectors::retrieve(&nats, args.seconds, &vector_levels, 5).await?;
    }
    if !focused || args.scale_only {
        if args.scale_chunks > 0 {
            scale::run(
                &nats,
                &args.qdrant_url,
                args.scale_chunks,
                args.seconds,
                args.dim,
            )
            .await?;
        }
        if args.scale_only {
            return Ok(());
        }
    }
    if !args.ingest_only && args.extract_requests > 0 {
        extract::run(args.extract_requests, 64).await?;
    }
    if !args.extract_only && args.ingest_chunks > 0 {
        ingest::run(
            &nats,
            args.ingest_chunks,
            args.ingest_model_chunks,
            args.dim,
        )
        .await?;
    }
    if !focused && args.lifecycle_points > 0 {
        lifecycle::run(&args.qdrant_url, &lifecycle).await?;
    }
    Ok(())
}
