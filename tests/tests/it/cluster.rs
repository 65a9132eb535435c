//! Ingest on a three-node NATS cluster with three replicas of the job
//! streams and bucket: the node leading the job stream is killed in the
//! middle of a bulk ingest; the worker and the producer carry on through
//! the other nodes, no job is lost or left running, and the killed node
//! rejoins.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use ragwire_client::endpoint::JobsStatus;
use ragwire_schemas::jobs::{JobChunk, JobDocument, JobRef, JobState, SubmitReply, SubmitRequest};
use ragwire_tests::*;

const DOCS: usize = 24;
const CHUNKS: usize = 25;

fn document(d: usize) -> JobDocument {
    let chunks = (0..CHUNKS)
        .map(|c| JobChunk::new(format!("document {d} passage {c} of the cluster test")))
        .collect();
    JobDocument::from_chunks(format!("doc-{d}"), chunks)
}

/// Submits one document through the producer, asking again while the
/// cluster elects a new leader (a 503 then says to retry).
async fn submit(http: &reqwest::Client, url: &str, d: usize) -> String {
    let started = Instant::now();
    loop {
        let r = http
            .post(url)
            .json(&SubmitRequest::new("cluster", vec![document(d)]))
            .send()
            .await;
        if let Ok(r) = r {
            if r.status() == 202 {
                let reply: SubmitReply = r.json().await.unwrap();
                return reply.jobs[0].job_id.clone();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "document {d} could not be submitted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_bulk_ingest_survives_losing_the_job_stream_leader() {
    let fake = FakeOpenAi::start_with(
        Behaviour {
            delay: Duration::from_millis(30),
            ..Default::default()
        },
        8,
    )
    .await;
    let mut t = Fixture::with_fake(fake).await;
    let _one_at_a_time = servers_of_their_own().await;
    let mut nodes = OwnNats::cluster(&t.config.worker.data_dir, 3);
    let urls: Vec<String> = nodes.iter().map(OwnNats::url).collect();
    t.use_nats(&urls.join(",")).await;
    let js = jetstream::new(t.rag.nats().clone());
    // JetStream takes a stream of three replicas once the cluster has
    // elected its leader.
    let started = Instant::now();
    let probe = format!("READY_{}", t.prefix());
    loop {
        let made = js
            .create_stream(jetstream::stream::Config {
                name: probe.clone(),
                num_replicas: 3,
                ..Default::default()
            })
            .await;
        if made.is_ok() {
            js.delete_stream(&probe).await.unwrap();
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no JetStream cluster: {made:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    t.enable_jobs();
    t.config.jobs.replicas = 3;
    t.config.jobs.batch = 5;
    t.config.jobs.ack_wait = Duration::from_millis(3_000);
    t.config.jobs.max_deliver = 20;
    t.start().await;
    let names = t.config.jobs.names(t.prefix());
    for stream in [
        &names.work_stream,
        &names.dead_stream,
        &format!("KV_{}", names.bucket),
    ] {
        let mut s = js.get_stream(stream).await.unwrap();
        assert_eq!(s.info().await.unwrap().config.num_replicas, 3, "{stream}");
    }

    let url = t.producer().await.url("/ingest");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut jobs = Vec::new();
    for d in 0..DOCS / 2 {
        jobs.push(submit(&http, &url, d).await);
    }
    // The node leading the job stream goes down in the middle of it.
    let leader = js
        .get_stream(&names.work_stream)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .cluster
        .as_ref()
        .and_then(|c| c.leader.clone())
        .expect("the job stream has a leader");
    let killed = nodes.iter().position(|n| n.name == leader).unwrap();
    nodes[killed].kill();
    for d in DOCS / 2..DOCS {
        jobs.push(submit(&http, &url, d).await);
    }

    let started = Instant::now();
    let mut open = jobs.clone();
    while !open.is_empty() {
        let mut still = Vec::new();
        for id in open {
            let job = JobRef { job_id: id.clone() };
            let status = t
                .rag
                .call::<JobsStatus>(&job)
                .await
                .map(|reply| reply.status);
            match status {
                Ok(s) if s.state == JobState::Done => {}
                Ok(s) if s.state == JobState::Failed => panic!("a job failed: {s:?}"),
                _ => still.push(id),
            }
        }
        open = still;
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{} jobs not done",
            open.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let points = t.worker().state().vectors.count("cluster").await.unwrap();
    assert_eq!(points, DOCS * CHUNKS, "every chunk written, once");

    // The killed node comes back and catches up.
    nodes[killed].restart();
    let started = Instant::now();
    loop {
        let info = js
            .get_stream(&names.work_stream)
            .await
            .ok()
            .map(|mut s| async move { s.info().await.ok().map(|i| i.cluster.clone()) });
        let cluster = match info {
            Some(f) => f.await.flatten(),
            None => None,
        };
        let back = cluster.is_some_and(|c| {
            c.leader.as_deref() == Some(nodes[killed].name.as_str())
                || c.replicas
                    .iter()
                    .any(|r| r.name == nodes[killed].name && r.current)
        });
        if back {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the killed node did not rejoin"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
