//! Clients of the FreeRoute gateway that ragwire replaces work unchanged:
//! its request shapes are accepted, `/whoami` carries its fields, errors
//! carry its `detail`, and with `RAGWIRE_HTTP_COMPAT=gateway` the replies
//! take its shapes where ragwire's differ.

use std::time::Duration;

use ragwire_producer::compat::Compat;
use ragwire_schemas::Subject;
use ragwire_tests::*;
use serde_json::{json, Value};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn post(http: &reqwest::Client, url: &str, body: Value) -> (u16, Value) {
    let r = http.post(url).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_gateways_request_shapes_are_accepted() {
    let t = Fixture::started().await;
    // Props as lists of {key, value}: the gateway's own upsert shape.
    let upsert = json!({"data": {
        "nodes": [
            {"id": "ada", "type": "Person", "props": [{"key": "name", "value": "Ada Lovelace"},
                                                      {"key": "born", "value": 1815}]},
            {"id": "babbage", "type": "Person", "props": []}],
        "edges": [{"src": "ada", "dst": "babbage", "type": "WORKED_WITH",
                   "props": [{"key": "since", "value": 1833}, {"key": "notes", "value": ["a", "b"]}]}]}});
    let reply = json(&t.request(Subject::GraphUpsert, &upsert).await);
    assert_eq!(reply, json!({"ok": true, "nodes": 2, "edges": 1}));
    let stored = json(
        &t.request(
            Subject::Retrieve,
            &json!({"query": "Ada Lovelace", "collection": "none"}),
        )
        .await,
    );
    let nodes = stored["subgraph"]["nodes"].as_array().unwrap();
    let ada = nodes.iter().find(|n| n["id"] == "ada").unwrap();
    assert_eq!(ada["props"]["name"], "Ada Lovelace", "{stored}");
    assert_eq!(ada["props"]["born"], 1815);
    let edge = &stored["subgraph"]["edges"][0];
    assert_eq!(
        edge["props"]["notes"], "[\"a\",\"b\"]",
        "a list value as its JSON text"
    );

    // Numbers and booleans as strings, as form-derived clients send them.
    let reply = json(
        &t.request(
            Subject::Retrieve,
            &json!({"query": "Ada", "collection": "none", "top_k": "3", "include_subgraph": "true", "max_hops": "2"}),
        )
        .await,
    );
    assert_eq!(reply["ok"], true, "{reply}");
    let reply = json(
        &t.request(
            Subject::Chat,
            &json!({"messages": [{"role": "user", "content": "hi"}], "temperature": "0.5", "json_mode": "false"}),
        )
        .await,
    );
    assert_eq!(reply["ok"], true, "{reply}");
    let sent = t.fake.state.last_chat.lock().unwrap().clone().unwrap();
    assert!((sent["temperature"].as_f64().unwrap() - 0.5).abs() < 1e-6);

    // Messages with other fields and roles go to the model as they are.
    let reply = json(
        &t.request(
            Subject::Chat,
            &json!({"messages": [
        {"role": "user", "content": "what is 2+2?", "name": "ada"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": "add", "arguments": "{}"}}]},
        {"role": "tool", "content": "4", "tool_call_id": "c1"}]}),
        )
        .await,
    );
    assert_eq!(reply["ok"], true, "{reply}");
    let sent = t.fake.state.last_chat.lock().unwrap().clone().unwrap();
    assert_eq!(sent["messages"][0]["name"], "ada", "{sent}");
    assert_eq!(sent["messages"][1]["tool_calls"][0]["id"], "c1");
    assert_eq!(sent["messages"][2]["tool_call_id"], "c1");

    // `graph-extractor`, an extraction alias, stays itself in chat; a probe
    // sends the model it names, known or not.
    json(
        &t.request(
            Subject::Chat,
            &json!({"messages": [{"role": "user", "content": "hi"}], "model": "graph-extractor"}),
        )
        .await,
    );
    let sent = t.fake.state.last_chat.lock().unwrap().clone().unwrap();
    assert_eq!(sent["model"], "graph-extractor");
    json(
        &t.request(
            Subject::GraphProbe,
            &json!({"model": "some-new-model", "strict_json": false}),
        )
        .await,
    );
    let sent = t.fake.state.last_chat.lock().unwrap().clone().unwrap();
    assert_eq!(sent["model"], "some-new-model");

    // An empty provider chain means the configured one.
    t.fake
        .script("graph-extractor", vec![Scripted::answer(ECHO_GRAPH)]);
    let reply = json(
        &t.request(
            Subject::GraphExtract,
            &json!({"context": "Ada Lovelace worked with Charles Babbage.", "provider_chain": []}),
        )
        .await,
    );
    assert_eq!(reply["provider"], "graph-extractor", "{reply}");
}

#[tokio::test]
async fn whoami_reports_the_gateways_fields() {
    let mut t = Fixture::new().await;
    t.config.extract.chain = vec!["graph-extractor".into(), "graph-extractor-mini".into()];
    t.config.extract.max_attempts = 3;
    t.http.app_version = Some("v0.2.0".into());
    t.start().await;
    let url = t.producer().await.url("/whoami");
    let me: Value = client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["ok"], true, "{me}");
    assert_eq!(me["app_version"], "v0.2.0");
    assert_eq!(me["litellm_base"], t.fake.base_url.trim_end_matches('/'));
    assert_eq!(
        me["entrypoints"],
        json!(["graph-extractor", "graph-extractor-mini", "rag-answer"])
    );
    assert_eq!(me["json_mode_hint_injection"], true);
    assert!(me["graph_schema_path"].is_string());
    assert_eq!(me["schema_hash"].as_str().unwrap().len(), 64);
    assert_eq!(
        me["graph_defaults"],
        json!({"min_nodes": 1, "min_edges": 1, "allow_empty": false, "max_attempts": 3,
               "provider_chain": ["graph-extractor", "graph-extractor-mini"]})
    );
    assert_eq!(
        (me["key_id"].as_str(), me["auth"].as_bool()),
        (Some("anonymous"), Some(false))
    );
}

#[tokio::test]
async fn a_reranker_given_by_its_base_url_gets_rerank_appended() {
    let mut t = Fixture::new().await;
    t.config.rerank.url = Some(t.fake.root.clone());
    t.start().await;
    let reply = json(
        &t.request(
            Subject::Rerank,
            &json!({"query": "engine", "documents": ["the analytical engine", "a poem"], "top_n": "1"}),
        )
        .await,
    );
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["results"][0]["index"], 0);
    assert_eq!(t.fake.rerank_calls(), 1);
}

