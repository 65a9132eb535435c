//! Deletes and re-ingest, on the embedded store and on a Qdrant server,
//! with the instant fake embedder: the delete of one document of many
//! chunks in a collection of N and of 10N other points (a document delete
//! should not grow with the collection), search latency while documents
//! are deleted, and re-ingesting documents of which a tenth changed
//! against their first ingest (through ingest jobs).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::load::median;
use ragwire_client::endpoint::{DocsDelete, JobsSubmit};
use ragwire_client::RagClient;
use ragwire_schemas::collections::DocRef;
use ragwire_schemas::jobs::{JobChunk, JobDocument, SubmitRequest};
use ragwire_schemas::Subject;
use ragwire_tests::{drop_jobs, start_worker, test_config, unique_prefix, with_jobs, FakeOpenAi};
use serde_json::{json, Value};

/// The sizes of one run.
pub struct Sizes {
    /// N: other points in the smaller collection (the larger has 10N).
    pub points: usize,
    /// Chunks of the deleted document.
    pub doc_chunks: usize,
    /// Documents re-ingested.
    pub docs: usize,
    /// The fake embedder's dimension.
    pub dim: usize,
}

/// Writes `n` chunks of `doc` (or of one document per 64 chunks when
/// `doc` is `None`) through `rag.index`, 64 a request, 4 in flight.
async fn fill(
    rag: &RagClient,
    collection: &str,
    doc: Option<&str>,
    from: usize,
    n: usize,
) -> anyhow::Result<()> {
    let bodies: Vec<Value> = (from..from + n)
        .collect::<Vec<_>>()
        .chunks(64)
        .map(|ids| {
            let chunks: Vec<Value> = ids
                .iter()
                .map(|i| {
                    let doc_id = doc.map_or_else(|| format!("filler-{}", i / 64), str::to_owned);
                    json!({"doc_id": doc_id, "chunk_id": i.to_string(),
                           "text": crate::vectors::sentence(*i as u64)})
                })
                .collect();
            json!({"collection": collection, "chunks": chunks})
        })
        .collect();
    crate::load::index_all(rag, bodies).await?;
    Ok(())
}

/// Milliseconds of deleting `doc`, which must have `chunks` points.
async fn delete_ms(
    rag: &RagClient,
    collection: &str,
    doc: &str,
    chunks: usize,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let reply = rag
        .call::<DocsDelete>(&DocRef::new(collection, doc))
        .await?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(
        reply.deleted == chunks,
        "deleted {} of {chunks}",
        reply.deleted
    );
    Ok(ms)
}

/// p50 and p95 in ms of dense searches, 4 in flight, until `until` is done
/// or `seconds` pass.
async fn search_latency(
    rag: &RagClient,
    collection: &str,
    seconds: f64,
    until: Option<tokio::task::JoinHandle<anyhow::Result<usize>>>,
) -> anyhow::Result<(f64, f64, Option<(usize, f64)>)> {
    let body: bytes::Bytes = serde_json::to_vec(&json!({
        "query": "vectors and payload filters", "collection": collection, "top_k": 10, "mode": "dense"}))?
    .into();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = Instant::now();
    let searches: Vec<_> = (0..4)
        .map(|_| {
            let (rag, body, stop) = (rag.clone(), body.clone(), stop.clone());
            tokio::spawn(async move {
                let mut ms = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let t = Instant::now();
                    let ok = matches!(rag.request(Subject::Search, body.clone(), None).await,
                                      Ok(r) if ragwire_client::error_code(&r).is_none());
                    if ok {
                        ms.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                }
                ms
            })
        })
        .collect();
    let deletes = match until {
        Some(task) => {
            let deleted = task.await??;
            Some((deleted, started.elapsed().as_secs_f64()))
        }
        None => {
            tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
            None
        }
    };
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut all = Vec::new();
    for s in searches {
        all.extend(s.await?);
    }
    anyhow::ensure!(!all.is_empty(), "no search answered");
    all.sort_by(f64::total_cmp);
    Ok((all[all.len() / 2], all[all.len() * 95 / 100], deletes))
}

