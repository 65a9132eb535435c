//! Retrieval quality on the Cranfield collection (1,400 aeronautics
//! abstracts, 225 queries, graded judgements), indexed through NATS into a
//! worker with the local all-MiniLM-L6-v2 model and the embedded store:
//! nDCG@10, MAP@100, recall@100 and MRR@10 per search mode, with each
//! mode's query latency. Then indexing throughput with and without the
//! BM25 side.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::load::median;
use hdrhistogram::Histogram;
use ragwire_client::endpoint::Search;
use ragwire_schemas::search::SearchRequest;
use ragwire_schemas::Subject;
use ragwire_tests::{start_worker, test_config, unique_prefix, FakeOpenAi};
use serde_json::{json, Value};

/// Hits asked for per query: the depth of MAP and recall.
const DEPTH: usize = 100;

/// The collection as read from the SMART files.
struct Cranfield {
    /// (id, title + abstract).
    docs: Vec<(String, String)>,
    /// Query texts, numbered 1 to 225 by position.
    queries: Vec<String>,
    /// Per query number: document id -> gain (5 - code for codes 1 to 4).
    judged: HashMap<usize, HashMap<String, f64>>,
}

/// Reads SMART records: `.I N` starts one; `.X` lines start fields.
fn records(text: &str) -> Vec<(String, HashMap<char, String>)> {
    let mut out: Vec<(String, HashMap<char, String>)> = Vec::new();
    let mut field = ' ';
    for line in text.lines() {
        if let Some(id) = line.strip_prefix(".I") {
            out.push((id.trim().to_owned(), HashMap::new()));
            field = ' ';
        } else if line.len() == 2 && line.starts_with('.') {
            field = line.chars().nth(1).unwrap_or(' ');
        } else if let Some((_, fields)) = out.last_mut() {
            let text = fields.entry(field).or_default();
            text.push_str(line.trim());
            text.push(' ');
        }
    }
    out
}

fn read(dir: &Path) -> anyhow::Result<Cranfield> {
    let load = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.join(name).display()))
    };
    let docs = records(&load("cran.all.1400")?)
        .into_iter()
        .map(|(id, f)| {
            let title = f.get(&'T').map_or("", |s| s.trim());
            let body = f.get(&'W').map_or("", |s| s.trim());
            (id, format!("{title}. {body}"))
        })
        .collect();
    let queries = records(&load("cran.qry")?)
        .into_iter()
        .map(|(_, f)| f.get(&'W').cloned().unwrap_or_default().trim().to_owned())
        .collect();
    let mut judged: HashMap<usize, HashMap<String, f64>> = HashMap::new();
    for line in load("cranqrel")?.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if let [q, d, code] = cols[..] {
            let code: i32 = code.parse()?;
            if (1..=4).contains(&code) {
                judged
                    .entry(q.parse()?)
                    .or_default()
                    .insert(d.to_owned(), f64::from(5 - code));
            }
        }
    }
    Ok(Cranfield {
        docs,
        queries,
        judged,
    })
}

/// The four measures of one ranking against its judgements.
#[derive(Default, Clone, Copy)]
struct Measures {
    ndcg10: f64,
    map100: f64,
    recall100: f64,
    mrr10: f64,
}

