//! chat, embed and rerank over NATS, and the micro-service endpoints.

use std::time::Duration;

use futures::StreamExt;
use ragwire_schemas::chat::{ChatMessage, ChatRequest};
use ragwire_schemas::embed::EmbedRequest;
use ragwire_schemas::endpoint::{Chat, Embed, Rerank};
use ragwire_schemas::rerank::RerankRequest;
use ragwire_schemas::Subject;
use ragwire_tests::*;
use serde_json::json;

#[tokio::test]
async fn chat_over_nats_resolves_alias_and_parses_json_mode() {
    let t = Fixture::started().await;

    let reply = t
        .send::<Chat>(&ChatRequest {
            model: Some("no-such-alias".into()),
            ..ChatRequest::new(vec![
                ChatMessage::new("system", "be brief"),
                ChatMessage::new("user", "hello there"),
            ])
        })
        .await;
    let body = json(&reply);
    assert_eq!(body["ok"], true, "{body}");
    assert_eq!(body["data"], "echo: hello there");
    // Unknown model names fall back to the default alias, mapped to its model.
    assert_eq!(body["meta"]["model"], "fake-answer-model");
    assert_eq!(body["meta"]["usage"]["prompt_tokens"], 2);
    let sent = t.fake.state.last_chat.lock().unwrap().clone().unwrap();
    assert!(
        (sent["temperature"].as_f64().unwrap() - 0.2).abs() < 1e-6,
        "default temperature: {sent}"
    );

    let reply = t
        .send::<Chat>(&ChatRequest {
            json_mode: true,
            temperature: 0.0,
            ..ChatRequest::user("give json")
        })
        .await;
    let body = json(&reply);
    assert_eq!(body["data"], json!({"echo": "give json"}), "{body}");
    let sent = t.fake.state.last_chat.lock().unwrap().clone().unwrap();
    assert_eq!(sent["response_format"]["type"], "json_object");
    assert_eq!(
        sent["messages"][0]["role"], "system",
        "JSON hint added: {sent}"
    );
}

#[tokio::test]
async fn embed_over_nats_returns_vectors_in_order() {
    // Base64 (the default) and float vectors from the service: same vectors.
    for encoding in ["base64", "float"] {
        let mut t = Fixture::new().await;
        t.config.embed.encoding = encoding.parse().unwrap();
        // A key goes to the service as a bearer token; none, no header.
        let key = (encoding == "base64").then(|| "sk-embed".to_owned());
        t.config.embed.api_key = key.clone();
        t.start().await;
        let texts = ["alpha beta", "gamma", "alpha beta"];
        let body = json(&t.send::<Embed>(&EmbedRequest::new(texts)).await);
        assert_eq!(body["ok"], true, "{encoding}: {body}");
        assert_eq!(body["dim"], 8);
        let vectors = body["vectors"].as_array().unwrap();
        assert_eq!(vectors.len(), 3);
        assert_eq!(vectors[0], vectors[2]);
        assert_ne!(vectors[0], vectors[1]);
        let expected: Vec<f32> = ragwire_tests::fake::fake_vector("gamma", 8);
        let got: Vec<f32> = serde_json::from_value(vectors[1].clone()).unwrap();
        assert_eq!(got, expected, "{encoding}");
        let asked_base64 = usize::from(encoding == "base64");
        assert_eq!(t.fake.embed_calls(), 1);
        assert_eq!(t.fake.embed_base64_calls(), asked_base64, "{encoding}");
        assert_eq!(
            t.fake.last_embed_auth(),
            key.map(|k| format!("Bearer {k}")),
            "{encoding}"
        );
    }
}

