//! Index (chunks/s) and search (requests/s, latency) on the embedded vector
//! store, with an instant fake embedder and with the local model.

use ragwire_schemas::Subject;
use ragwire_tests::{model_dir, start_worker, test_config, FakeOpenAi};
use serde_json::json;

use crate::load::{measure, rag_call};

const WORDS: [&str; 24] = [
    "queue",
    "stream",
    "vector",
    "graph",
    "worker",
    "retry",
    "batch",
    "model",
    "search",
    "filter",
    "index",
    "chunk",
    "latency",
    "replica",
    "cluster",
    "payload",
    "subject",
    "reply",
    "timeout",
    "embedding",
    "rerank",
    "citation",
    "entity",
    "relation",
];

/// A deterministic sentence of 12 words for `n`.
pub fn sentence(n: u64) -> String {
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..12)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            WORDS[(x % WORDS.len() as u64) as usize]
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Chunks per index request.
const CHUNKS: u64 = 32;

pub async fn run(seconds: f64, concurrency: &[usize]) -> anyhow::Result<()> {
    let fake = FakeOpenAi::start_with(Default::default(), 384).await;
    println!();
    println!(
        "embedded vector store (qdrant-edge), 384 dimensions, {CHUNKS} chunks per index request:"
    );
    println!(
        "{:<14} {:<10} {:>5} {:>10} {:>9} {:>9} {:>9} {:>7}",
        "embedder", "scenario", "conc", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"
    );
    for embedder in ["instant-fake", "local-minilm"] {
        let mut config = test_config(&fake);
        config.limits.max_in_flight = 4096;
        if embedder == "local-minilm" {
            config.embed.base_url = None;
            config.embed.model_dir = Some(model_dir());
        }
        let worker = start_worker(&config).await;
        let index = rag_call(crate::rag(&config.common.prefix), Subject::Index, |n| {
            let chunks: Vec<_> = (0..CHUNKS)
                .map(|c| json!({"doc_id": format!("doc-{n}"), "chunk_id": c.to_string(), "text": sentence(n * CHUNKS + c), "metadata": {"n": n}}))
                .collect();
            serde_json::to_vec(&json!({"chunks": chunks, "collection": "bench"}))
                .unwrap()
                .into()
        });
        let o = measure(index, 4, seconds).await;
        println!(
            "{:<14} {:<10} {:>5} {:>10.0} {:>9.3} {:>9.3} {:>9.3} {:>7}   = {:.0} chunks/s",
            embedder,
            "index",
            4,
            o.rps,
            o.p50,
            o.p95,
            o.p99,
            o.errors,
            o.rps * CHUNKS as f64
        );
        for &c in concurrency {
            let search = rag_call(crate::rag(&config.common.prefix), Subject::Search, |n| {
                serde_json::to_vec(
                    &json!({"query": sentence(n + 1_000_000), "collection": "bench", "top_k": 5}),
                )
                .unwrap()
                .into()
            });
            let o = measure(search, c, seconds).await;
            println!(
                "{:<14} {:<10} {:>5} {:>10.0} {:>9.3} {:>9.3} {:>9.3} {:>7}",
                embedder, "search", c, o.rps, o.p50, o.p95, o.p99, o.errors
            );
        }
        worker.shutdown().await;
        let _ = std::fs::remove_dir_all(&config.worker.data_dir);
    }
    Ok(())
}

/// retrieve on the embedded stores, its stages in parallel and one after the
/// other, with an embedder that takes `embed_ms` per call.
pub async fn retrieve(
    nats: &async_nats::Client,
    seconds: f64,
    concurrency: &[usize],
    embed_ms: u64,
) -> anyhow::Result<()> {
    let behaviour = ragwire_tests::Behaviour {
        delay: std::time::Duration::from_millis(embed_ms),
        ..Default::default()
    };
    let fake = FakeOpenAi::start_with(behaviour, 384).await;
    println!();
    println!("retrieve on the embedded stores (2,000 chunks, 1,000-node graph, top 5, 2 hops), embedder {embed_ms} ms per call:");
    println!(
        "{:<10} {:>5} {:>10} {:>9} {:>9} {:>9} {:>7}",
        "stages", "conc", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"
    );
    for serial in [false, true] {
        let mut config = test_config(&fake);
        config.rerank.url = None;
        config.worker.retrieve_serial = serial;
        let worker = start_worker(&config).await;
        let prefix = config.common.prefix.clone();
        for batch in 0..(2_000 / CHUNKS) {
            let chunks: Vec<_> = (0..CHUNKS)
                .map(|c| json!({"doc_id": format!("doc-{batch}"), "chunk_id": c.to_string(), "text": sentence(batch * CHUNKS + c)}))
                .collect();
            let body = serde_json::to_vec(&json!({"chunks": chunks}))?;
            nats.request(Subject::Index.subject(&prefix), body.into())
                .await?;
        }
        // A graph whose node names are the benchmark's words: every query names some.
        let nodes: Vec<_> = (0..1_000)
            .map(|i| json!({"id": format!("n{i}"), "type": "Entity", "props": {"name": format!("{} {i}", WORDS[i % WORDS.len()])}}))
            .collect();
        let edges: Vec<_> = (0..1_000)
            .map(|i| json!({"src": format!("n{i}"), "dst": format!("n{}", (i * 7 + 1) % 1_000), "type": "RELATED_TO"}))
            .collect();
        let body = serde_json::to_vec(&json!({"data": {"nodes": nodes, "edges": edges}}))?;
        nats.request(Subject::GraphUpsert.subject(&prefix), body.into())
            .await?;
        for &c in concurrency {
            let retrieve = rag_call(crate::rag(&prefix), Subject::Retrieve, |n| {
                let query = format!("{} 1{}", sentence(n + 2_000_000), n % 10);
                serde_json::to_vec(&json!({"query": query, "top_k": 5, "max_hops": 2}))
                    .unwrap()
                    .into()
            });
            let o = measure(retrieve, c, seconds).await;
            let stages = if serial { "serial" } else { "parallel" };
            println!(
                "{:<10} {:>5} {:>10.0} {:>9.3} {:>9.3} {:>9.3} {:>7}",
                stages, c, o.rps, o.p50, o.p95, o.p99, o.errors
            );
        }
        worker.shutdown().await;
        let _ = std::fs::remove_dir_all(&config.worker.data_dir);
    }
    Ok(())
}
