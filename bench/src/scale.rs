//! Scale-out: bulk ingest (chunks/s, through jobs) and search (requests/s)
//! with 1, 2 and 3 `ragwire-worker` processes on a Qdrant server, with the
//! instant fake embedder, and the CPU each process took; one worker on the
//! embedded store is the reference. Everything shares this machine, so the
//! CPU columns say what a second worker buys and what bounds it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ragwire_client::endpoint::JobsSubmit;
use ragwire_client::RagClient;
use ragwire_schemas::jobs::{JobChunk, JobDocument, SubmitRequest};
use ragwire_schemas::Subject;
use ragwire_tests::{unique_prefix, FakeOpenAi};
use serde_json::json;

use crate::load::{measure, rag_call};
use crate::procs::{cpu_seconds, pid_of};
use crate::vectors::sentence;

/// Chunks per submitted document.
const CHUNKS_PER_DOC: usize = 100;
/// Searches in flight.
pub const SEARCHES_IN_FLIGHT: usize = 16;

/// The processes whose CPU a row reports, by column.
struct Watched {
    columns: Vec<(String, u32)>,
}

impl Watched {
    fn snapshot(&self) -> HashMap<u32, f64> {
        self.columns
            .iter()
            .map(|(_, pid)| (*pid, cpu_seconds(*pid)))
            .collect()
    }

    /// Cores used per column between `before` and now, over `seconds`.
    fn shares(&self, before: &HashMap<u32, f64>, seconds: f64) -> String {
        self.columns
            .iter()
            .map(|(name, pid)| format!("{name} {:.2}", (cpu_seconds(*pid) - before[pid]) / seconds))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Submits `chunks` chunks as jobs, in documents numbered from
/// `first_doc`, and returns the chunks/s until done.
pub async fn ingest(
    rag: &RagClient,
    collection: &str,
    chunks: usize,
    first_doc: usize,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut ids = Vec::new();
    for group in (first_doc..first_doc + chunks.div_ceil(CHUNKS_PER_DOC))
        .collect::<Vec<_>>()
        .chunks(20)
    {
        let documents: Vec<JobDocument> = group
            .iter()
            .map(|&d| {
                let chunks = (0..CHUNKS_PER_DOC)
                    .map(|c| JobChunk::new(sentence((d * CHUNKS_PER_DOC + c) as u64)))
                    .collect();
                JobDocument::from_chunks(format!("doc-{d}"), chunks)
            })
            .collect();
        let request = SubmitRequest::new(collection, documents);
        let reply = rag.call::<JobsSubmit>(&request).await?;
        ids.extend(reply.jobs.into_iter().map(|j| j.job_id));
    }
    crate::procs::wait_for_jobs(rag, ids).await?;
    Ok(chunks as f64 / started.elapsed().as_secs_f64())
}

pub async fn run(
    nats: &async_nats::Client,
    qdrant_url: &str,
    chunks: usize,
    seconds: f64,
    dim: usize,
) -> anyhow::Result<()> {
    let fake = FakeOpenAi::start_with(Default::default(), dim).await;
    fake.stop_recording();
    let root = std::env::temp_dir().join("ragwire-bench-scale");
    println!();
    println!(
        "scale-out: {chunks} chunks ingested as jobs, then searches with {SEARCHES_IN_FLIGHT} in flight \
         for {seconds} s; instant fake embedder ({dim} dimensions); CPU in cores over each phase:"
    );
    println!(
        "{:<9} {:>7} {:>10} {:>9}  cpu (ingest | search)",
        "store", "workers", "chunks/s", "search/s"
    );
    for (store, processes) in [("embedded", 1), ("qdrant", 1), ("qdrant", 2), ("qdrant", 3)] {
        let prefix = unique_prefix();
        let mut env = vec![
            ("RAGWIRE_EMBED_BASE_URL", fake.base_url.clone()),
            ("RAGWIRE_EMBED_MODEL", "fake".to_owned()),
            ("RAGWIRE_LIMITS_MAX_IN_FLIGHT", "4096".to_owned()),
        ];
        if store == "qdrant" {
            env.push(("QDRANT_URL", qdrant_url.to_owned()));
        }
        let workers = crate::procs::start(nats, &prefix, processes, &env, &root).await?;
        let mut columns: Vec<(String, u32)> = workers
            .pids()
            .into_iter()
            .enumerate()
            .map(|(i, pid)| (format!("worker{}", i + 1), pid))
            .collect();
        if store == "qdrant" {
            columns.extend(pid_of("qdrant").map(|p| ("qdrant".to_owned(), p)));
        }
        columns.extend(pid_of("nats-server").map(|p| ("nats".to_owned(), p)));
        columns.push(("bench".into(), std::process::id()));
        let watched = Watched { columns };
        let rag = crate::rag(&prefix).with_timeout(Duration::from_secs(60));
        let collection = format!("scale-{prefix}");

        // The collection exists before the clock starts, as in service: its
        // creation is not what is measured.
        let first = json!({"collection": collection,
            "chunks": [{"doc_id": "warm-up", "text": sentence(0)}]});
        rag.request(Subject::Index, serde_json::to_vec(&first)?.into(), None)
            .await?;
        let before = watched.snapshot();
        let t0 = Instant::now();
        let chunks_per_second = ingest(&rag, &collection, chunks, 0).await?;
        let ingest_cpu = watched.shares(&before, t0.elapsed().as_secs_f64());

        let search = rag_call(rag.clone(), Subject::Search, move |n| {
            serde_json::to_vec(
                &json!({"query": sentence(n + 1_000_000), "collection": collection, "top_k": 5}),
            )
            .unwrap()
            .into()
        });
        let before = watched.snapshot();
        let t0 = Instant::now();
        let o = measure(search, SEARCHES_IN_FLIGHT, seconds).await;
        let search_cpu = watched.shares(&before, t0.elapsed().as_secs_f64());
        println!(
            "{:<9} {:>7} {:>10.0} {:>9.0}  {ingest_cpu} | {search_cpu}",
            store, processes, chunks_per_second, o.rps
        );
        drop(workers);
        crate::procs::clean_up(nats, &prefix, &root).await;
    }
    Ok(())
}
