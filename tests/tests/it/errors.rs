//! Bad input gets a clear error reply with a code, never silence or a crash.

use ragwire_schemas::Subject;
use ragwire_tests::*;
use serde_json::json;

async fn expect_error(t: &Fixture, subject: Subject, payload: Vec<u8>, code: u16, needle: &str) {
    let reply = t.request_raw(subject, payload).await;
    let body = json(&reply);
    assert_eq!(body["ok"], false, "{subject}: {body}");
    assert_eq!(body["error"]["code"], code, "{subject}: {body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(needle),
        "{subject}: `{message}` should mention `{needle}`"
    );
    assert_eq!(
        error_code(&reply),
        Some(code),
        "Nats-Service-Error-Code header"
    );
    let header = reply
        .headers
        .as_ref()
        .unwrap()
        .get("Nats-Service-Error")
        .unwrap();
    assert!(!header.as_str().is_empty());
}

#[tokio::test]
async fn bad_input_gets_named_400_class_errors() {
    let mut t = Fixture::new().await;
    t.config.limits.max_request_bytes = 4096;
    t.config.limits.max_texts = 10;
    t.start().await;
    let j = |v: serde_json::Value| serde_json::to_vec(&v).unwrap();

    let cases: Vec<(Subject, Vec<u8>, u16, &str)> = vec![
        (Subject::Chat, b"{not json".to_vec(), 400, "not valid JSON"),
        (Subject::Embed, Vec::new(), 400, "empty request body"),
        (
            Subject::Chat,
            j(json!({"model": "x"})),
            400,
            "missing field `messages`",
        ),
        (
            Subject::Chat,
            j(json!({"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"})),
            400,
            "temperature",
        ),
        (
            Subject::Chat,
            j(json!({"messages": [{"role": "user", "content": 5}]})),
            400,
            "messages[0].content",
        ),
        (
            Subject::Chat,
            j(json!({"messages": [{"role": "wizard", "content": "hi"}]})),
            400,
            "messages[0].role",
        ),
        (
            Subject::Chat,
            j(json!({"messages": []})),
            400,
            "`messages` must not be empty",
        ),
        (
            Subject::Chat,
            j(json!({"messages": [{"role": "user", "content": "hi"}], "temperature": 7})),
            400,
            "temperature",
        ),
        (
            Subject::Embed,
            j(json!({"texts": []})),
            400,
            "`texts` must not be empty",
        ),
        (
            Subject::Embed,
            j(json!({"texts": ["ok", "  "]})),
            400,
            "texts[1]",
        ),
        (
            Subject::Embed,
            j(json!({"texts": "one string"})),
            400,
            "texts",
        ),
        (Subject::Embed, j(json!([1, 2])), 400, "invalid request"),
        (
            Subject::Embed,
            j(json!({"texts": vec!["a"; 11]})),
            413,
            "the number of items in `texts` is 11, above the limit of 10",
        ),
        (
            Subject::Embed,
            j(json!({"texts": ["x".repeat(5000)]})),
            413,
            "limit of 4096",
        ),
        (
            Subject::Rerank,
            j(json!({"query": "q", "documents": []})),
            400,
            "`documents` must not be empty",
        ),
        (
            Subject::Rerank,
            j(json!({"query": "q", "documents": ["d"], "top_n": 0})),
            400,
            "top_n",
        ),
        (
            Subject::Rerank,
            j(json!({"query": "", "documents": ["d"]})),
            400,
            "`query`",
        ),
        (
            Subject::Rerank,
            j(json!({"query": "q", "documents": ["d"], "top_n": -1})),
            400,
            "top_n",
        ),
        (
            Subject::GraphExtract,
            j(json!({"context": "q", "max_attempts": 0})),
            400,
            "max_attempts",
        ),
        (
            Subject::Retrieve,
            j(json!({"query": "q", "top_k": "five"})),
            400,
            "top_k",
        ),
        (
            Subject::GraphUpsert,
            j(json!({"nodes": []})),
            400,
            "missing field `data`",
        ),
        (
            Subject::GraphQuery,
            j(json!({"query": "MATCH (n) RETURN n"})),
            501,
            "graph.query",
        ),
    ];
    for (subject, payload, code, needle) in cases {
        expect_error(&t, subject, payload, code, needle).await;
    }

    // Unknown extra fields are ignored, as by the Python gateway.
    let body = json(
        &t.request(Subject::Embed, &json!({"texts": ["x"], "normalize": true}))
            .await,
    );
    assert_eq!(body["ok"], true, "{body}");
}

#[tokio::test]
async fn unconfigured_reranker_is_503() {
    let mut t = Fixture::new().await;
    t.config.rerank.url = None;
    t.start().await;
    let reply = t
        .request(Subject::Rerank, &json!({"query": "q", "documents": ["d"]}))
        .await;
    assert_eq!(error_code(&reply), Some(503));
    assert!(json(&reply)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("RAGWIRE_RERANK_URL"));
}

#[tokio::test]
async fn backend_errors_map_to_codes() {
    let mut t = Fixture::new().await;
    t.config.retry.max_retries = 0;
    t.start().await;
    let chat = json!({"messages": [{"role": "user", "content": "hi"}]});
    for (status, code) in [(400u16, 502u16), (500, 502), (429, 429)] {
        t.fake.set(Behaviour {
            fail_times: usize::MAX,
            fail_status: status,
            ..Default::default()
        });
        let reply = t.request(Subject::Chat, &chat).await;
        assert_eq!(
            error_code(&reply),
            Some(code),
            "upstream {status}: {}",
            json(&reply)
        );
        if status != 429 {
            assert!(json(&reply)["error"]["message"]
                .as_str()
                .unwrap()
                .contains("scripted failure"));
        }
    }
    // Nothing listening: 503.
    let mut config = test_config(&t.fake);
    config.llm.base_url = "http://127.0.0.1:9/v1".into();
    config.retry.max_retries = 0;
    let worker2 = start_worker(&config).await;
    let reply = request(t.rag.nats(), &config.common.prefix, Subject::Chat, &chat).await;
    assert_eq!(error_code(&reply), Some(503), "{}", json(&reply));
    worker2.shutdown().await;
}