#[tokio::test]
async fn http_errors_carry_detail_and_routes_answer_as_the_gateways_did() {
    let mut t = Fixture::started().await;
    let producer = t.producer().await;
    let http = client();
    let (status, body) = post(&http, &producer.url("/search"), json!({"query": " "})).await;
    assert_eq!(status, 400);
    assert_eq!(body["detail"], body["error"]["message"], "{body}");
    let r = http.get(producer.url("/nowhere")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.json::<Value>().await.unwrap()["detail"].is_string());
    // A wrong method: a JSON 405.
    let r = http.get(producer.url("/embed")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], 405);
    // A trailing slash: redirected, method and body kept.
    let r = http
        .post(producer.url("/embed/"))
        .json(&json!({"texts": ["hi"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(r.headers()["location"], "/embed");
    let following = reqwest::Client::new();
    let r = following
        .post(producer.url("/embed/"))
        .json(&json!({"texts": ["hi"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The bearer scheme in any case, an empty X-API-Key ignored.
    let mut t = Fixture::new().await;
    t.http.api_keys = vec!["k1".into()];
    t.start().await;
    let r = http
        .get(t.producer().await.url("/whoami"))
        .header("x-api-key", "")
        .header("authorization", "BEARER k1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn gateway_replies_when_asked_for() {
    let mut t = Fixture::new().await;
    t.http.compat = Compat::Gateway;
    t.config.extract.chain = vec!["ex-echo".into()];
    t.start().await;
    t.fake.script("ex-echo", vec![Scripted::answer(ECHO_GRAPH)]);
    let http = client();
    let producer = t.producer().await;
    let (status, reply) = post(
        &http,
        &producer.url("/graph/extract"),
        json!({"context": "Ada Lovelace worked with Charles Babbage on the Analytical Engine."}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let props = &reply["data"]["nodes"][0]["props"];
    assert!(props.is_array(), "props as a list of pairs: {reply}");

    // Strict JSON that does not come: ok false, mode json, the text as raw.
    t.fake
        .script("fake-answer-model", vec![Scripted::answer("plain words")]);
    let (status, probe) = post(
        &http,
        &producer.url("/graph/probe"),
        json!({"model": "rag-answer", "strict_json": true, "messages": [{"role": "user", "content": "plain words"}]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        (probe["ok"].clone(), probe["mode"].clone()),
        (json!(false), json!("json")),
        "{probe}"
    );
    assert!(
        probe["raw"].as_str().unwrap().contains("plain words"),
        "{probe}"
    );
    for key in ["provider", "data", "text", "error", "raw"] {
        assert!(probe.get(key).is_some(), "{key}: {probe}");
    }

    // Chat data parsed when the answer is JSON, json_mode or not.
    t.fake
        .script("fake-answer-model", vec![Scripted::answer(" {\"a\": 1} ")]);
    let (_, chat) = post(
        &http,
        &producer.url("/chat"),
        json!({"messages": [{"role": "user", "content": "give json"}]}),
    )
    .await;
    assert_eq!(chat["data"], json!({"a": 1}), "{chat}");

    // A failed extraction: the gateway's 422 detail.
    t.fake
        .script("ex-echo", vec![Scripted::answer("no graph here")]);
    let (status, failed) = post(
        &http,
        &producer.url("/graph/extract"),
        json!({"context": "nothing", "repair_if_invalid": false, "max_attempts": 1}),
    )
    .await;
    assert_eq!(status, 422, "{failed}");
    assert_eq!(
        failed["detail"]["error"], "graph_extraction_failed",
        "{failed}"
    );
    assert_eq!(failed["detail"]["provider_chain"], json!(["ex-echo"]));
}