/// nDCG@10 = DCG@10 / ideal DCG@10 with DCG = Σ gain_i / log2(i + 1);
/// MAP@100 = mean over relevant documents of the precision at each one
/// found in the top 100 (unfound ones count 0); recall@100 = relevant found
/// in the top 100 / relevant; MRR@10 = 1 / rank of the first relevant in
/// the top 10 (0 if none).
fn measure(ranking: &[String], gains: &HashMap<String, f64>) -> Measures {
    let dcg = |gains: &mut dyn Iterator<Item = f64>| {
        gains
            .take(10)
            .enumerate()
            .map(|(i, g)| g / ((i + 2) as f64).log2())
            .sum::<f64>()
    };
    let found = dcg(&mut ranking.iter().map(|d| gains.get(d).copied().unwrap_or(0.0)));
    let mut ideal: Vec<f64> = gains.values().copied().collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let ideal = dcg(&mut ideal.into_iter());
    let relevant = gains.len() as f64;
    let (mut hits, mut precisions) = (0.0, 0.0);
    let mut mrr10 = 0.0;
    for (i, doc) in ranking.iter().take(DEPTH).enumerate() {
        if gains.contains_key(doc) {
            hits += 1.0;
            precisions += hits / (i + 1) as f64;
            if mrr10 == 0.0 && i < 10 {
                mrr10 = 1.0 / (i + 1) as f64;
            }
        }
    }
    Measures {
        ndcg10: if ideal > 0.0 { found / ideal } else { 0.0 },
        map100: precisions / relevant,
        recall100: hits / relevant,
        mrr10,
    }
}

pub async fn run(dir: &Path) -> anyhow::Result<()> {
    let cranfield = read(dir)?;
    anyhow::ensure!(
        cranfield.docs.len() == 1400 && cranfield.queries.len() == 225,
        "expected 1,400 documents and 225 queries in {}",
        dir.display()
    );
    let fake = FakeOpenAi::start().await;
    let mut config = test_config(&fake);
    config.embed.base_url = None;
    config.embed.model_dir = Some(ragwire_tests::model_dir());
    config.limits.request_timeout = Duration::from_millis(600_000);
    let worker = start_worker(&config).await;
    let rag = crate::rag(&config.common.prefix).with_timeout(Duration::from_secs(600));
    let collection = "cranfield";
    let started = Instant::now();
    for batch in cranfield.docs.chunks(64) {
        let chunks: Vec<Value> = batch
            .iter()
            .map(|(id, text)| json!({"doc_id": id, "chunk_id": "1", "text": text}))
            .collect();
        let body = json!({"collection": collection, "chunks": chunks});
        let reply = rag
            .request(Subject::Index, serde_json::to_vec(&body)?.into(), None)
            .await?;
        anyhow::ensure!(
            ragwire_client::error_code(&reply).is_none(),
            "indexing failed: {:?}",
            reply.payload
        );
    }
    println!();
    println!(
        "retrieval quality on Cranfield (1,400 abstracts, 225 queries; indexed in {:.0} s through NATS with the local all-MiniLM-L6-v2 and the embedded store), top {DEPTH} per query, one query at a time:",
        started.elapsed().as_secs_f64()
    );
    println!(
        "{:<22} {:>8} {:>8} {:>10} {:>7} {:>8} {:>8}",
        "mode", "nDCG@10", "MAP@100", "recall@100", "MRR@10", "p50 ms", "p95 ms"
    );
    let modes = [
        ("dense", json!({"mode": "dense"})),
        ("keyword", json!({"mode": "keyword"})),
        (
            "hybrid rrf (k 60)",
            json!({"mode": "hybrid", "fusion": "rrf"}),
        ),
        (
            "hybrid rrf (k 10)",
            json!({"mode": "hybrid", "fusion": "rrf", "rrf_k": 10}),
        ),
        ("hybrid dbsf", json!({"mode": "hybrid", "fusion": "dbsf"})),
    ];
    for (name, options) in modes {
        let mut total = Measures::default();
        let mut latency = Histogram::<u64>::new(3)?;
        for (i, query) in cranfield.queries.iter().enumerate() {
            let mut request = SearchRequest::new(query.as_str());
            request.collection = collection.to_owned();
            request.top_k = DEPTH;
            request.ranking = serde_json::from_value(options.clone())?;
            let t = Instant::now();
            let reply = rag.call::<Search>(&request).await?;
            latency.record(t.elapsed().as_micros() as u64)?;
            let ranking: Vec<String> = reply
                .hits
                .into_iter()
                .map(|h| h.payload["doc_id"].as_str().unwrap_or_default().to_owned())
                .collect();
            let gains = cranfield.judged.get(&(i + 1)).cloned().unwrap_or_default();
            let m = measure(&ranking, &gains);
            total.ndcg10 += m.ndcg10;
            total.map100 += m.map100;
            total.recall100 += m.recall100;
            total.mrr10 += m.mrr10;
        }
        let n = cranfield.queries.len() as f64;
        println!(
            "{:<22} {:>8.3} {:>8.3} {:>10.3} {:>7.3} {:>8.2} {:>8.2}",
            name,
            total.ndcg10 / n,
            total.map100 / n,
            total.recall100 / n,
            total.mrr10 / n,
            latency.value_at_quantile(0.5) as f64 / 1e3,
            latency.value_at_quantile(0.95) as f64 / 1e3,
        );
    }
    worker.shutdown().await;
    Ok(())
}

