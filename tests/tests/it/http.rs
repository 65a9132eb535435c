//! The HTTP API through the producer: same subjects, auth, status codes,
//! request ids, metrics.

use std::time::Duration;

use futures::StreamExt;
use ragwire_schemas::chat::ChatRequest;
use ragwire_schemas::embed::{EmbedRequest, VectorEncoding};
use ragwire_schemas::graph::QueryRequest;
use ragwire_schemas::rerank::RerankRequest;
use ragwire_tests::*;
use serde_json::{json, Value};

#[tokio::test]
async fn subjects_over_http_with_auth() {
    let mut t = Fixture::new().await;
    t.http.api_keys = vec!["k-one".into(), "k-two".into()];
    t.start().await;
    let producer = t.producer().await;
    let http = http_client();

    // Open routes need no key.
    let health = http.get(producer.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<Value>().await.unwrap()["nats"], "connected");
    let version: Value = http
        .get(producer.url("/version"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));

    // Protected routes: no key, wrong key -> 401 in the error shape.
    let body = EmbedRequest::new(["hello world"]);
    let r = http
        .post(producer.url("/embed"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["kind"],
        "unauthorized"
    );
    let r = http
        .post(producer.url("/embed"))
        .header("X-API-Key", "nope")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Both header forms work.
    let r = http
        .post(producer.url("/embed"))
        .header("X-API-Key", "k-one")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["dim"], 8);
    let r = http
        .post(producer.url("/chat"))
        .bearer_auth("k-two")
        .json(&ChatRequest::user("over http"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["data"], "echo: over http");
    let r = http
        .post(producer.url("/rerank"))
        .bearer_auth("k-two")
        .json(&RerankRequest::new("nats", ["a", "nats b"]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["results"][0]["index"], 1);

    let who: Value = http
        .get(producer.url("/whoami"))
        .header("X-API-Key", "k-one")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(who["key_id"].as_str().unwrap().starts_with("key-"));
    assert!(
        !who.to_string().contains("k-one"),
        "whoami must not echo the key"
    );
    assert_eq!(
        http.get(producer.url("/whoami"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // Worker errors keep their code as the HTTP status.
    let r = http
        .post(producer.url("/embed"))
        .header("X-API-Key", "k-one")
        .header("content-type", "application/json")
        .body("{bad")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .post(producer.url("/graph/query"))
        .header("X-API-Key", "k-one")
        .json(&QueryRequest::new("MATCH (n) RETURN n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 501);
    let r = http.get(producer.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // Metrics count what happened, by route and status.
    let metrics = http
        .get(producer.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"ragwire_http_requests_total{route="/embed",status="200"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"ragwire_http_requests_total{route="/embed",status="401"} 2"#),
        "{metrics}"
    );
    assert!(metrics.contains("ragwire_http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn request_id_travels_and_returns() {
    let mut t = Fixture::started().await;
    let producer = t.producer().await;
    let http = http_client();
    let r = http
        .post(producer.url("/embed"))
        .header("X-Request-ID", "req-42")
        .json(&EmbedRequest::new(["a"]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "req-42");
    let r = http
        .post(producer.url("/embed"))
        .json(&EmbedRequest::new(["a"]))
        .send()
        .await
        .unwrap();
    let generated = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 36, "a UUID is generated: {generated}");
    // Too long to keep: replaced.
    let r = http
        .post(producer.url("/embed"))
        .header("X-Request-ID", "x".repeat(129))
        .json(&EmbedRequest::new(["a"]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"].len(), 36);
    // The producer's own errors carry it too.
    let r = http
        .get(producer.url("/no/such/route"))
        .header("X-Request-ID", "req-404")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-request-id"], "req-404");

    // The worker sees it as a NATS header and echoes it on the reply.
    let nats = t.rag.nats();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("X-Request-ID", "nats-7");
    let reply = nats
        .request_with_headers(
            format!("{}.embed", t.prefix()),
            headers,
            serde_json::to_vec(&EmbedRequest::new(["a"]))
                .unwrap()
                .into(),
        )
        .await
        .unwrap();
    assert_eq!(
        reply.headers.unwrap().get("X-Request-ID").unwrap().as_str(),
        "nats-7"
    );
}

#[tokio::test]
async fn no_worker_is_503_and_slow_worker_is_504() {
    let mut t = Fixture::new().await;
    t.http.timeout = Duration::from_millis(300);
    let chat_url = t.producer().await.url("/chat");
    let http = http_client();
    let chat = ChatRequest::user("hi");
    let r = http.post(&chat_url).json(&chat).send().await.unwrap();
    assert_eq!(r.status(), 503, "no responders");
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["kind"],
        "unavailable"
    );

    t.fake.set(Behaviour {
        delay: Duration::from_secs(2),
        ..Default::default()
    });
    t.start().await;
    let started = std::time::Instant::now();
    let r = http.post(&chat_url).json(&chat).send().await.unwrap();
    assert_eq!(r.status(), 504);
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
    t.fake.set(Behaviour::default());
}

#[tokio::test]
async fn oversize_body_is_413_json() {
    let mut t = Fixture::new().await;
    t.http.max_body_bytes = 1000;
    let producer = t.producer().await;
    let r = http_client()
        .post(producer.url("/embed"))
        .json(&EmbedRequest::new(["x".repeat(2000)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], 413);
}

#[tokio::test]
async fn concurrency_limit_sheds_with_503() {
    let mut t = Fixture::with_behaviour(Behaviour {
        delay: Duration::from_millis(500),
        ..Default::default()
    })
    .await;
    t.http.max_concurrency = 2;
    t.start().await;
    let (chat_url, health_url) = {
        let producer = t.producer().await;
        (producer.url("/chat"), producer.url("/health"))
    };
    let http = http_client();
    let chat = ChatRequest::user("hi");
    // Two slow requests hold both slots...
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let req = http.post(&chat_url).json(&chat).send();
            tokio::spawn(async move { req.await.unwrap().status().as_u16() })
        })
        .collect();
    let waiting = std::time::Instant::now();
    while t.fake.chat_calls() < 2 {
        assert!(
            waiting.elapsed() < Duration::from_secs(10),
            "slow requests never arrived"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // ...so more are shed at once, with the reason, while health stays up.
    for _ in 0..3 {
        let r = http.post(&chat_url).json(&chat).send().await.unwrap();
        assert_eq!(r.status(), 503);
        let v: Value = r.json().await.unwrap();
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("concurrency limit"),
            "{v}"
        );
    }
    assert_eq!(http.get(&health_url).send().await.unwrap().status(), 200);
    for s in slow {
        assert_eq!(s.await.unwrap(), 200);
    }
    // Slots free again: served.
    let r = http.post(&chat_url).json(&chat).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn embed_vectors_as_base64_over_http() {
    let mut t = Fixture::started().await;
    let producer = t.producer().await;
    let http = http_client();
    let texts = ["alpha beta", "gamma delta"];
    let r = http
        .post(producer.url("/embed"))
        .json(&EmbedRequest {
            encoding_format: VectorEncoding::Base64,
            ..EmbedRequest::new(texts)
        })
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let reply: ragwire_schemas::embed::EmbedReply = r.json().await.unwrap();
    assert!(
        matches!(&reply.vectors, ragwire_schemas::embed::Vectors::Base64(v) if v.len() == 2),
        "{reply:?}"
    );
    let vectors = reply.vectors.decode().unwrap();
    for (text, vector) in texts.iter().zip(&vectors) {
        assert_eq!(vector, &ragwire_tests::fake::fake_vector(text, 8));
    }
    assert_eq!(reply.dim, 8);

    // An encoding the API does not know is a 400 naming the field.
    let r = http
        .post(producer.url("/embed"))
        .json(&json!({"texts": texts, "encoding_format": "binary"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("encoding_format"),
        "{body}"
    );
}

#[tokio::test]
async fn request_id_reaches_the_worker_as_a_nats_header() {
    let mut t = Fixture::new().await;
    t.http.api_keys = vec!["k1".into()];
    let embed_url = t.producer().await.url("/embed");
    // A responder in the worker's place, answering with the header it saw.
    let nats = t.rag.nats();
    let mut requests = nats
        .subscribe(format!("{}.embed", t.prefix()))
        .await
        .unwrap();
    ragwire_client::connect::subscriptions_live(nats)
        .await
        .unwrap();
    let responder = nats.clone();
    tokio::spawn(async move {
        while let Some(m) = requests.next().await {
            let seen = m
                .headers
                .as_ref()
                .and_then(|h| h.get("X-Request-ID"))
                .map(|v| v.as_str().to_owned());
            let body = json!({"ok": true, "seen": seen}).to_string();
            responder
                .publish(m.reply.unwrap(), body.into())
                .await
                .unwrap();
        }
    });
    let http = http_client();
    let r = http
        .post(&embed_url)
        .header("X-API-Key", "k1")
        .header("X-Request-ID", "req-77")
        .json(&EmbedRequest::new(["a"]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "req-77");
    assert_eq!(r.json::<Value>().await.unwrap()["seen"], "req-77");
    // A generated id is the one sent on.
    let r = http
        .post(&embed_url)
        .header("X-API-Key", "k1")
        .json(&EmbedRequest::new(["a"]))
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(r.json::<Value>().await.unwrap()["seen"], id.as_str());
    // Refused before any NATS request, and still named.
    let r = http
        .post(&embed_url)
        .header("X-Request-ID", "req-401")
        .json(&EmbedRequest::new(["a"]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["x-request-id"], "req-401");
}
