//! Hostile and malformed input: trailing bytes, huge bad values, wrong
//! content types, cross-site requests, forged request ids, oversize URIs
//! and headers. Each gets a clear 4xx, never a 500 or an echo of the input.

use std::time::Duration;

use ragwire_schemas::Subject;
use ragwire_tests::*;
use serde_json::{json, Value};

#[tokio::test]
async fn a_request_is_exactly_one_json_value() {
    let mut t = Fixture::new().await;
    t.enable_jobs();
    t.start().await;
    let reply = t
        .request_raw(Subject::Embed, &br#"{"texts": ["hello"]} garbage"#[..])
        .await;
    assert_error(&reply, 400, "not one JSON value");
    assert_eq!(t.fake.embed_calls(), 0, "nothing was embedded");
    // A second object after the first does not create a job.
    let submit = json!({"collection": "c", "documents": [{"doc_id": "d", "text": "some text"}]});
    let reply = t
        .request_raw(Subject::JobsSubmit, format!("{submit}{{}}").into_bytes())
        .await;
    assert_error(&reply, 400, "not one JSON value");
    let names = t.config.jobs.names(t.prefix());
    let js = async_nats::jetstream::new(nats().await);
    let mut stream = js.get_stream(&names.work_stream).await.unwrap();
    assert_eq!(
        stream.info().await.unwrap().state.messages,
        0,
        "no job queued"
    );
    // Checked before the subject's own 501 on the embedded graph store.
    let reply = t
        .request_raw(
            Subject::GraphQuery,
            &br#"{"query": "MATCH (n) RETURN n"} x"#[..],
        )
        .await;
    assert_error(&reply, 400, "not one JSON value");
    // White space around the value is fine.
    let reply = t
        .request_raw(Subject::Embed, &b" \n {\"texts\": [\"hello\"]} \r\n\t"[..])
        .await;
    assert_eq!(json(&reply)["ok"], true);
    // Every subject refuses trailing bytes.
    for &subject in Subject::ALL {
        let reply = t.request_raw(subject, &b"{} {}"[..]).await;
        assert_eq!(json(&reply)["error"]["code"], 400, "{subject}");
    }
}

#[tokio::test]
async fn a_huge_bad_value_gets_a_short_400() {
    let mut t = Fixture::new().await;
    t.config.limits.max_request_bytes = 2 << 20;
    t.start().await;
    let huge = "x".repeat(900_000);
    let cases = [
        (
            Subject::Chat,
            json!({"messages": [{"role": "user", "content": "hi"}], "temperature": huge}),
            "temperature",
        ),
        (
            Subject::Search,
            json!({"query": "q", "collection": huge}),
            "collection",
        ),
        (
            Subject::Chat,
            json!({"messages": [{"role": huge, "content": "hi"}]}),
            "role",
        ),
    ];
    for (subject, body, field) in cases {
        let reply = t.request(subject, &body).await;
        assert_error(&reply, 400, field);
        assert!(
            reply.payload.len() < 2048,
            "{subject}: a reply of {} bytes",
            reply.payload.len()
        );
        let message = json(&reply)["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains("(900000 characters)"), "{message}");
    }
}

#[tokio::test]
async fn json_routes_need_a_json_content_type() {
    let mut t = Fixture::started().await;
    let url = t.producer().await.url("/embed");
    let http = http_client();
    let body = r#"{"texts": ["hello"]}"#;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/xml"),
        Some("application/jsonx"),
        None,
    ] {
        let mut request = http.post(&url).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 415, "{content_type:?}");
        assert!(r.headers().contains_key("x-request-id"));
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], 415, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("application/json"),
            "{v}"
        );
    }
    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/vnd.api+json",
    ] {
        let r = http
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{content_type}");
    }
    assert_eq!(
        t.fake.embed_calls(),
        4,
        "only accepted requests reach the backend"
    );
}

#[tokio::test]
async fn cors_answers_only_configured_origins() {
    let http = http_client();
    let preflight = |url: String, origin: &'static str| {
        http.request(reqwest::Method::OPTIONS, url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    // No origins configured: no permission for anyone.
    let mut t = Fixture::started().await;
    let url = t.producer().await.url("/embed");
    let r = preflight(url.clone(), "https://evil.example")
        .await
        .unwrap();
    assert!(
        !r.headers().contains_key("access-control-allow-origin"),
        "{:?}",
        r.headers()
    );
    // Origins configured: those, and only those.
    let mut t = Fixture::new().await;
    t.http.cors_origins = vec!["https://app.example".into()];
    t.start().await;
    let url = t.producer().await.url("/embed");
    let r = preflight(url.clone(), "https://app.example").await.unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let r = preflight(url, "https://evil.example").await.unwrap();
    assert!(!r.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn request_ids_and_oversize_uris_and_headers() {
    let mut t = Fixture::started().await;
    let producer = t.producer().await;
    let http = http_client();
    let id_of = |r: &reqwest::Response| r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let r = http
        .get(producer.url("/health"))
        .header("x-request-id", "ok-id_1.2:3")
        .send()
        .await
        .unwrap();
    assert_eq!(id_of(&r), "ok-id_1.2:3");
    let r = http
        .get(producer.url("/health"))
        .header("x-request-id", "abc\"<script>")
        .send()
        .await
        .unwrap();
    let id = id_of(&r);
    assert!(
        !id.contains('<') && uuid::Uuid::parse_str(&id).is_ok(),
        "{id}"
    );

    let long = "a".repeat(9 * 1024);
    let r = http
        .get(producer.url(&format!("/health?pad={long}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 414);
    assert!(uuid::Uuid::parse_str(&id_of(&r)).is_ok());
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], 414);

    let big = "b".repeat(40 * 1024);
    let r = http
        .get(producer.url("/health"))
        .header("x-pad-1", &big)
        .header("x-pad-2", &big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    assert!(uuid::Uuid::parse_str(&id_of(&r)).is_ok());
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], 431);
}

#[tokio::test]
async fn a_slow_llm_past_the_deadline_is_named_in_the_504() {
    let mut t = Fixture::with_behaviour(Behaviour {
        delay: Duration::from_secs(3),
        ..Default::default()
    })
    .await;
    t.config.llm.timeout = Duration::from_millis(30_000);
    t.config.limits.request_timeout = Duration::from_millis(500);
    t.start().await;
    let started = std::time::Instant::now();
    let reply = t
        .request(
            Subject::Chat,
            &json!({"messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_error(&reply, 504, "LLM provider primary");
    assert!(started.elapsed() < Duration::from_secs(2));
}
