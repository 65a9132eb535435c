//! Timeouts, retries and fallback, scaling out, graceful shutdown and
//! micro-batching.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use async_nats::Client;
use ragwire_schemas::chat::ChatRequest;
use ragwire_schemas::embed::EmbedRequest;
use ragwire_schemas::endpoint::{Chat, Embed, Rerank};
use ragwire_schemas::rerank::RerankRequest;
use ragwire_schemas::{Endpoint, Subject};
use ragwire_tests::*;
use serde_json::json;

fn chat() -> ChatRequest {
    ChatRequest::user("hi")
}

/// Sends `body` on `E`'s subject under `prefix`, as [`Fixture::send`] does
/// on the fixture's own.
async fn send<E: Endpoint>(nats: &Client, prefix: &str, body: &E::Request) -> async_nats::Message {
    request(nats, prefix, E::SUBJECT, body).await
}

#[tokio::test]
async fn slow_backend_times_out_with_504() {
    let mut t = Fixture::with_behaviour(Behaviour {
        delay: Duration::from_secs(3),
        ..Default::default()
    })
    .await;
    t.config.llm.timeout = Duration::from_millis(200);
    t.config.embed.timeout = Duration::from_millis(200);
    t.start().await;
    let timed_out = |subject: Subject, reply: async_nats::Message, started: Instant| {
        assert_eq!(error_code(&reply), Some(504), "{subject}: {}", json(&reply));
        assert!(
            started.elapsed() < Duration::from_millis(2900),
            "{subject}: {:?}",
            started.elapsed()
        );
    };
    let started = Instant::now();
    timed_out(Subject::Chat, t.send::<Chat>(&chat()).await, started);
    let started = Instant::now();
    let embed = EmbedRequest::new(["a"]);
    timed_out(Subject::Embed, t.send::<Embed>(&embed).await, started);
    // The whole-request deadline applies as well.
    let mut config = test_config(&t.fake);
    config.limits.request_timeout = Duration::from_millis(300);
    let worker2 = start_worker(&config).await;
    let reply = send::<Chat>(t.rag.nats(), &config.common.prefix, &chat()).await;
    assert_eq!(error_code(&reply), Some(504));
    worker2.shutdown().await;
}

