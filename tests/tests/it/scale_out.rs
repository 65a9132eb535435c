//! Several workers on the servers, as deployed: three `ragwire-worker`
//! processes on one prefix with the Qdrant server and the Bolt server
//! ingest 10,000 chunks as jobs while one of them is killed (SIGKILL):
//! every job ends done, the collection holds exactly 10,000 points, every
//! worker answers the same search the same way, and a graph written through
//! one worker is read through the others.

use std::time::{Duration, Instant};

use ragwire_client::discovery::workers;
use ragwire_client::endpoint::{GraphQuery, GraphUpsert, JobsStatus, JobsSubmit, Search};
use ragwire_schemas::graph::{Edge, Node, QueryRequest, UpsertRequest};
use ragwire_schemas::jobs::{JobChunk, JobDocument, JobRef, JobState, SubmitRequest};
use ragwire_schemas::search::{Ranking, SearchMode, SearchRequest};
use ragwire_tests::*;
use ragwire_worker::testing::{QdrantStore, VectorStore};
use serde_json::{json, Value};

const DOCS: usize = 100;
const CHUNKS: usize = 100;

/// A `ragwire-worker` process set up like `t` (Qdrant, Bolt, jobs).
fn worker(t: &Fixture, n: usize) -> tokio::process::Child {
    let mut config = t.config.clone();
    config.worker.data_dir = t.config.worker.data_dir.join(format!("w{n}"));
    let graph = &t.config.graph;
    let mut command = worker_command(&config);
    command
        .env("QDRANT_URL", qdrant_url())
        .env("NEO4J_URI", graph.neo4j_uri.as_deref().unwrap())
        .env("NEO4J_USER", &graph.user)
        .env("NEO4J_PASSWORD", &graph.password)
        .env("NEO4J_DATABASE", graph.database.as_deref().unwrap())
        .env("RAGWIRE_GRAPH_LABEL", &graph.label)
        .env(
            "RAGWIRE_GRAPH_TIMEOUT_MS",
            graph.timeout.as_millis().to_string(),
        )
        .env("RAGWIRE_JOBS_ACK_WAIT_MS", "3000")
        .env("RAGWIRE_JOBS_BACKOFF_MS", "50")
        .env("RAGWIRE_JOBS_MAX_DELIVER", "20")
        .env("RAGWIRE_EMBED_CACHE", "0");
    tokio::process::Command::from(command)
        .kill_on_drop(true)
        .spawn()
        .expect("the worker binary starts")
}

#[tokio::test]
async fn three_worker_processes_agree_and_lose_nothing_when_one_is_killed() {
    let mut t = Fixture::new().await;
    t.use_qdrant();
    t.use_bolt();
    t.enable_jobs();
    let mut processes: Vec<_> = (0..3).map(|n| worker(&t, n)).collect();
    let started = Instant::now();
    while workers(t.rag.nats(), t.prefix(), Duration::from_millis(200))
        .await
        .unwrap()
        .len()
        < 3
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the workers did not start"
        );
    }
    let collection = t.collection("bulk");

    let mut jobs = Vec::new();
    for group in (0..DOCS).collect::<Vec<_>>().chunks(20) {
        let documents: Vec<JobDocument> = group
            .iter()
            .map(|d| {
                let chunks = (0..CHUNKS)
                    .map(|c| JobChunk::new(format!("document {d} passage {c}: scale-out test")))
                    .collect();
                JobDocument::from_chunks(format!("doc-{d}"), chunks)
            })
            .collect();
        let request = SubmitRequest::new(collection.as_str(), documents);
        let reply = t.rag.call::<JobsSubmit>(&request).await.unwrap();
        jobs.extend(reply.jobs.into_iter().map(|j| j.job_id));
    }
    let status = |id: &String| {
        let rag = t.rag.clone();
        let id = id.clone();
        async move {
            rag.call::<JobsStatus>(&JobRef { job_id: id })
                .await
                .map(|reply| reply.status)
        }
    };
    // One worker dies once work is under way.
    let started = Instant::now();
    loop {
        let mut done = 0;
        for id in &jobs[..10] {
            if status(id).await.is_ok_and(|s| s.state != JobState::Queued) {
                done += 1;
            }
        }
        if done >= 3 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no job started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    processes[0].start_kill().unwrap();
    processes[0].wait().await.unwrap();

    let started = Instant::now();
    let mut open = jobs.clone();
    while !open.is_empty() {
        let mut still = Vec::new();
        for id in open {
            match status(&id).await {
                Ok(s) if s.state == JobState::Done => {}
                Ok(s) if s.state == JobState::Failed => panic!("a job failed: {s:?}"),
                _ => still.push(id),
            }
        }
        open = still;
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "{} jobs not done",
            open.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let qdrant = QdrantStore::connect(&qdrant_url(), &t.config.vectors, &t.config.retry).unwrap();
    assert_eq!(
        qdrant.count(&collection, &[]).await.unwrap(),
        DOCS * CHUNKS,
        "every chunk once"
    );

    // The two workers left answer a search alike.
    // Dense: the fake's bag-of-words vectors tie many chunks, and a hybrid
    // search fuses the ranks of tied hits, which a Qdrant server orders by
    // whichever segment answers first.
    let search = SearchRequest {
        top_k: 10,
        collection: collection.clone(),
        ranking: Ranking {
            mode: Some(SearchMode::Dense),
            ..Ranking::default()
        },
        ..SearchRequest::new("document 7 passage 3")
    };
    let first = json(&t.send::<Search>(&search).await);
    let ids = |reply: &Value| -> Vec<String> {
        reply["hits"]
            .as_array()
            .unwrap_or_else(|| panic!("{reply}"))
            .iter()
            .map(|h| h["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&first).len(), 10);
    for _ in 0..30 {
        let again = json(&t.send::<Search>(&search).await);
        assert_eq!(ids(&again), ids(&first));
    }

    // A graph written through one worker is read through the others.
    let upsert = UpsertRequest::new(
        vec![Node::new("scale-a", "Thing"), Node::new("scale-b", "Thing")],
        vec![Edge::new("scale-a", "NEXT", "scale-b")],
    );
    assert_eq!(json(&t.send::<GraphUpsert>(&upsert).await)["edges"], 1);
    let label = t.config.graph.label.clone();
    let query = QueryRequest::new(format!(
        "MATCH (a:{label} {{id: 'scale-a'}})-[r]->(b:{label}) RETURN b.id AS id, type(r) AS rel"
    ));
    for _ in 0..20 {
        let reply = json(&t.send::<GraphQuery>(&query).await);
        assert_eq!(
            reply["records"],
            json!([{"id": "scale-b", "rel": "NEXT"}]),
            "{reply}"
        );
    }
    drop(processes);
}
