//! Bulk indexing through durable jobs: `ragwire-worker` processes (the
//! binary next to this one) consume the job stream; documents of 100 chunks
//! are submitted at once and the clock stops when every job is `done`.

use std::path::Path;
use std::time::{Duration, Instant};

use ragwire_client::endpoint::JobsSubmit;
use ragwire_schemas::jobs::{JobChunk, JobDocument, SubmitRequest};
use ragwire_tests::{unique_prefix, FakeOpenAi};

const CHUNKS_PER_DOC: usize = 100;

/// One measurement: `processes` workers, `chunks` chunks, embedding through
/// `embed` (env settings of the embedder). Returns seconds to done.
async fn measure(
    nats: &async_nats::Client,
    processes: usize,
    chunks: usize,
    embed: &[(&str, String)],
    root: &Path,
) -> anyhow::Result<f64> {
    let prefix = unique_prefix();
    let workers = crate::procs::start(nats, &prefix, processes, embed, root).await?;
    let rag = crate::rag(&prefix).with_timeout(Duration::from_secs(60));
    let docs: Vec<JobDocument> = (0..chunks.div_ceil(CHUNKS_PER_DOC))
        .map(|d| {
            let chunks = (0..CHUNKS_PER_DOC)
                .map(|c| {
                    JobChunk::new(format!(
                        "document {d} passage {c}: {}",
                        crate::vectors::sentence((d * CHUNKS_PER_DOC + c) as u64)
                    ))
                })
                .collect();
            JobDocument::from_chunks(format!("doc-{d}"), chunks)
        })
        .collect();
    let t0 = Instant::now();
    let mut ids = Vec::new();
    for group in docs.chunks(20) {
        let request = SubmitRequest::new("bench", group.to_vec());
        let reply = rag.call::<JobsSubmit>(&request).await?;
        ids.extend(reply.jobs.into_iter().map(|j| j.job_id));
    }
    crate::procs::wait_for_jobs(&rag, ids).await?;
    let seconds = t0.elapsed().as_secs_f64();
    drop(workers);
    crate::procs::clean_up(nats, &prefix, root).await;
    Ok(seconds)
}

pub async fn run(
    nats: &async_nats::Client,
    chunks: usize,
    model_chunks: usize,
    dim: usize,
) -> anyhow::Result<()> {
    let fake = FakeOpenAi::start_with(ragwire_tests::Behaviour::default(), dim).await;
    let root = std::env::temp_dir().join("ragwire-bench-ingest");
    let fake_embed = vec![
        ("RAGWIRE_EMBED_BASE_URL", fake.base_url.clone()),
        ("RAGWIRE_EMBED_MODEL", "fake".to_owned()),
    ];
    println!();
    println!(
        "bulk indexing through ingest jobs (documents of {CHUNKS_PER_DOC} chunks, embedded vector store per process):"
    );
    println!(
        "{:<14} {:>9} {:>8} {:>11} {:>10}",
        "embedder", "processes", "chunks", "chunks/s", "seconds"
    );
    for processes in [1, 2] {
        let s = measure(nats, processes, chunks, &fake_embed, &root).await?;
        println!(
            "{:<14} {:>9} {:>8} {:>11.0} {:>10.1}",
            "instant-fake",
            processes,
            chunks,
            chunks as f64 / s,
            s
        );
    }
    if model_chunks > 0 {
        let model = ragwire_tests::model_dir();
        let local = vec![(
            "RAGWIRE_EMBED_MODEL_DIR",
            model.to_string_lossy().into_owned(),
        )];
        let s = measure(nats, 1, model_chunks, &local, &root).await?;
        println!(
            "{:<14} {:>9} {:>8} {:>11.0} {:>10.1}",
            "local-minilm",
            1,
            model_chunks,
            model_chunks as f64 / s,
            s
        );
    }
    Ok(())
}
