//! Vectors on a three-node Qdrant cluster (`scripts/qdrant-cluster`), with
//! the settings docs/operations.md gives for one: collections of 3 shards
//! and 2 replicas, a write consistency factor of 1, weak ordering, reads
//! from one replica. Every collection ragwire creates holds dense and BM25
//! vectors, so each test searches dense, keyword and hybrid.
//!
//! - Two worker processes ingest 10,000 chunks as jobs while a Qdrant node
//!   is killed (SIGKILL) and started again: every job ends done with no
//!   dead letter, searches answer during the outage, and after recovery
//!   every replica of every shard holds the same points, the collection
//!   holds exactly 10,000 (counted with consistency `all`), and identical
//!   searches give identical hits.
//! - A node that stays down: writes go on, reads go on from the replicas
//!   left, `/health` and `ragwire ping` name the dead replicas, and a
//!   collection that needs both replicas for a write (write consistency
//!   factor 2) answers a 503 naming the cause, while an ingest job into it
//!   is retried until the node is back, then done.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ragwire_client::discovery::workers;
use ragwire_client::endpoint::{JobsDead, JobsStatus, JobsSubmit, Search};
use ragwire_schemas::jobs::{DeadRequest, JobChunk, JobDocument, JobRef, JobState, SubmitRequest};
use ragwire_schemas::search::{Ranking, SearchMode, SearchRequest};
use ragwire_schemas::Subject;
use ragwire_tests::*;
use ragwire_worker::testing::{QdrantStore, VectorStore};
use serde_json::{json, Value};

const DOCS: usize = 100;
const CHUNKS: usize = 100;
/// The node killed: one no worker talks to, holding replicas of the shards.
const VICTIM: usize = 3;

/// A fixture whose fake embeds in 256 dimensions (fewer ties between the
/// chunks' vectors), its settings those of a cluster.
async fn fixture(cluster: &QdrantCluster) -> Fixture {
    let fake = FakeOpenAi::start_with(Behaviour::default(), 256).await;
    let mut t = Fixture::with_fake(fake).await;
    t.config.vectors.qdrant_url = Some(cluster.grpc_url(1));
    t.config.vectors.qdrant_shards = 3;
    t.config.vectors.qdrant_replication_factor = 2;
    t
}

/// Indexes 50 chunks of document `d` into `collection` (`rag.index`).
async fn index(t: &Fixture, collection: &str, d: usize) -> async_nats::Message {
    let chunks: Vec<Value> = (0..50)
        .map(|c| json!({"doc_id": format!("doc-{d}"), "chunk_id": format!("c{c}"), "text": text(d, c)}))
        .collect();
    let body = json!({"collection": collection, "chunks": chunks});
    t.request(Subject::Index, &body).await
}

/// A `ragwire-worker` process set up like `t`, on Qdrant node `node`.
fn worker(t: &Fixture, n: usize, url: &str) -> tokio::process::Child {
    let mut config = t.config.clone();
    config.worker.data_dir = t.config.worker.data_dir.join(format!("w{n}"));
    let mut command = worker_command(&config);
    command
        .env("QDRANT_URL", url)
        .env("RAGWIRE_VECTORS_SHARDS", "3")
        .env("RAGWIRE_VECTORS_REPLICATION_FACTOR", "2")
        // The graph is not used here: each worker's embedded one is fine.
        .env("RAGWIRE_ALLOW_SEPARATE_STORES", "true")
        .env("RAGWIRE_JOBS_ACK_WAIT_MS", "5000")
        .env("RAGWIRE_JOBS_BACKOFF_MS", "100")
        .env("RAGWIRE_JOBS_MAX_DELIVER", "20")
        .env("RAGWIRE_EMBED_CACHE", "0");
    tokio::process::Command::from(command)
        .kill_on_drop(true)
        .spawn()
        .expect("the worker binary starts")
}

/// The chunk whose words no other chunk has.
const NEEDLE: (usize, usize) = (42, 17);
const NEEDLE_TEXT: &str = "zebra quokka narwhal";

fn text(d: usize, c: usize) -> String {
    if (d, c) == NEEDLE {
        return NEEDLE_TEXT.to_owned();
    }
    format!("document {d} passage {c} on topic{d} item{c} for the cluster")
}

/// Submits every document as jobs, 20 a request; returns the job ids.
async fn submit(t: &Fixture, collection: &str) -> Vec<String> {
    let mut jobs = Vec::new();
    for group in (0..DOCS).collect::<Vec<_>>().chunks(20) {
        let documents: Vec<JobDocument> = group
            .iter()
            .map(|&d| {
                let chunks = (0..CHUNKS).map(|c| JobChunk::new(text(d, c))).collect();
                JobDocument::from_chunks(format!("doc-{d}"), chunks)
            })
            .collect();
        let reply = t
            .rag
            .call::<JobsSubmit>(&SubmitRequest::new(collection, documents))
            .await
            .unwrap();
        jobs.extend(reply.jobs.into_iter().map(|j| j.job_id));
    }
    jobs
}

