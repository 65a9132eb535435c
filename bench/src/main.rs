//! `ragwire-bench`: requests/s and latency percentiles of ragwire against the
//! raw NATS request-reply it is built on, measured in one run.
//!
//! Scenarios, each at several concurrency levels:
//! - `nats-echo`: a bare NATS responder echoing the payload (the ceiling);
//! - `nats-embed` / `nats-chat`: NATS -> worker, instant fake backend;
//! - `http-embed`: HTTP -> producer -> NATS -> worker, same fake;
//!
//! then index and search on the embedded vector store ([`vectors`]), and
//! graph extraction with a serial against a hedged provider chain
//! ([`extract`]), and bulk indexing through ingest jobs with 1 and 2 worker
//! processes ([`ingest`]).

mod extract;
mod ingest;
mod load;
mod vectors;

use bytes::Bytes;
use clap::Parser;
use futures::StreamExt;
use load::{http_call_with, measure, nats_call, nats_call_with, Call};
use ragwire_schemas::Subject;
use ragwire_tests::{start_producer, start_worker, test_config, Behaviour, FakeOpenAi};

/// Throughput and latency benchmark for ragwire (needs NATS on NATS_URL).
#[derive(Parser)]
struct Args {
    /// Seconds measured per scenario and concurrency level.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
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
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let fake = FakeOpenAi::start_with(Behaviour::default(), args.dim).await;
    let mut config = test_config(&fake);
    config.limits.max_in_flight = 4096;
    config.embed.max_concurrency = args.embed_calls;
    config.embed.batch_window_us = args.batch_window_us;
    // The default cache: `nats-embed-hit` repeats one text.
    config.embed.cache = ragwire_worker::Config::default().embed.cache;
    let worker = start_worker(&config).await;
    let producer = start_producer(&config).await;
    let nats = ragwire_tests::nats().await;

    // The ceiling: a bare responder on the same server, echoing the payload.
    let echo_subject = format!("{}.echo", config.prefix);
    let mut echo = nats
        .queue_subscribe(echo_subject.clone(), "echo".into())
        .await?;
    let responder = nats.clone();
    tokio::spawn(async move {
        while let Some(m) = echo.next().await {
            if let Some(reply) = m.reply {
                let _ = responder.publish(reply, m.payload).await;
            }
        }
    });

    let embed = Bytes::from_static(br#"{"texts":["the quick brown fox jumps over the lazy dog"]}"#);
    // A new text each time: every request is a cache miss and reaches the
    // backend.
    let fresh = |n: u64| {
        Bytes::from(format!(
            r#"{{"texts":["the quick brown fox jumps over the lazy dog {n}"]}}"#
        ))
    };
    let chat =
        Bytes::from_static(br#"{"messages":[{"role":"user","content":"the quick brown fox"}]}"#);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()?;
    let mut scenarios: Vec<(&str, Call)> = vec![
        (
            "nats-echo",
            nats_call(nats.clone(), echo_subject, embed.clone()),
        ),
        (
            "nats-embed",
            nats_call_with(nats.clone(), Subject::Embed.subject(&config.prefix), fresh),
        ),
        (
            "nats-embed-hit",
            nats_call(
                nats.clone(),
                Subject::Embed.subject(&config.prefix),
                embed.clone(),
            ),
        ),
        (
            "nats-chat",
            nats_call(nats.clone(), Subject::Chat.subject(&config.prefix), chat),
        ),
        (
            "http-embed",
            http_call_with(http, producer.url("/embed"), fresh),
        ),
    ];
    scenarios.retain(|(name, _)| {
        *name == "nats-echo" || args.only.is_empty() || args.only.iter().any(|o| o == name)
    });

    // `--ingest-only` and `--extract-only` run their section alone.
    let focused = args.ingest_only || args.extract_only;
    if !focused {
        println!(
            "ragwire-bench: {} s per cell, fake backend dim {}, {} cores",
            args.seconds,
            args.dim,
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        println!(
            "{:<14} {:>5} {:>10} {:>9} {:>9} {:>9} {:>7}",
            "scenario", "conc", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"
        );
        let mut rps: std::collections::HashMap<(&str, usize), f64> =
            std::collections::HashMap::new();
        for &c in &args.concurrency {
            for (name, call) in &scenarios {
                let o = measure(call.clone(), c, args.seconds).await;
                println!(
                    "{:<14} {:>5} {:>10.0} {:>9.3} {:>9.3} {:>9.3} {:>7}",
                    name, c, o.rps, o.p50, o.p95, o.p99, o.errors
                );
                rps.insert((*name, c), o.rps);
            }
        }
        println!();
        println!("ratios of requests/s to nats-echo at the same concurrency:");
        let names = ["nats-embed", "nats-embed-hit", "nats-chat", "http-embed"];
        println!(
            "{:>5} {:>15} {:>15} {:>15} {:>15}",
            "conc", names[0], names[1], names[2], names[3]
        );
        for &c in &args.concurrency {
            let base = rps[&("nats-echo", c)];
            let ratio = |name: &str| {
                rps.get(&(name, c))
                    .map_or("-".to_owned(), |r| format!("{:.0}%", 100.0 * r / base))
            };
            println!(
                "{:>5} {:>15} {:>15} {:>15} {:>15}",
                c,
                ratio(names[0]),
                ratio(names[1]),
                ratio(names[2]),
                ratio(names[3])
            );
        }
        println!(
            "backend calls: {} embedding calls for {} texts (micro-batching), {} chat calls",
            fake.embed_calls(),
            fake.embed_texts(),
            fake.chat_calls()
        );
    }
    worker.shutdown().await;
    if !focused && !args.no_vectors {
        let vector_levels: Vec<usize> = args
            .concurrency
            .iter()
            .copied()
            .filter(|c| *c <= 64)
            .collect();
        vectors::run(&nats, args.seconds, &vector_levels).await?;
        vectors::retrieve(&nats, args.seconds, &vector_levels, 5).await?;
    }
    if !args.ingest_only && args.extract_requests > 0 {
        extract::run(&nats, args.extract_requests, 64).await?;
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
    let _ = std::fs::remove_dir_all(&config.data_dir);
    Ok(())
}