/// The texts of the indexing cost measure.
#[derive(Clone, Copy)]
enum Texts {
    /// 12 words from a vocabulary of 24: every word is in about 40 % of the
    /// chunks, the worst case for keyword postings.
    Synthetic,
    /// The Cranfield abstracts, in turn: real text, about 90 terms a chunk.
    Cranfield,
}

impl Texts {
    fn name(self) -> &'static str {
        match self {
            Texts::Synthetic => "synthetic",
            Texts::Cranfield => "cranfield",
        }
    }
}

/// Chunks/s indexed with the instant fake embedder into a collection with
/// BM25 vectors and into one of dense vectors alone (as collections made
/// before keyword search are), `rounds` times each, alternating; on the
/// embedded store and on the Qdrant server at `qdrant_url`.
pub async fn index_cost(
    cranfield: &Path,
    qdrant_url: &str,
    chunks: usize,
    rounds: usize,
) -> anyhow::Result<()> {
    let abstracts: Vec<String> = read(cranfield)?.docs.into_iter().map(|(_, t)| t).collect();
    let text = |texts: Texts, i: usize| match texts {
        Texts::Synthetic => crate::vectors::sentence(i as u64),
        Texts::Cranfield => abstracts[i % abstracts.len()].clone(),
    };
    // The worker's own part, the BM25 encoding of each kind of text on one
    // core, with a new encoder (its word cache empty) each time, before
    // anything else runs.
    let mut encode_us = Vec::new();
    for texts in [Texts::Synthetic, Texts::Cranfield] {
        let all: Vec<String> = (0..chunks).map(|i| text(texts, i)).collect();
        let mut runs = Vec::new();
        for _ in 0..3 {
            let keywords = ragwire_worker::testing::Keywords::new()?;
            let started = Instant::now();
            for t in &all {
                std::hint::black_box(keywords.document(t));
            }
            runs.push(started.elapsed().as_secs_f64() * 1e6 / chunks as f64);
        }
        encode_us.push(median(runs));
    }
    let fake = FakeOpenAi::start_with(Default::default(), 384).await;
    fake.stop_recording();
    println!();
    println!(
        "indexing {chunks} chunks (64 a request, 4 in flight, instant fake embedder), median of {rounds}, \
         no background index build on the embedded store:"
    );
    println!(
        "{:<10} {:<10} {:>13} {:>15} {:>7} {:>10} {:>13}",
        "store", "texts", "with BM25/s", "dense alone/s", "ratio", "encode µs", "encode bound"
    );
    let qdrant = qdrant_client::Qdrant::from_url(qdrant_url).build()?;
    for server in [None, Some(&qdrant)] {
        let mut config = test_config(&fake);
        config.common.prefix = unique_prefix();
        // The background index build (HNSW) costs both kinds alike and would
        // fall into whichever measurement follows it: here, writes alone.
        config.vectors.optimize_every = usize::MAX;
        config.vectors.qdrant_url = server.map(|_| qdrant_url.to_owned());
        let worker = start_worker(&config).await;
        let rag = crate::rag(&config.common.prefix).with_timeout(Duration::from_secs(120));
        for texts in [Texts::Synthetic, Texts::Cranfield] {
            let text = |i: usize| text(texts, i);
            let (mut with, mut without) = (Vec::new(), Vec::new());
            for round in 0..rounds {
                let name = |kind: &str| {
                    format!("{}-{kind}-{}-{round}", config.common.prefix, texts.name())
                };
                let old = name("dense-only");
                match server {
                    None => dense_only_collection(
                        &config.worker.data_dir.join("vectors").join(&old),
                        384,
                    )?,
                    Some(qdrant) => dense_only_server_collection(qdrant, &old, 384).await?,
                }
                let mut pair = [(name("with-bm25"), true), (old, false)];
                // Each kind goes first in every other round.
                if round % 2 == 1 {
                    pair.reverse();
                }
                for (collection, bm25) in pair {
                    let rate = index_rate(&rag, &collection, chunks, &text).await?;
                    if bm25 { &mut with } else { &mut without }.push(rate);
                    if let Some(qdrant) = server {
                        qdrant.delete_collection(&collection).await?;
                    }
                }
            }
            let (with, without) = (median(with), median(without));
            let encode_us = encode_us[texts as usize];
            let without_us = 1e6 / without;
            println!(
                "{:<10} {:<10} {:>13.0} {:>15.0} {:>6.0}% {:>10.1} {:>12.0}%",
                if server.is_some() {
                    "qdrant"
                } else {
                    "embedded"
                },
                texts.name(),
                with,
                without,
                100.0 * with / without,
                encode_us,
                100.0 * without_us / (without_us + encode_us)
            );
        }
        worker.shutdown().await;
    }
    Ok(())
}

