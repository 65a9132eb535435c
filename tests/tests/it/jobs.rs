//! Durable ingest jobs on the real NATS JetStream: exactly-once results,
//! de-duplication, progress events, retries, dead letters and replay, two
//! workers sharing the stream, and a worker killed mid-run.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::StreamExt;
use ragwire_client::endpoint::{Embed, JobsDead, JobsReplay, JobsStatus, JobsSubmit};
use ragwire_schemas::embed::EmbedRequest;
use ragwire_schemas::jobs::{DeadRequest, JobDocument, JobRef, SubmitRequest};
use ragwire_schemas::Subject;
use ragwire_tests::*;
use serde_json::{json, Value};

/// `n` documents of `chunks` given chunks each.
fn documents(tag: &str, n: usize, chunks: usize) -> Vec<Value> {
    (0..n)
        .map(|d| {
            let chunks: Vec<Value> = (0..chunks)
                .map(|c| json!({"text": format!("{tag} document {d} chunk {c} about topic {}", d * chunks + c)}))
                .collect();
            json!({"doc_id": format!("{tag}-{d}"), "chunks": chunks, "metadata": {"tag": tag}})
        })
        .collect()
}

async fn submit(t: &Fixture, body: Value) -> Value {
    let reply = json(&t.request(Subject::JobsSubmit, &body).await);
    assert_eq!(reply["ok"], true, "{reply}");
    reply
}

/// Submits and returns the job ids.
async fn submit_ids(t: &Fixture, body: Value) -> Vec<String> {
    job_ids(&submit(t, body).await)
}

