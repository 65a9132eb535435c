//! graph.upsert on the embedded SQLite store and graph.probe on the fake LLM.

use ragwire_schemas::Subject;
use ragwire_tests::*;
use serde_json::json;

#[tokio::test]
async fn graph_upsert_merges_and_refuses_unsafe_types() {
    let fake = FakeOpenAi::start().await;
    let config = test_config(&fake);
    let worker = start_worker(&config).await;
    let nats = nats().await;
    let p = config.prefix.as_str();
    let data = json!({"data": {
        "nodes": [{"id": "ada", "type": "Person", "props": {"name": "Ada Lovelace", "born": 1815}},
                  {"id": "babbage", "type": "Person"},
                  {"id": "x'); MATCH (n) DETACH DELETE n //", "type": "Note", "props": {"text": "} RETURN 1"}}],
        "edges": [{"src": "ada", "dst": "babbage", "type": "WORKED_WITH", "props": {"year": 1842}}]
    }});
    for _ in 0..2 {
        let reply = json(&request(&nats, p, Subject::GraphUpsert, &data).await);
        assert_eq!(reply, json!({"ok": true, "nodes": 3, "edges": 1}));
    }
    let cases = [
        (
            json!({"data": {"nodes": [{"id": "a", "type": "Person`) DETACH DELETE n //"}]}}),
            "data.nodes[0].type",
        ),
        (
            json!({"data": {"nodes": [{"id": "a", "type": "P"}], "edges": [{"src": "a", "dst": "a", "type": "REL TYPE"}]}}),
            "data.edges[0].type",
        ),
        (
            json!({"data": {"nodes": [{"id": " ", "type": "P"}]}}),
            "data.nodes[0].id",
        ),
        (
            json!({"data": {"nodes": [{"id": "a", "type": "P", "props": {"list": [1, 2]}}]}}),
            "data.nodes[0].props.list",
        ),
        (
            json!({"data": {"edges": [{"src": "ada", "dst": "nobody", "type": "KNOWS"}]}}),
            "nobody",
        ),
        (json!({"data": {}}), "no nodes and no edges"),
        (
            json!({"data": {"nodes": [{"id": "a"}]}}),
            "missing field `type`",
        ),
    ];
    for (body, needle) in cases {
        let reply = request(&nats, p, Subject::GraphUpsert, &body).await;
        assert_error(&reply, 400, needle);
    }
    worker.shutdown().await;
}

#[tokio::test]
async fn graph_query_on_the_embedded_store_names_the_setting() {
    let fake = FakeOpenAi::start().await;
    let config = test_config(&fake);
    let worker = start_worker(&config).await;
    let nats = nats().await;
    let reply = request(
        &nats,
        &config.prefix,
        Subject::GraphQuery,
        &json!({"query": "MATCH (n) RETURN n LIMIT 1"}),
    )
    .await;
    assert_error(&reply, 501, "NEO4J_URI");
    let reply = request(
        &nats,
        &config.prefix,
        Subject::GraphQuery,
        &json!({"query": " "}),
    )
    .await;
    assert_error(&reply, 400, "`query`");
    worker.shutdown().await;
}

#[tokio::test]
async fn graph_probe_reports_json_or_text_mode() {
    let fake = FakeOpenAi::start().await;
    let config = test_config(&fake);
    let worker = start_worker(&config).await;
    let nats = nats().await;
    let p = config.prefix.as_str();

    let reply = json(
        &request(
            &nats,
            p,
            Subject::GraphProbe,
            &json!({"model": "rag-answer", "strict_json": true}),
        )
        .await,
    );
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["mode"], "json");
    assert_eq!(reply["provider"], "primary");
    assert!(
        reply["data"]["echo"]
            .as_str()
            .unwrap()
            .contains("Ada Lovelace"),
        "{reply}"
    );
    let sent = fake.state.last_chat.lock().unwrap().clone().unwrap();
    assert_eq!(sent["response_format"]["type"], "json_object");
    assert_eq!(sent["model"], "fake-answer-model");

    let reply = json(&request(&nats, p, Subject::GraphProbe, &json!({
        "model": "rag-answer", "strict_json": false, "messages": [{"role": "user", "content": "say hi"}]
    })).await);
    assert_eq!(reply["mode"], "text", "{reply}");
    assert_eq!(reply["text"], "echo: say hi");
    assert!(reply.get("error").is_none());

    for (body, needle) in [
        (json!({"model": "m", "timeout": -1}), "timeout"),
        (json!({"model": "m", "temperature": 9}), "temperature"),
        (json!({"model": ""}), "model"),
    ] {
        let reply = request(&nats, p, Subject::GraphProbe, &body).await;
        assert_error(&reply, 400, needle);
    }

    // A slow model hits the probe's own timeout.
    fake.set(Behaviour {
        delay: std::time::Duration::from_secs(3),
        ..Default::default()
    });
    let reply = request(
        &nats,
        p,
        Subject::GraphProbe,
        &json!({"model": "m", "timeout": 0.3}),
    )
    .await;
    assert_eq!(error_code(&reply), Some(504), "{}", json(&reply));
    worker.shutdown().await;
}