/// Chunks/s of indexing `chunks` chunks of `text` into `collection`.
async fn index_rate(
    rag: &ragwire_client::RagClient,
    collection: &str,
    chunks: usize,
    text: &dyn Fn(usize) -> String,
) -> anyhow::Result<f64> {
    let batches: Vec<Value> = (0..chunks.div_ceil(64))
        .map(|b| {
            let chunks: Vec<Value> = (0..64)
                .map(|c| {
                    json!({"doc_id": format!("d{b}"), "chunk_id": c.to_string(),
                           "text": text(b * 64 + c)})
                })
                .collect();
            json!({"collection": collection, "chunks": chunks})
        })
        .collect();
    let started = Instant::now();
    crate::load::index_all(rag, batches).await?;
    Ok(chunks as f64 / started.elapsed().as_secs_f64())
}

/// A server collection with one unnamed dense vector of `dim`, as ragwire
/// made them before keyword search.
async fn dense_only_server_collection(
    qdrant: &qdrant_client::Qdrant,
    name: &str,
    dim: u64,
) -> anyhow::Result<()> {
    use qdrant_client::qdrant::{CreateCollectionBuilder, Distance, VectorParamsBuilder};
    qdrant
        .create_collection(
            CreateCollectionBuilder::new(name)
                .vectors_config(VectorParamsBuilder::new(dim, Distance::Cosine)),
        )
        .await?;
    Ok(())
}

/// A collection with one unnamed dense vector of `dim`, as the embedded
/// store made them before keyword search.
fn dense_only_collection(path: &Path, dim: usize) -> anyhow::Result<()> {
    use qdrant_edge::{
        Distance, EdgeConfigBuilder, EdgeShard, EdgeVectorParamsBuilder, DEFAULT_VECTOR_NAME,
    };
    std::fs::create_dir_all(path)?;
    let config = EdgeConfigBuilder::new()
        .on_disk_payload(true)
        .vector(
            DEFAULT_VECTOR_NAME,
            EdgeVectorParamsBuilder::new(dim, Distance::Cosine).build(),
        )
        .build();
    let shard = EdgeShard::load(path, Some(config)).map_err(|e| anyhow::anyhow!("{e}"))?;
    shard.flush();
    Ok(())
}
