//! Deadlines and shedding: a request whose caller stopped waiting is not
//! started (504, counted), backend calls stop at the caller's deadline
//! (NATS header or HTTP `X-Request-Timeout`, the OpenAI SDKs' timeout
//! headers on `/v1/`), and a request that waited too long in a saturated
//! worker is answered 503 with `Retry-After` instead of late.

use std::time::{Duration, Instant, SystemTime};

use async_nats::HeaderMap;
use ragwire_schemas::chat::ChatRequest;
use ragwire_schemas::endpoint::Chat;
use ragwire_schemas::{headers, Subject};
use ragwire_tests::*;
use serde_json::{json, Value};

fn millis(at: SystemTime) -> String {
    headers::epoch_millis(at).to_string()
}

/// Sends a chat request with `extra` NATS headers; the reply and how long
/// it took.
async fn chat_with(t: &Fixture, extra: &[(&str, String)]) -> (async_nats::Message, Duration) {
    let mut h = HeaderMap::new();
    for (k, v) in extra {
        h.insert(*k, v.as_str());
    }
    let body = serde_json::to_vec(&ChatRequest::user("hi")).unwrap();
    let started = Instant::now();
    let reply = t
        .rag
        .nats()
        .request_with_headers(Subject::Chat.subject(t.prefix()), h, body.into())
        .await
        .unwrap();
    (reply, started.elapsed())
}

/// The worker's `$SRV.STATS` data of endpoint `name`.
async fn stats(t: &Fixture, name: &str) -> Value {
    let reply = t
        .rag
        .nats()
        .request(format!("$SRV.STATS.ragwire.{}", t.worker().id), "".into())
        .await
        .unwrap();
    let stats: Value = serde_json::from_slice(&reply.payload).unwrap();
    stats["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no endpoint {name}: {stats}"))
}

#[tokio::test]
async fn a_passed_deadline_is_not_started_and_a_near_one_stops_the_backend_call() {
    let mut t = Fixture::with_behaviour(Behaviour {
        delay: Duration::from_secs(3),
        ..Default::default()
    })
    .await;
    t.start().await;
    let calls_before = t.fake.chat_calls();
    // Passed a second ago: 504 at once, no model call, counted.
    let past = SystemTime::now() - Duration::from_secs(1);
    let (reply, took) = chat_with(&t, &[(headers::DEADLINE, millis(past))]).await;
    assert_error(&reply, 504, "deadline passed");
    assert!(took < Duration::from_millis(500), "{took:?}");
    assert_eq!(t.fake.chat_calls(), calls_before, "a model call for nobody");
    let data = &stats(&t, "chat").await["data"];
    assert_eq!(data["expired"], 1, "{data}");

    // Due in 300 ms, the model taking 3 s: the call stops at the deadline.
    let soon = SystemTime::now() + Duration::from_millis(300);
    let (reply, took) = chat_with(&t, &[(headers::DEADLINE, millis(soon))]).await;
    assert_eq!(error_code(&reply), Some(504), "{}", json(&reply));
    assert!(
        took < Duration::from_millis(1500),
        "answered after {took:?}, the deadline was 300 ms"
    );
    // A malformed header is no deadline: the worker's own limit applies.
    t.fake.set(Behaviour::default());
    let (reply, _) = chat_with(&t, &[(headers::DEADLINE, "soon".into())]).await;
    assert_eq!(error_code(&reply), None, "{}", json(&reply));

    // The Rust client sends its own timeout as the deadline.
    t.fake.set(Behaviour {
        delay: Duration::from_secs(3),
        ..Default::default()
    });
    let rag = t.rag.clone().with_timeout(Duration::from_millis(400));
    let started = Instant::now();
    let err = rag
        .call::<Chat>(&ChatRequest::user("hi"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("within 400 ms"), "{err}");
    // The worker gave up too: its next request is served at once.
    t.fake.set(Behaviour::default());
    let (reply, took) = chat_with(&t, &[]).await;
    assert_eq!(error_code(&reply), None, "{}", json(&reply));
    assert!(started.elapsed() < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn http_callers_state_their_timeout() {
    let mut t = Fixture::with_behaviour(Behaviour {
        delay: Duration::from_secs(3),
        ..Default::default()
    })
    .await;
    t.start().await;
    let p = t.producer().await;
    let http = http_client();
    let started = Instant::now();
    let reply = http
        .post(p.url("/chat"))
        .header("X-Request-Timeout", "0.3")
        .json(&json!({"messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 504);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let bad = http
        .post(p.url("/chat"))
        .header("X-Request-Timeout", "soon")
        .json(&json!({"messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert!(body.to_string().contains("X-Request-Timeout"), "{body}");
    // The OpenAI SDKs' headers, on /v1/: the Python SDK's read timeout.
    let started = Instant::now();
    let reply = http
        .post(p.url("/v1/chat/completions"))
        .header("x-stainless-read-timeout", "0.3")
        .header("x-stainless-timeout", "600")
        .json(&json!({"model": "rag-answer", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 504);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let body: Value = reply.json().await.unwrap();
    assert!(
        body["error"]["message"].is_string(),
        "OpenAI's shape: {body}"
    );
}

#[tokio::test]
async fn a_burst_on_a_slow_backend_is_shed_rather_than_served_late() {
    let mut t = Fixture::with_behaviour(Behaviour {
        delay: Duration::from_millis(1000),
        ..Default::default()
    })
    .await;
    t.config.limits.max_in_flight = 1;
    t.config.limits.max_wait = Duration::from_millis(600);
    t.start().await;
    let now = || millis(SystemTime::now());
    let burst: Vec<_> = (0..6)
        .map(|_| {
            let sent = now();
            let t = &t;
            async move { chat_with(t, &[(headers::SENT_AT, sent)]).await }
        })
        .collect();
    let replies = futures::future::join_all(burst).await;
    let codes: Vec<Option<u16>> = replies.iter().map(|(r, _)| error_code(r)).collect();
    let served = codes.iter().filter(|c| c.is_none()).count();
    let shed: Vec<_> = replies
        .iter()
        .filter(|(r, _)| error_code(r) == Some(503))
        .collect();
    assert!(served >= 1, "{codes:?}");
    assert!(!shed.is_empty(), "{codes:?}");
    assert_eq!(served + shed.len(), 6, "{codes:?}");
    for (reply, took) in &shed {
        assert_error(reply, 503, "RAGWIRE_LIMITS_MAX_WAIT_MS");
        let retry = reply
            .headers
            .as_ref()
            .and_then(|h| h.get(headers::RETRY_AFTER));
        assert_eq!(retry.map(|v| v.as_str()), Some("1"));
        // Refused without serving: well before six model calls in a row.
        assert!(*took < Duration::from_millis(3500), "{took:?}");
    }
    let data = &stats(&t, "chat").await["data"];
    assert_eq!(data["shed"], shed.len(), "{data}");
    // A request without the header is never shed.
    let (reply, _) = chat_with(&t, &[]).await;
    assert_eq!(error_code(&reply), None);
}