/// Waits until every job of `jobs` is done; a failed one fails the test.
async fn await_done(t: &Fixture, jobs: &[String], within: Duration) {
    let started = Instant::now();
    let mut open = jobs.to_vec();
    while !open.is_empty() {
        let mut still = Vec::new();
        for id in open {
            let job = JobRef { job_id: id.clone() };
            match t.rag.call::<JobsStatus>(&job).await.map(|r| r.status) {
                Ok(s) if s.state == JobState::Done => {}
                Ok(s) if s.state == JobState::Failed => panic!("a job failed: {s:?}"),
                _ => still.push(id),
            }
        }
        open = still;
        assert!(
            started.elapsed() < within,
            "{} jobs not done after {within:?}",
            open.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The hits of a search (id and score, best first), which must answer.
async fn search(
    t: &Fixture,
    collection: &str,
    mode: SearchMode,
    query: &str,
) -> Vec<(String, f32)> {
    let request = SearchRequest {
        top_k: 10,
        collection: collection.to_owned(),
        ranking: Ranking {
            mode: Some(mode),
            ..Ranking::default()
        },
        ..SearchRequest::new(query)
    };
    let reply = json(&t.send::<Search>(&request).await);
    let hits = reply["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("a {mode:?} search did not answer: {reply}"));
    assert!(!hits.is_empty(), "{reply}");
    hits.iter()
        .map(|h| {
            (
                h["id"].as_str().unwrap().to_owned(),
                h["score"].as_f64().unwrap() as f32,
            )
        })
        .collect()
}

const MODES: [SearchMode; 3] = [SearchMode::Dense, SearchMode::Keyword, SearchMode::Hybrid];

/// What of a ranking two identical searches must agree on: the scores in
/// order, and the ids of every hit scoring above the last one (hits tied
/// at the cut may be any of the tied points).
fn settled(hits: &[(String, f32)]) -> (Vec<f32>, Vec<String>) {
    let last = hits.last().map_or(0.0, |h| h.1);
    let mut ids: Vec<String> = hits
        .iter()
        .filter(|h| h.1 > last)
        .map(|h| h.0.clone())
        .collect();
    ids.sort();
    (hits.iter().map(|h| h.1).collect(), ids)
}

/// Each node's replicas of `collection`: shard, then (peer, points, state).
async fn replicas(
    cluster: &QdrantCluster,
    collection: &str,
) -> BTreeMap<u64, Vec<(u64, u64, String)>> {
    let http = http_client();
    let mut shards: BTreeMap<u64, Vec<(u64, u64, String)>> = BTreeMap::new();
    for n in 1..=QdrantCluster::NODES {
        let url = format!("{}/collections/{collection}/cluster", cluster.http_url(n));
        let info: Value = http.get(&url).send().await.unwrap().json().await.unwrap();
        let peer = info["result"]["peer_id"].as_u64().unwrap();
        for shard in info["result"]["local_shards"].as_array().unwrap() {
            shards
                .entry(shard["shard_id"].as_u64().unwrap())
                .or_default()
                .push((
                    peer,
                    shard["points_count"].as_u64().unwrap(),
                    shard["state"].as_str().unwrap().to_owned(),
                ));
        }
    }
    shards
}

/// Waits until every replica of `collection` is active and holds the
/// same points as the other replica of its shard, `expected` in all.
async fn await_in_sync(cluster: &QdrantCluster, collection: &str, expected: usize) {
    let started = Instant::now();
    loop {
        let shards = replicas(cluster, collection).await;
        let agree = shards.len() == 3
            && shards
                .values()
                .all(|r| r.len() == 2 && r.iter().all(|(_, n, s)| s == "Active" && *n == r[0].1))
            && shards.values().map(|r| r[0].1).sum::<u64>() == expected as u64;
        if agree {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the replicas of {collection} did not agree on {expected} points: {shards:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The points of `collection` counted on every replica (consistency `all`).
async fn count_all(t: &Fixture, collection: &str) -> usize {
    let mut vectors = t.config.vectors.clone();
    vectors.qdrant_read_consistency = Some("all".parse().unwrap());
    let store = QdrantStore::connect(
        &t.config.vectors.qdrant_url.clone().unwrap(),
        &vectors,
        &t.config.retry,
    )
    .unwrap();
    store.count(collection, &[]).await.unwrap()
}

#[tokio::test]
async fn ten_thousand_chunks_survive_a_qdrant_node_killed_and_restarted() {
    let _one_at_a_time = servers_of_their_own().await;
    let cluster = QdrantCluster::start(&test_data_dir(&unique_prefix()));
    let mut t = fixture(&cluster).await;
    t.enable_jobs();
    // Two workers, each on a node of its own.
    let processes = [
        worker(&t, 0, &cluster.grpc_url(1)),
        worker(&t, 1, &cluster.grpc_url(2)),
    ];
    let started = Instant::now();
    while workers(t.rag.nats(), t.prefix(), Duration::from_millis(200))
        .await
        .unwrap()
        .len()
        < 2
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the workers did not start"
        );
    }
    let collection = t.collection("bulk");
    let ingest_started = Instant::now();
    let jobs = submit(&t, &collection).await;

    // Node 3 dies once a tenth of the chunks are in, and comes back once
    // half are and it was down for 3 s at least; searches go on meanwhile.
    let store =
        QdrantStore::connect(&cluster.grpc_url(1), &t.config.vectors, &t.config.retry).unwrap();
    let written = |at_least: usize| {
        let store = store.clone();
        let collection = collection.clone();
        async move {
            let started = Instant::now();
            while store.count(&collection, &[]).await.unwrap_or(0) < at_least {
                assert!(
                    started.elapsed() < Duration::from_secs(120),
                    "fewer than {at_least} points written"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    written(DOCS * CHUNKS / 10).await;
    cluster.kill(VICTIM);
    let killed_at = Instant::now();
    let searches = std::cell::Cell::new(0);
    let outage = async {
        loop {
            for mode in MODES {
                search(&t, &collection, mode, &text(3, 7)).await;
                searches.set(searches.get() + 1);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let half = async {
        written(DOCS * CHUNKS / 2).await;
        tokio::time::sleep(Duration::from_secs(3).saturating_sub(killed_at.elapsed())).await;
    };
    tokio::select! {
        () = half => {}
        () = outage => unreachable!(),
    }
    let searches = searches.get();
    assert!(searches >= 3, "no search during the outage");
    let down_for = killed_at.elapsed();
    cluster.restart(VICTIM);

    await_done(&t, &jobs, Duration::from_secs(300)).await;
    let ingest = ingest_started.elapsed();
    let dead = json(&t.send::<JobsDead>(&DeadRequest::default()).await);
    assert_eq!(dead["dead"], json!([]), "no dead letter");
    await_in_sync(&cluster, &collection, DOCS * CHUNKS).await;
    assert_eq!(count_all(&t, &collection).await, DOCS * CHUNKS);
    eprintln!(
        "{} chunks in {ingest:?}; node {VICTIM} down for {down_for:?}; {searches} searches \
         answered meanwhile",
        DOCS * CHUNKS
    );

    // After recovery, identical searches (from either worker, from any
    // replica) rank alike. A hybrid search fuses ranks, and the fake's
    // bag-of-words vectors tie many chunks, which Qdrant ranks in any
    // order: of it, the one chunk with the words searched for comes first,
    // with the same score, every time.
    let query = NEEDLE_TEXT;
    let dense = search(&t, &collection, SearchMode::Dense, query).await;
    let keyword = search(&t, &collection, SearchMode::Keyword, query).await;
    let hybrid = search(&t, &collection, SearchMode::Hybrid, query).await;
    // Both sides put that chunk alone first; BM25 finds no other.
    assert!(dense[0].1 > dense[1].1, "{dense:?}");
    assert_eq!(keyword.len(), 1, "{keyword:?}");
    assert_eq!(dense[0].0, keyword[0].0, "the chunk searched for first");
    assert_eq!(hybrid[0].0, dense[0].0, "the chunk searched for first");
    for _ in 0..10 {
        let again = search(&t, &collection, SearchMode::Dense, query).await;
        assert_eq!(settled(&again), settled(&dense), "dense");
        let again = search(&t, &collection, SearchMode::Keyword, query).await;
        assert_eq!(settled(&again), settled(&keyword), "keyword");
        let again = search(&t, &collection, SearchMode::Hybrid, query).await;
        assert_eq!(again[0], hybrid[0], "hybrid");
        assert_eq!(again.len(), hybrid.len(), "hybrid");
    }
    drop(processes);
}

#[tokio::test]
async fn a_qdrant_node_that_stays_down_leaves_reads_and_lenient_writes_going() {
    let _one_at_a_time = servers_of_their_own().await;
    let cluster = QdrantCluster::start(&test_data_dir(&unique_prefix()));
    let mut t = fixture(&cluster).await;
    t.start().await;
    // A collection whose writes need both replicas of a shard, next door.
    let mut strict = fixture(&cluster).await;
    strict.config.vectors.qdrant_write_consistency_factor = 2;
    strict.enable_jobs();
    // Retried every 0.5 s at most: deliveries for longer than the outage.
    strict.config.jobs.max_deliver = 200;
    strict.start().await;
    let lenient = t.collection("lenient");
    let needy = strict.collection("strict");
    for d in 0..4 {
        assert_eq!(json(&index(&t, &lenient, d).await)["upserted"], 50);
        assert_eq!(json(&index(&strict, &needy, d).await)["upserted"], 50);
    }
    let health = t.producer().await.url("/health");

    cluster.kill(VICTIM);
    // Writes with the cluster defaults go on.
    for d in 4..12 {
        let reply = json(&index(&t, &lenient, d).await);
        assert_eq!(reply["upserted"], 50, "{reply}");
    }
    assert_eq!(
        t.worker().state().vectors.count(&lenient).await.unwrap(),
        12 * 50
    );
    // Those that need the dead replica fail, and say why.
    let refused = index(&strict, &needy, 4).await;
    assert_error(&refused, 503, "Qdrant");
    let said = json(&refused)["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        said.contains("replica of the Qdrant cluster is down"),
        "{said}"
    );
    // Reads go on from the replicas left, on both.
    for mode in MODES {
        search(&t, &lenient, mode, &text(9, 4)).await;
        search(&strict, &needy, mode, &text(2, 4)).await;
    }
    // An ingest job into it waits for the node, retried, not dead-lettered.
    let chunks = (0..50).map(|c| JobChunk::new(text(90, c))).collect();
    let documents = vec![JobDocument::from_chunks("doc-90", chunks)];
    let submitted = strict
        .rag
        .call::<JobsSubmit>(&SubmitRequest::new(needy.as_str(), documents))
        .await
        .unwrap();
    let job = submitted.jobs[0].job_id.clone();
    let started = Instant::now();
    loop {
        let status = strict
            .rag
            .call::<JobsStatus>(&JobRef {
                job_id: job.clone(),
            })
            .await
            .unwrap()
            .status;
        assert!(
            !matches!(status.state, JobState::Done | JobState::Failed),
            "{status:?}"
        );
        if status.attempts >= 2 {
            let error = status.last_error.unwrap_or_default();
            assert!(error.contains("Qdrant cluster is down"), "{error}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the job was not retried: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // /health and `ragwire ping` name the dead replicas.
    let http = http_client();
    let started = Instant::now();
    let cluster_state = loop {
        let body: Value = http
            .get(&health)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let state = &body["vector_cluster"];
        if state["dead_replicas"]
            .as_array()
            .is_some_and(|d| !d.is_empty())
        {
            assert_eq!(body["ok"], true, "{body}");
            break state.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "/health did not report the dead replicas: {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(cluster_state["peers"], 3, "{cluster_state}");
    let dead = cluster_state["dead_replicas"].as_array().unwrap();
    assert!(
        dead.iter().all(|d| d["state"] != "Active")
            && dead.iter().any(|d| d["collection"] == lenient.as_str()),
        "{cluster_state}"
    );
    let ping = tokio::process::Command::new(binary("ragwire"))
        .args(["ping"])
        .env("NATS_URL", &t.config.common.nats.url)
        .env("RAGWIRE_PREFIX", t.prefix())
        .output()
        .await
        .unwrap();
    let said = String::from_utf8_lossy(&ping.stdout);
    assert!(
        ping.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&ping.stderr)
    );
    assert!(said.contains("qdrant cluster: 3 peers"), "{said}");
    assert!(said.contains(&format!("{lenient} shard")), "{said}");

    // Back: the replicas catch up, the waiting job is done, the refused
    // write done again leaves each point once, and /health says so.
    cluster.restart(VICTIM);
    await_in_sync(&cluster, &lenient, 12 * 50).await;
    await_done(&strict, std::slice::from_ref(&job), Duration::from_secs(60)).await;
    let dead = json(&strict.send::<JobsDead>(&DeadRequest::default()).await);
    assert_eq!(dead["dead"], json!([]), "no dead letter");
    let again = json(&index(&strict, &needy, 4).await);
    assert_eq!(again["upserted"], 50, "{again}");
    await_in_sync(&cluster, &needy, 6 * 50).await;
    assert_eq!(count_all(&strict, &needy).await, 6 * 50);
    let started = Instant::now();
    loop {
        let body: Value = http
            .get(&health)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if body["vector_cluster"]["dead_replicas"] == json!([]) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "/health still reports dead replicas: {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(count_all(&t, &lenient).await, 12 * 50);
}