/// Seconds to ingest `docs` documents of 5 chunks through jobs; the
/// documents whose index is a multiple of `changed_every` say `version`.
async fn ingest(
    rag: &RagClient,
    collection: &str,
    docs: usize,
    version: &str,
    changed_every: usize,
) -> anyhow::Result<(f64, usize)> {
    let documents: Vec<JobDocument> = (0..docs)
        .map(|d| {
            let v = if d % changed_every == 0 { version } else { "1" };
            let chunks = (0..5)
                .map(|c| {
                    JobChunk::new(format!(
                        "page {d} version {v} part {c}: {}",
                        crate::vectors::sentence((d * 5 + c) as u64)
                    ))
                })
                .collect();
            JobDocument::from_chunks(format!("page-{d}"), chunks)
        })
        .collect();
    let started = Instant::now();
    let (mut ids, mut duplicates) = (Vec::new(), 0);
    for group in documents.chunks(100) {
        let reply = rag
            .call::<JobsSubmit>(&SubmitRequest::new(collection, group.to_vec()))
            .await?;
        for job in reply.jobs {
            duplicates += usize::from(job.duplicate);
            ids.push(job.job_id);
        }
    }
    crate::procs::wait_for_jobs(rag, ids).await?;
    Ok((started.elapsed().as_secs_f64(), duplicates))
}

pub async fn run(qdrant_url: &str, sizes: &Sizes) -> anyhow::Result<()> {
    let fake = FakeOpenAi::start_with(Default::default(), sizes.dim).await;
    fake.stop_recording();
    let (n, doc) = (sizes.points, sizes.doc_chunks);
    println!();
    println!(
        "deletes and re-ingest (instant fake embedder, dimension {}, no background index build on \
         the embedded store):",
        sizes.dim
    );
    let qdrant = qdrant_client::Qdrant::from_url(qdrant_url).build()?;
    for server in [false, true] {
        let store = if server { "qdrant" } else { "embedded" };
        let mut config = with_jobs(test_config(&fake));
        config.common.prefix = unique_prefix();
        config.vectors.optimize_every = usize::MAX;
        config.vectors.qdrant_url = server.then(|| qdrant_url.to_owned());
        let worker = start_worker(&config).await;
        let rag = crate::rag(&config.common.prefix).with_timeout(Duration::from_secs(300));
        let collection = format!("{}-kb", config.common.prefix);

        // A document of `doc` chunks deleted from a collection of N, then
        // of 10N other points; three times each.
        let mut rows = Vec::new();
        fill(&rag, &collection, None, 0, n).await?;
        for total in [n, 10 * n] {
            if total > n {
                fill(&rag, &collection, None, n, total - n).await?;
            }
            let mut runs = Vec::new();
            for _ in 0..3 {
                fill(&rag, &collection, Some("big"), 10_000_000, doc).await?;
                runs.push(delete_ms(&rag, &collection, "big", doc).await?);
            }
            rows.push((total, median(runs)));
        }
        for (total, ms) in rows {
            println!(
                "{store:<9} delete a document of {doc} chunks beside {total:>7} points: {ms:>8.1} ms \
                 (median of 3)"
            );
        }

        // Search latency alone, then while 20 documents of 500 chunks are
        // deleted one after another.
        let (p50, p95, _) = search_latency(&rag, &collection, 3.0, None).await?;
        for d in 0..20 {
            fill(
                &rag,
                &collection,
                Some(&format!("gone-{d}")),
                20_000_000 + d * 500,
                500,
            )
            .await?;
        }
        let deleter = {
            let (rag, collection) = (rag.clone(), collection.clone());
            tokio::spawn(async move {
                for d in 0..20 {
                    delete_ms(&rag, &collection, &format!("gone-{d}"), 500).await?;
                }
                Ok(20 * 500)
            })
        };
        let (busy50, busy95, deletes) =
            search_latency(&rag, &collection, 0.0, Some(deleter)).await?;
        let (deleted, seconds) = deletes.expect("deletes ran");
        println!(
            "{store:<9} search (dense, 4 in flight) p50 {p50:.2} ms, p95 {p95:.2} ms alone; \
             p50 {busy50:.2} ms, p95 {busy95:.2} ms while {deleted} chunks in 20 documents are \
             deleted ({:.0} chunks/s)",
            deleted as f64 / seconds
        );

        // Re-ingest: the same documents, a tenth changed.
        let wiki = format!("{}-wiki", config.common.prefix);
        let (first, _) = ingest(&rag, &wiki, sizes.docs, "1", 10).await?;
        let (again, duplicates) = ingest(&rag, &wiki, sizes.docs, "2", 10).await?;
        let points = worker.state().vectors.count(&wiki).await?;
        anyhow::ensure!(points == sizes.docs * 5, "{points} points after re-ingest");
        println!(
            "{store:<9} ingest of {} documents of 5 chunks: first {first:.2} s; again with 10 % \
             changed {again:.2} s ({duplicates} unchanged, de-duplicated; {points} points after)",
            sizes.docs
        );

        worker.shutdown().await;
        drop_jobs(&config).await;
        if server {
            for c in [&collection, &wiki] {
                let _ = qdrant.delete_collection(c.as_str()).await;
            }
        } else {
            let _ = std::fs::remove_dir_all(&config.worker.data_dir);
        }
    }
    Ok(())
}