#[tokio::test]
async fn embed_with_a_large_reply_from_a_small_request() {
    // 300 short texts at 384 dimensions: a 4 KB request whose reply holds
    // 115,200 numbers, encoded off the endpoint's task; a small request
    // alongside it is answered too.
    let mut t = Fixture::with_fake(FakeOpenAi::start_with(Behaviour::default(), 384).await).await;
    t.start().await;
    let texts: Vec<String> = (0..300).map(|i| format!("word{i} shared")).collect();
    let (big_body, small_body) = (EmbedRequest::new(texts), EmbedRequest::new(["alone"]));
    let (big, small) = tokio::join!(t.send::<Embed>(&big_body), t.send::<Embed>(&small_body),);
    let big = json(&big);
    assert_eq!(big["ok"], true, "{big}");
    let vectors = big["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 300);
    let last: Vec<f32> = serde_json::from_value(vectors[299].clone()).unwrap();
    assert_eq!(
        last,
        ragwire_tests::fake::fake_vector("word299 shared", 384)
    );
    assert_eq!(json(&small)["dim"], 384);
}

#[tokio::test]
async fn rerank_over_nats_in_both_formats() {
    let docs = [
        "the cat sat",
        "rust async nats",
        "nats queue groups in rust",
        "nothing here",
    ];
    for (format, path) in [("tei", "/rerank"), ("seed", "/seed/rerank")] {
        let mut t = Fixture::new().await;
        t.config.rerank.url = Some(format!("{}{path}", t.fake.root));
        t.config.rerank.format = format.parse().unwrap();
        t.start().await;
        let body = json(
            &t.send::<Rerank>(&RerankRequest {
                top_n: 2,
                ..RerankRequest::new("rust nats queue", docs)
            })
            .await,
        );
        assert_eq!(body["ok"], true, "{format}: {body}");
        let results = body["results"].as_array().unwrap();
        assert_eq!(results.len(), 2, "{format}: top_n honoured");
        assert_eq!(results[0]["index"], 2, "{format}: {body}");
        assert_eq!(results[0]["text"], docs[2]);
        assert_eq!(results[1]["index"], 1);
        assert!(results[0]["score"].as_f64() >= results[1]["score"].as_f64());
    }
}

#[tokio::test]
async fn service_answers_ping_info_and_stats() {
    let t = Fixture::started().await;
    let nats = t.rag.nats();
    // One error and one success, to see both in the stats.
    t.send::<Embed>(&EmbedRequest::new(Vec::<String>::new()))
        .await;
    t.send::<Embed>(&EmbedRequest::new(["x"])).await;

    let ping = nats
        .request(format!("$SRV.PING.ragwire.{}", t.worker().id), "".into())
        .await
        .expect("$SRV.PING answers");
    let ping: serde_json::Value = serde_json::from_slice(&ping.payload).unwrap();
    assert_eq!(ping["name"], "ragwire");
    assert_eq!(ping["version"], env!("CARGO_PKG_VERSION"));

    let info = nats
        .request(format!("$SRV.INFO.ragwire.{}", t.worker().id), "".into())
        .await
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.payload).unwrap();
    let subjects: Vec<&str> = info["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["subject"].as_str().unwrap())
        .collect();
    for s in Subject::ALL {
        assert!(
            subjects.contains(&s.subject(t.prefix()).as_str()),
            "{subjects:?}"
        );
    }
    assert!(info["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["queue_group"] == "ragwire"));

    let stats = nats
        .request(format!("$SRV.STATS.ragwire.{}", t.worker().id), "".into())
        .await
        .unwrap();
    let stats: serde_json::Value = serde_json::from_slice(&stats.payload).unwrap();
    let embed = stats["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "embed")
        .unwrap()
        .clone();
    assert_eq!(embed["num_requests"], 2, "{embed}");
    assert_eq!(embed["data"]["errors"], 1, "{embed}");
    assert_eq!(embed["data"]["ok"], 1, "{embed}");

    // Any client can discover all ragwire workers the standard way.
    let inbox = nats.new_inbox();
    let mut sub = nats.subscribe(inbox.clone()).await.unwrap();
    nats.publish_with_reply("$SRV.PING.ragwire", inbox, "".into())
        .await
        .unwrap();
    let mut seen = false;
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(500), sub.next()).await {
        let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        seen |= v["id"] == t.worker().id.as_str();
    }
    assert!(seen, "this worker answered the broadcast ping");
}