#[tokio::test]
async fn retries_honour_retry_after_then_fall_back_to_next_provider() {
    // First provider: rate limited for good, asks to wait 0.1 s.
    let mut t = Fixture::with_behaviour(Behaviour {
        fail_times: usize::MAX,
        fail_status: 429,
        retry_after: Some("0.1".into()),
        ..Default::default()
    })
    .await;
    let second = FakeOpenAi::start().await;
    t.config.retry.max_retries = 2;
    t.config.llm.fallback_urls = vec![second.base_url.clone()];
    t.config.llm.fallback_names = vec!["backup".into()];
    t.start().await;
    let first = &t.fake;
    let started = Instant::now();
    let body = json(&t.send::<Chat>(&chat()).await);
    let took = started.elapsed();
    assert_eq!(body["ok"], true, "{body}");
    assert_eq!(body["meta"]["provider"], "backup");
    assert_eq!(
        first.chat_calls(),
        3,
        "one attempt and two retries on the first provider"
    );
    assert_eq!(second.chat_calls(), 1);
    assert!(
        took >= Duration::from_millis(200),
        "Retry-After honoured twice: {took:?}"
    );

    // Transient 503s on the first provider: retried there, no fallback needed.
    first.set(Behaviour {
        fail_times: 2,
        fail_status: 503,
        ..Default::default()
    });
    let body = json(&t.send::<Chat>(&chat()).await);
    assert_eq!(body["meta"]["provider"], "primary", "{body}");
    assert_eq!(second.chat_calls(), 1);

    // A Retry-After beyond the limit skips straight to the next provider.
    first.set(Behaviour {
        fail_times: usize::MAX,
        fail_status: 429,
        retry_after: Some("3600".into()),
        ..Default::default()
    });
    let before = first.chat_calls();
    let started = Instant::now();
    let body = json(&t.send::<Chat>(&chat()).await);
    assert_eq!(body["meta"]["provider"], "backup");
    assert_eq!(first.chat_calls() - before, 1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no 1-hour wait: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn two_workers_share_the_queue_group() {
    let mut t = Fixture::new().await;
    // Embeds touch no store; each worker keeps its own, on purpose.
    t.config.worker.allow_separate_stores = true;
    t.start().await;
    let mut config_b = t.config.clone();
    config_b.worker.data_dir = t.config.worker.data_dir.join("b");
    let b = start_worker(&config_b).await;
    let nats = t.rag.nats();
    let replies = futures::future::join_all((0..60).map(|i| {
        let nats = nats.clone();
        let prefix = t.config.common.prefix.clone();
        async move {
            let body = EmbedRequest::new([format!("t{i}")]);
            json(&send::<Embed>(&nats, &prefix, &body).await)
        }
    }))
    .await;
    assert!(replies.iter().all(|r| r["ok"] == true));
    let mut per_worker = Vec::new();
    for id in [&t.worker().id, &b.id] {
        let stats = nats
            .request(format!("$SRV.STATS.ragwire.{id}"), "".into())
            .await
            .unwrap();
        let stats: serde_json::Value = serde_json::from_slice(&stats.payload).unwrap();
        let embed = stats["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "embed")
            .unwrap()["num_requests"]
            .as_u64()
            .unwrap();
        per_worker.push(embed);
    }
    assert_eq!(
        per_worker.iter().sum::<u64>(),
        60,
        "each request handled once: {per_worker:?}"
    );
    assert!(
        per_worker.iter().all(|n| *n > 0),
        "both workers got work: {per_worker:?}"
    );
    b.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_answers_in_flight_requests() {
    let mut t = Fixture::with_behaviour(Behaviour {
        delay: Duration::from_millis(600),
        ..Default::default()
    })
    .await;
    t.start().await;
    let nats = t.rag.nats().clone();
    let in_flight: Vec<_> = (0..20)
        .map(|_| {
            let nats = nats.clone();
            let prefix = t.config.common.prefix.clone();
            tokio::spawn(async move { json(&send::<Chat>(&nats, &prefix, &chat()).await) })
        })
        .collect();
    // Let the requests reach the worker, then stop it.
    let waiting = Instant::now();
    while t.fake.chat_calls() < 20 {
        assert!(
            waiting.elapsed() < Duration::from_secs(10),
            "requests never reached the backend"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    t.stop().await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "shutdown waited for in-flight work"
    );
    for r in in_flight {
        let body = r.await.unwrap();
        assert_eq!(body["ok"], true, "{body}");
    }
    // After shutdown nobody serves the subject any more.
    let err = nats
        .request(
            Subject::Chat.subject(t.prefix()),
            serde_json::to_vec(&chat()).unwrap().into(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), async_nats::RequestErrorKind::NoResponders);
}

#[tokio::test]
async fn concurrent_embeds_are_micro_batched() {
    // 4 call slots, and the default number.
    let calls = embed_calls_for_100_concurrent(Some(4)).await;
    assert!(
        calls <= 20,
        "100 concurrent requests took {calls} backend calls"
    );
    let calls = embed_calls_for_100_concurrent(None).await;
    assert!(
        calls <= 20,
        "with the default settings, 100 concurrent requests took {calls} backend calls"
    );
}

/// Backend calls made for 100 concurrent one-text embed requests, with
/// `slots` embedding calls in flight at most (None: the default).
async fn embed_calls_for_100_concurrent(slots: Option<usize>) -> usize {
    // A backend that takes 20 ms per call, like a real model server.
    let mut t = Fixture::with_behaviour(Behaviour {
        delay: Duration::from_millis(20),
        ..Default::default()
    })
    .await;
    t.config.embed.max_concurrency =
        slots.unwrap_or(ragwire_worker::Config::default().embed.max_concurrency);
    t.config.embed.batch_window = ragwire_worker::Config::default().embed.batch_window;
    t.start().await;
    let nats = t.rag.nats();
    let replies = futures::future::join_all((0..100).map(|i| {
        let nats = nats.clone();
        let prefix = t.config.common.prefix.clone();
        async move {
            let body = EmbedRequest::new([format!("text number {i}")]);
            (i, json(&send::<Embed>(&nats, &prefix, &body).await))
        }
    }))
    .await;
    for (i, body) in &replies {
        let got: Vec<f32> = serde_json::from_value(body["vectors"][0].clone()).unwrap();
        assert_eq!(
            got,
            ragwire_tests::fake::fake_vector(&format!("text number {i}"), 8),
            "request {i} got its own vector"
        );
    }
    assert_eq!(t.fake.state.embed_texts.load(Ordering::SeqCst), 100);
    t.fake.embed_calls()
}

#[tokio::test]
async fn reply_over_the_server_limit_is_413_not_silence() {
    // 800 texts of 512 floats make a reply larger than NATS' default 1 MB.
    let mut t = Fixture::with_fake(FakeOpenAi::start_with(Behaviour::default(), 512).await).await;
    t.start().await;
    let texts: Vec<String> = (0..800).map(|i| format!("text {i}")).collect();
    let reply = t.send::<Embed>(&EmbedRequest::new(texts)).await;
    assert_eq!(
        error_code(&reply),
        Some(413),
        "{}",
        String::from_utf8_lossy(&reply.payload[..200.min(reply.payload.len())])
    );
    assert!(json(&reply)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("reply size"));
    // A smaller request on the same worker still works.
    let reply = t.send::<Embed>(&EmbedRequest::new(["one"])).await;
    assert_eq!(json(&reply)["dim"], 512);
}

#[tokio::test]
async fn in_flight_bound_applies_back_pressure() {
    let mut t = Fixture::with_behaviour(Behaviour {
        delay: Duration::from_millis(200),
        ..Default::default()
    })
    .await;
    t.config.limits.max_in_flight = 2;
    t.start().await;
    let nats = t.rag.nats();
    let started = Instant::now();
    let replies = futures::future::join_all((0..6).map(|_| {
        let nats = nats.clone();
        let prefix = t.config.common.prefix.clone();
        async move { json(&send::<Chat>(&nats, &prefix, &chat()).await) }
    }))
    .await;
    assert!(replies.iter().all(|r| r["ok"] == true), "nothing lost");
    // 6 requests, 2 at a time, 200 ms each: at least three rounds.
    assert!(
        started.elapsed() >= Duration::from_millis(550),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn embedding_and_reranker_statuses_become_error_replies() {
    let mut t = Fixture::new().await;
    t.config.retry.max_retries = 2;
    t.start().await;
    let embed = EmbedRequest::new(["a"]);
    let rerank = RerankRequest::new("q", ["d"]);

    // Rate limited for good: retried after the hint, then a 429 reply.
    t.fake.set(Behaviour {
        fail_times: usize::MAX,
        fail_status: 429,
        retry_after: Some("0.01".into()),
        ..Default::default()
    });
    for reply in [
        t.send::<Embed>(&embed).await,
        t.send::<Rerank>(&rerank).await,
    ] {
        assert_error(&reply, 429, "rate limited");
    }
    assert_eq!(t.fake.embed_calls(), 3, "one attempt and two retries");
    assert_eq!(t.fake.rerank_calls(), 3, "one attempt and two retries");

    // A refusal is not retried: a 502 that says what the backend said.
    t.fake.set(Behaviour {
        fail_times: usize::MAX,
        fail_status: 400,
        ..Default::default()
    });
    for reply in [
        t.send::<Embed>(&embed).await,
        t.send::<Rerank>(&rerank).await,
    ] {
        assert_error(&reply, 502, "scripted failure 400");
    }
    assert_eq!(t.fake.embed_calls(), 4);
    assert_eq!(t.fake.rerank_calls(), 4);

    // One 503, then an answer: the retry succeeds.
    t.fake.set(Behaviour {
        fail_times: 1,
        fail_status: 503,
        ..Default::default()
    });
    let reply = json(&t.send::<Rerank>(&rerank).await);
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(t.fake.rerank_calls(), 6);
}

#[tokio::test]
async fn unreadable_embedding_replies_are_502() {
    // A service that answers 200 with HTML for the text `garbage`, and one
    // vector whatever it is asked otherwise.
    let service = axum::Router::new().route(
        "/v1/embeddings",
        axum::routing::post(|body: axum::Json<serde_json::Value>| async move {
            if body["input"][0] == "garbage" {
                "<html>oops</html>".to_owned()
            } else {
                json!({"data": [{"index": 0, "embedding": [0.5]}]}).to_string()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, service).await });
    let mut t = Fixture::new().await;
    t.config.embed.base_url = Some(format!("http://{addr}/v1"));
    t.start().await;
    let garbage = EmbedRequest::new(["garbage"]);
    let reply = t.send::<Embed>(&garbage).await;
    assert_error(&reply, 502, "unreadable reply");
    assert_error(&reply, 502, "<html>oops</html>");
    let two = EmbedRequest::new(["a", "b"]);
    let reply = t.send::<Embed>(&two).await;
    assert_error(&reply, 502, "1 vectors for 2 texts");
}
