//! A NATS outage, on a server of the test's own that is killed and started
//! again: requests fail at once with a 503 while it is down, work again as
//! soon as it is back (workers re-subscribing meanwhile), and an ingest job
//! running across the outage still ends `done`.

use std::time::{Duration, Instant};

use ragwire_client::endpoint::{JobsStatus, JobsSubmit};
use ragwire_schemas::embed::EmbedRequest;
use ragwire_schemas::jobs::{JobChunk, JobDocument, JobRef, JobState, SubmitRequest};
use ragwire_tests::*;
use serde_json::Value;

async fn health(http: &reqwest::Client, url: &str) -> u16 {
    http.get(url)
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// Waits until `/health` answers `status`, at most `within`.
async fn until_health(http: &reqwest::Client, url: &str, status: u16, within: Duration) {
    let started = Instant::now();
    while health(http, url).await != status {
        assert!(
            started.elapsed() < within,
            "/health did not turn {status} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn requests_fail_fast_while_nats_is_down_and_work_when_it_is_back() {
    let mut t = Fixture::new().await;
    let _one_at_a_time = servers_of_their_own().await;
    let mut server = OwnNats::start(&t.config.worker.data_dir);
    t.use_nats(&server.url()).await;
    t.start().await;
    let producer = t.producer().await;
    let (embed, health_url) = (producer.url("/embed"), producer.url("/health"));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let post = || {
        http.post(&embed)
            .json(&EmbedRequest::new(["hello outage"]))
            .send()
    };
    assert_eq!(post().await.unwrap().status(), 200);

    server.kill();
    until_health(&http, &health_url, 503, Duration::from_secs(2)).await;
    let started = Instant::now();
    let r = post().await.unwrap();
    let took = started.elapsed();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("NATS is unreachable"),
        "{body}"
    );
    assert!(took < Duration::from_secs(1), "failed at once: {took:?}");

    server.restart();
    until_health(&http, &health_url, 200, Duration::from_secs(15)).await;
    // At once: the worker may still be re-subscribing, which the producer
    // waits out rather than answering "no worker".
    let r = post().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn a_job_running_across_an_outage_ends_done() {
    let fake = FakeOpenAi::start_with(
        Behaviour {
            delay: Duration::from_millis(150),
            ..Default::default()
        },
        8,
    )
    .await;
    let mut t = Fixture::with_fake(fake).await;
    let _one_at_a_time = servers_of_their_own().await;
    let mut server = OwnNats::start(&t.config.worker.data_dir);
    t.use_nats(&server.url()).await;
    t.enable_jobs();
    t.config.jobs.batch = 1;
    t.start().await;
    let chunks = (0..30)
        .map(|i| JobChunk::new(format!("passage {i} of the outage document")))
        .collect();
    let request = SubmitRequest::new("outage", vec![JobDocument::from_chunks("d", chunks)]);
    let submitted = t.rag.call::<JobsSubmit>(&request).await.unwrap();
    let job_id = submitted.jobs[0].job_id.clone();
    let status = |t: &Fixture| {
        let rag = t.rag.clone();
        let job_id = job_id.clone();
        async move {
            rag.call::<JobsStatus>(&JobRef { job_id })
                .await
                .map(|reply| reply.status)
        }
    };
    // Wait until the job runs, then take NATS away under it.
    let started = Instant::now();
    loop {
        let s = status(&t).await.unwrap();
        if s.state == JobState::Running && s.chunks_done > 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.restart();
    let started = Instant::now();
    let last = loop {
        if let Ok(s) = status(&t).await {
            if matches!(s.state, JobState::Done | JobState::Failed) {
                break s;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the job did not settle after the outage"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(last.state, JobState::Done, "{last:?}");
    assert_eq!((last.chunks_done, last.chunks_total), (30, 30));
    assert_eq!(count(&t).await, 30, "every chunk written once");
}

async fn count(t: &Fixture) -> usize {
    t.worker().state().vectors.count("outage").await.unwrap()
}
