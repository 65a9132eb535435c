//! Interactive work beside bulk work on one worker: search latency alone
//! and while an ingest runs, and the ingest's throughput with and without
//! searches; on the local model and on an embedding service (the fake, with
//! a pause per call as a remote service has).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ragwire_client::endpoint::{JobsSubmit, Search};
use ragwire_client::RagClient;
use ragwire_schemas::jobs::{JobChunk, JobDocument, SubmitRequest};
use ragwire_schemas::search::SearchRequest;
use ragwire_tests::{unique_prefix, Behaviour, FakeOpenAi};
use serde_json::json;

const CHUNKS_PER_DOC: usize = 100;

/// Latencies (ms) of searches run one at a time until `stop` is set (or,
/// without one, for `alone`), each a text not asked before (no cache hit);
/// and the number that failed or took over 15 s.
async fn searches(
    rag: &RagClient,
    stop: Option<Arc<AtomicBool>>,
    alone: Duration,
    first: u64,
) -> (Vec<f64>, usize) {
    let rag = rag.clone().with_timeout(Duration::from_secs(15));
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut failed = 0;
    for i in first.. {
        let done = match &stop {
            Some(stop) => stop.load(Ordering::Relaxed),
            None => started.elapsed() >= alone,
        };
        if done {
            break;
        }
        let mut request = SearchRequest::new(format!(
            "question {i}: {}",
            crate::vectors::sentence(i + 1_000_000)
        ));
        request.collection = "live".into();
        request.top_k = 5;
        let t = Instant::now();
        match rag.call::<Search>(&request).await {
            Ok(_) => latencies.push(t.elapsed().as_secs_f64() * 1e3),
            Err(_) => failed += 1,
        }
    }
    (latencies, failed)
}

fn percentile(mut values: Vec<f64>, p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() as f64 * p).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

/// Submits `chunks` short chunks (documents of 100) tagged `tag` as ingest
/// jobs and waits until every one is done; the seconds it took.
async fn ingest(rag: &RagClient, chunks: usize, tag: &str) -> anyhow::Result<f64> {
    let docs: Vec<JobDocument> = (0..chunks.div_ceil(CHUNKS_PER_DOC))
        .map(|d| {
            let chunks = (0..CHUNKS_PER_DOC)
                .map(|c| {
                    JobChunk::new(format!(
                        "{tag} document {d} passage {c}: {}",
                        crate::vectors::sentence((d * CHUNKS_PER_DOC + c) as u64)
                    ))
                })
                .collect();
            JobDocument::from_chunks(format!("{tag}-{d}"), chunks)
        })
        .collect();
    let t0 = Instant::now();
    let mut ids = Vec::new();
    for group in docs.chunks(20) {
        let request = SubmitRequest::new("bulk", group.to_vec());
        let reply = rag.call::<JobsSubmit>(&request).await?;
        ids.extend(reply.jobs.into_iter().map(|j| j.job_id));
    }
    crate::procs::wait_for_jobs(rag, ids).await?;
    Ok(t0.elapsed().as_secs_f64())
}

/// One embedder's row: searches alone, an ingest alone, then both.
async fn measure(
    nats: &async_nats::Client,
    name: &str,
    env: &[(&str, String)],
    chunks: usize,
    root: &Path,
) -> anyhow::Result<()> {
    let prefix = unique_prefix();
    let workers = crate::procs::start(nats, &prefix, 1, env, root).await?;
    let rag = crate::rag(&prefix).with_timeout(Duration::from_secs(120));
    let bodies = (0..10)
        .map(|d| {
            let chunks: Vec<_> = (0..20)
                .map(|c| {
                    let n = (d * 20 + c) as u64;
                    json!({"doc_id": format!("live-{d}"), "chunk_id": c.to_string(),
                           "text": crate::vectors::sentence(n + 500_000)})
                })
                .collect();
            json!({"collection": "live", "chunks": chunks})
        })
        .collect();
    crate::load::index_all(&rag, bodies).await?;
    // Warm-up: the model's first calls allocate.
    searches(&rag, None, Duration::from_secs(1), 0).await;
    let (alone, _) = searches(&rag, None, Duration::from_secs(8), 10_000).await;
    let bulk_alone = ingest(&rag, chunks, "first").await?;
    let stop = Arc::new(AtomicBool::new(false));
    let during = tokio::spawn({
        let (rag, stop) = (rag.clone(), stop.clone());
        async move { searches(&rag, Some(stop), Duration::ZERO, 20_000).await }
    });
    let bulk_mixed = ingest(&rag, chunks, "second").await;
    stop.store(true, Ordering::Relaxed);
    let (mixed, failed) = during.await?;
    let bulk_mixed = bulk_mixed?;
    println!(
        "{:<22} {:>7.1} / {:>7.1} {:>9.1} / {:>7.1} {:>6} {:>4} {:>10.0} {:>10.0}",
        name,
        percentile(alone.clone(), 0.5),
        percentile(alone, 0.95),
        percentile(mixed.clone(), 0.5),
        percentile(mixed.clone(), 0.95),
        mixed.len(),
        failed,
        chunks as f64 / bulk_alone,
        chunks as f64 / bulk_mixed,
    );
    drop(workers);
    crate::procs::clean_up(nats, &prefix, root).await;
    Ok(())
}

/// The section: one row for the local model, one for an embedding service.
pub async fn run(nats: &async_nats::Client, chunks: usize, dim: usize) -> anyhow::Result<()> {
    let root = std::env::temp_dir().join("ragwire-bench-priority");
    let service = FakeOpenAi::start_with(
        Behaviour {
            delay: Duration::from_millis(10),
            ..Default::default()
        },
        dim,
    )
    .await;
    service.stop_recording();
    println!();
    println!(
        "searches (one at a time) beside an ingest of {chunks} chunks on one worker (embedded vector store):"
    );
    println!(
        "{:<22} {:>17} {:>19} {:>6} {:>4} {:>10} {:>10}",
        "embedder", "alone p50/p95 ms", "during p50/p95 ms", "n", "fail", "ingest c/s", "with srch"
    );
    let local = vec![(
        "RAGWIRE_EMBED_MODEL_DIR",
        ragwire_tests::model_dir().to_string_lossy().into_owned(),
    )];
    measure(nats, "local-minilm", &local, chunks, &root).await?;
    let remote = vec![
        ("RAGWIRE_EMBED_BASE_URL", service.base_url.clone()),
        ("RAGWIRE_EMBED_MODEL", "fake".to_owned()),
    ];
    measure(nats, "service (fake, 10 ms)", &remote, chunks, &root).await?;
    Ok(())
}