fn job_ids(reply: &Value) -> Vec<String> {
    reply["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn status(t: &Fixture, id: &str) -> Value {
    json(&t.send::<JobsStatus>(&JobRef { job_id: id.into() }).await)
}

/// Waits until every job is `done` or `failed`; returns their statuses.
async fn settle(t: &Fixture, ids: &[String], within: Duration) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let mut all = Vec::new();
        for id in ids {
            all.push(status(t, id).await);
        }
        if all
            .iter()
            .all(|s| s["state"] == "done" || s["state"] == "failed")
        {
            return all;
        }
        assert!(Instant::now() < deadline, "jobs still running: {all:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for one job to settle; returns its status.
async fn settle_one(t: &Fixture, id: &str) -> Value {
    settle(t, &[id.to_owned()], Duration::from_secs(30))
        .await
        .remove(0)
}

/// The dead-letter entry of a job.
async fn dead_entry(t: &Fixture, id: &str) -> Value {
    let dead = json(&t.send::<JobsDead>(&DeadRequest::default()).await);
    dead["dead"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["item"]["job_id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} is not dead: {dead}"))
}

async fn count(worker: &ragwire_worker::WorkerHandle, collection: &str) -> usize {
    worker.state().vectors.count(collection).await.unwrap()
}

#[tokio::test]
async fn a_thousand_chunks_in_fifty_jobs_land_once_each_and_resubmission_is_deduplicated() {
    let mut t = Fixture::new().await;
    t.enable_jobs();
    t.start().await;
    let body = json!({"collection": "kb", "documents": documents("bulk", 50, 20)});
    let reply = submit(&t, body.clone()).await;
    let ids = job_ids(&reply);
    assert_eq!(ids.len(), 50);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 50);
    assert!(reply["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|j| j["duplicate"] == false));
    for s in settle(&t, &ids, Duration::from_secs(60)).await {
        assert_eq!(
            (
                s["state"].as_str(),
                s["chunks_total"].as_u64(),
                s["chunks_done"].as_u64()
            ),
            (Some("done"), Some(20), Some(20)),
            "{s}"
        );
        assert_eq!(s["attempts"], 1, "{s}");
    }
    assert_eq!(count(t.worker(), "kb").await, 1000);
    assert_eq!(t.fake.embed_texts(), 1000);

    // The same documents again: reported as duplicates, no new work.
    let again = submit(&t, body).await;
    assert_eq!(job_ids(&again), ids);
    assert!(
        again["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["duplicate"] == true),
        "{again}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(t.fake.embed_texts(), 1000);
    assert_eq!(count(t.worker(), "kb").await, 1000);

    for (body, needle) in [
        (json!({"documents": []}), "documents"),
        (json!({"documents": [{"doc_id": "a"}]}), "text` or `chunks"),
        (
            json!({"documents": [{"doc_id": "a", "text": "x", "chunks": [{"text": "y"}]}]}),
            "one of them",
        ),
        (
            json!({"documents": [{"doc_id": " ", "text": "x"}]}),
            "doc_id",
        ),
        (
            json!({"documents": [{"doc_id": "a", "text": "x"}], "chunking": {"size": 10}}),
            "chunking.size",
        ),
    ] {
        assert_error(&t.request(Subject::JobsSubmit, &body).await, 400, needle);
    }
    assert_error(
        &t.send::<JobsStatus>(&JobRef {
            job_id: "0123abcd".into(),
        })
        .await,
        404,
        "0123abcd",
    );
}

#[tokio::test]
async fn progress_events_arrive_in_order_and_match_the_status_also_over_http() {
    let mut t = Fixture::new().await;
    t.enable_jobs();
    t.config.jobs.batch = 3;
    t.start().await;
    t.producer().await;
    let nats = t.rag.nats();
    let p = t.prefix();
    let mut events = nats.subscribe(format!("{p}.jobs.events.>")).await.unwrap();
    ragwire_client::connect::subscriptions_live(nats)
        .await
        .unwrap();
    let text: String = (0..40)
        .map(|i| format!("Sentence number {i} of the handbook. "))
        .collect();
    let http = reqwest::Client::new();
    let response = http
        .post(t.producer().await.url("/ingest"))
        .json(
            &json!({"collection": "docs", "documents": [{"doc_id": "handbook", "text": text}],
                      "chunking": {"size": 200, "overlap": 20}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let reply: Value = response.json().await.unwrap();
    let id = job_ids(&reply).remove(0);

    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(20), events.next())
            .await
            .expect("an event")
            .unwrap();
        let event: Value = serde_json::from_slice(&event.payload).unwrap();
        assert_eq!(event["job_id"], id.as_str());
        let done = event["state"] == "done";
        seen.push(event);
        if done {
            break;
        }
    }
    let seqs: Vec<u64> = seen.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seen.len() as u64).collect::<Vec<_>>(),
        "{seen:?}"
    );
    let done: Vec<u64> = seen
        .iter()
        .map(|e| e["chunks_done"].as_u64().unwrap())
        .collect();
    assert!(done.windows(2).all(|w| w[0] <= w[1]), "{done:?}");
    assert_eq!(seen[0]["state"], "running");
    let last = seen.last().unwrap();
    let total = last["chunks_total"].as_u64().unwrap();
    assert!(total >= 8, "{last}");
    assert_eq!(last["chunks_done"], total);
    // One running event per batch of 3 chunks, between the first and the last.
    assert_eq!(seen.len() as u64, 2 + total.div_ceil(3), "{seen:?}");

    let response = http
        .get(t.producer().await.url(&format!("/jobs/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let s: Value = response.json().await.unwrap();
    assert_eq!(
        (
            s["state"].as_str(),
            s["chunks_done"].as_u64(),
            s["chunks_total"].as_u64()
        ),
        (Some("done"), Some(total), Some(total)),
        "{s}"
    );
    assert_eq!(count(t.worker(), "docs").await as u64, total);
    let response = http
        .get(t.producer().await.url("/jobs/ffffffff"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn transient_failures_retry_and_dead_jobs_replay() {
    let mut t = Fixture::new().await;
    t.enable_jobs();
    // No retries inside the embedding call: the job layer retries.
    t.config.retry.max_retries = 0;
    t.config.jobs.max_deliver = 3;
    t.start().await;
    t.producer().await;

    // A backend failing for a while: retried with delay, all complete.
    t.fake.set(Behaviour {
        fail_times: 3,
        fail_status: 503,
        ..Default::default()
    });
    let ids = submit_ids(
        &t,
        json!({"collection": "kb", "documents": documents("flaky", 2, 2)}),
    )
    .await;
    let statuses = settle(&t, &ids, Duration::from_secs(30)).await;
    assert!(
        statuses.iter().all(|s| s["state"] == "done"),
        "{statuses:?}"
    );
    assert!(
        statuses.iter().any(|s| s["attempts"].as_u64().unwrap() > 1),
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .any(|s| s["last_error"].as_str().unwrap_or_default().contains("503")),
        "{statuses:?}"
    );

    // A backend down for good: after 3 deliveries the job is dead.
    t.fake.set(Behaviour {
        fail_times: usize::MAX,
        fail_status: 503,
        ..Default::default()
    });
    let doomed = submit_ids(
        &t,
        json!({"collection": "kb", "documents": documents("doomed", 1, 3)}),
    )
    .await
    .remove(0);
    let s = settle_one(&t, &doomed).await;
    assert_eq!(
        (s["state"].as_str(), s["attempts"].as_u64()),
        (Some("failed"), Some(3)),
        "{s}"
    );
    let entry = dead_entry(&t, &doomed).await;
    assert!(entry["error"].as_str().unwrap().contains("503"), "{entry}");
    assert_eq!(entry["attempts"], 3);

    // A permanent failure is not retried: extraction that can never be valid.
    let bad = submit_ids(
        &t,
        json!({"collection": "kb", "extract_graph": true,
        "documents": [{"doc_id": "prose", "chunks": [{"text": "Nothing but prose."}]}]}),
    )
    .await
    .remove(0);
    t.fake.set(Behaviour::default());
    let s = settle_one(&t, &bad).await;
    assert_eq!(
        (s["state"].as_str(), s["attempts"].as_u64()),
        (Some("failed"), Some(1)),
        "{s}"
    );
    let entry = dead_entry(&t, &bad).await;
    assert_eq!(entry["code"], 422, "{entry}");

    // The cause fixed, the dead job replays (over HTTP) and completes.
    let response = reqwest::Client::new()
        .post(t.producer().await.url(&format!("/jobs/{doomed}/replay")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let s = settle_one(&t, &doomed).await;
    assert_eq!(
        (
            s["state"].as_str(),
            s["replays"].as_u64(),
            s["chunks_done"].as_u64()
        ),
        (Some("done"), Some(1), Some(3)),
        "{s}"
    );
    let dead = json(&t.send::<JobsDead>(&DeadRequest::default()).await);
    assert!(
        dead["dead"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["item"]["job_id"] != doomed.as_str()),
        "{dead}"
    );
    assert_error(
        &t.send::<JobsReplay>(&JobRef {
            job_id: doomed.clone(),
        })
        .await,
        404,
        "dead-letter",
    );
}

#[tokio::test]
async fn two_workers_share_the_stream() {
    let mut t = Fixture::with_behaviour(Behaviour {
        delay: Duration::from_millis(20),
        ..Default::default()
    })
    .await;
    t.enable_jobs();
    // Separate embedded stores on purpose: the count per worker shows both
    // took jobs.
    t.config.worker.allow_separate_stores = true;
    let mut second = t.config.clone();
    second.worker.data_dir = t.config.worker.data_dir.join("second");
    t.start().await;
    let two = start_worker(&second).await;
    let ids = submit_ids(
        &t,
        json!({"collection": "kb", "documents": documents("shared", 40, 5)}),
    )
    .await;
    settle(&t, &ids, Duration::from_secs(60)).await;
    // Each worker has its own embedded store: both did some of the work.
    let (a, b) = (count(t.worker(), "kb").await, count(&two, "kb").await);
    assert!(a > 0 && b > 0, "{a} and {b}");
    assert_eq!(a + b, 200);
    two.shutdown().await;
}

#[tokio::test]
async fn a_worker_killed_mid_run_loses_nothing() {
    let mut t = Fixture::with_behaviour(Behaviour {
        delay: Duration::from_millis(40),
        ..Default::default()
    })
    .await;
    t.enable_jobs();
    t.config.jobs.ack_wait = Duration::from_millis(1_500);
    let mut child = Killed(
        worker_command(&t.config)
            .env("RAGWIRE_JOBS_ACK_WAIT_MS", "1500")
            .env("RAGWIRE_JOBS_BATCH", "2")
            .env("RAGWIRE_JOBS_CONCURRENCY", "4")
            .spawn()
            .unwrap(),
    );
    // Wait for the child to answer.
    let started = Instant::now();
    loop {
        let asked = t
            .rag
            .nats()
            .request(
                Subject::JobsStatus.subject(t.prefix()),
                r#"{"job_id": "0"}"#.into(),
            )
            .await;
        if asked.is_ok() {
            break;
        }
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "the child worker exited; see {}",
            t.config.worker.data_dir.join("child.log").display()
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the child worker did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ids = submit_ids(
        &t,
        json!({"collection": "kb", "documents": documents("crash", 30, 10)}),
    )
    .await;
    // Kill it once some jobs are done and others are in flight.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut done = 0;
        for id in &ids {
            if status(&t, id).await["state"] == "done" {
                done += 1;
            }
        }
        if done >= 5 {
            assert!(
                done < ids.len(),
                "the child finished before it could be killed"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the child worker did no work; see {}",
            t.config.worker.data_dir.join("child.log").display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.0.kill().unwrap();
    child.0.wait().unwrap();

    // A second worker on the same data takes over what was left.
    t.start().await;
    for s in settle(&t, &ids, Duration::from_secs(60)).await {
        assert_eq!(
            (s["state"].as_str(), s["chunks_done"].as_u64()),
            (Some("done"), Some(10)),
            "{s}"
        );
    }
    assert_eq!(
        count(t.worker(), "kb").await,
        300,
        "every unique chunk once"
    );
}

/// Runs `ragwire ARGS` against `config`'s NATS and prefix.
async fn ragwire(config: &ragwire_worker::Config, args: &[&str]) -> std::process::Output {
    let bin = binary("ragwire");
    tokio::process::Command::new(bin)
        .args(args)
        .env("NATS_URL", &config.common.nats.url)
        .env("RAGWIRE_PREFIX", &config.common.prefix)
        .env_remove("RAGWIRE_CONFIG")
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_ingest_command_walks_files_and_sums_up() {
    let mut t = Fixture::new().await;
    t.enable_jobs();
    t.start().await;
    let corpus = t.config.worker.data_dir.join("corpus");
    std::fs::create_dir_all(corpus.join("notes")).unwrap();
    let para = "Queue groups spread requests over workers. JetStream keeps the jobs. ".repeat(10);
    std::fs::write(corpus.join("a.md"), format!("# Title\n\n{para}")).unwrap();
    std::fs::write(corpus.join("notes/b.txt"), &para).unwrap();
    std::fs::write(corpus.join("notes/c.markdown"), format!("- {para}")).unwrap();
    std::fs::write(corpus.join("blob.bin"), [0u8, 159, 146, 150, 0, 1]).unwrap();
    let dir = corpus.to_str().unwrap();
    let args = [
        "ingest",
        dir,
        "--collection",
        "notes",
        "--chunk-size",
        "200",
        "--chunk-overlap",
        "20",
    ];

    let out = ragwire(&t.config, &args).await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("3 done, 0 failed, 0 deduplicated, 1 skipped"),
        "{stdout}\n{stderr}"
    );
    assert!(stderr.contains("blob.bin: binary"), "{stderr}");
    let stored = count(t.worker(), "notes").await;
    assert!(stored >= 12, "{stored}");

    let out = ragwire(&t.config, &args).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains("0 done, 0 failed, 3 deduplicated, 1 skipped"),
        "{stdout}"
    );
    assert_eq!(count(t.worker(), "notes").await, stored);

    // Jobs that fail make the command fail: the fake LLM never answers with
    // a graph.
    let mut failing = args.to_vec();
    failing.push("--extract-graph");
    let out = ragwire(&t.config, &failing).await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("0 done, 3 failed"), "{stdout}\n{stderr}");
    let dead = ragwire(&t.config, &["jobs", "dead"]).await;
    let listed: Value = serde_json::from_slice(&dead.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 3, "{listed}");
    let id = listed[0]["item"]["job_id"].as_str().unwrap();
    let status = ragwire(&t.config, &["jobs", "status", id]).await;
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["state"], "failed", "{status}");
}

#[tokio::test]
async fn without_usable_jobstream_the_worker_serves_the_rest() {
    let mut t = Fixture::new().await;
    t.enable_jobs();
    // A stream name JetStream refuses: setting up the jobs fails.
    t.config.jobs.stream = Some("no.dots.allowed".into());
    t.start().await;
    let body = SubmitRequest::new("chunks", vec![JobDocument::from_text("a", "x")]);
    assert_error(
        &t.send::<JobsSubmit>(&body).await,
        503,
        "ingest jobs are off",
    );
    let reply = json(
        &t.send::<Embed>(&EmbedRequest {
            texts: vec!["still here".into()],
            encoding_format: Default::default(),
        })
        .await,
    );
    assert_eq!(reply["ok"], true, "{reply}");
}

#[tokio::test]
async fn a_full_job_stream_refuses_without_stranding_the_job() {
    let mut t = Fixture::new().await;
    t.enable_jobs();
    // Smaller than any job: the stream refuses every submission.
    t.config.jobs.max_bytes = 64;
    t.start().await;
    let text = "more than sixty-four bytes of text, ".repeat(4);
    let body = SubmitRequest::new("chunks", vec![JobDocument::from_text("big", text)]);
    for _ in 0..2 {
        // Refused each time, never reported as an already queued duplicate.
        let reply = t.send::<JobsSubmit>(&body).await;
        assert_error(&reply, 503, "did not take the job");
    }
}
