//! graph.extract against the scripted fake LLM: normalisation, repair,
//! nudge, the hedged chain with cancellation, fast failure, windows, upsert.

use std::time::{Duration, Instant};

use ragwire_schemas::endpoint::{GraphExtract, GraphUpsert};
use ragwire_schemas::graph::{Edge, ExtractRequest, UpsertRequest};
use ragwire_schemas::Subject;
use ragwire_tests::*;
use serde_json::{json, Value};
use sha2::Digest;

const CONTEXT: &str = "Ada Lovelace worked with Charles Babbage on the Analytical Engine.";

fn valid() -> String {
    json!({
        "nodes": [{"id": "Ada Lovelace", "type": "Person"}, {"id": "Charles Babbage", "type": "Person"}],
        "edges": [{"src": "Ada Lovelace", "dst": "Charles Babbage", "type": "WORKED_WITH"}]
    })
    .to_string()
}

/// A worker whose extraction chain is `chain` (model names on the fake).
async fn setup(chain: &[&str], hedge_ms: u64) -> Fixture {
    let mut t = Fixture::new().await;
    t.config.extract.chain = chain.iter().map(|s| s.to_string()).collect();
    t.config.extract.hedge_delay = Duration::from_millis(hedge_ms);
    t.start().await;
    t
}

async fn extract(t: &Fixture, body: ExtractRequest) -> async_nats::Message {
    t.send::<GraphExtract>(&body).await
}

fn outcomes(reply: &Value) -> Vec<(String, String, String)> {
    let attempts = reply["attempts"]
        .as_array()
        .or(reply["error"]["details"]["attempts"].as_array());
    attempts
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["provider"].as_str().unwrap().to_owned(),
                a["mode"].as_str().unwrap().to_owned(),
                a["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn o(p: &str, m: &str, out: &str) -> (String, String, String) {
    (p.into(), m.into(), out.into())
}

#[tokio::test]
async fn a_valid_first_answer_wins_with_schema_hash() {
    let mut t = setup(&["ex-a"], 1500).await;
    t.fake.script("ex-a", vec![Scripted::answer(valid())]);
    let reply = json(&extract(&t, ExtractRequest::new(CONTEXT)).await);
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["provider"], "ex-a");
    assert_eq!(reply["data"]["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(reply["data"]["edges"][0]["type"], "WORKED_WITH");
    assert_eq!(outcomes(&reply), [o("ex-a", "strict", "ok")]);
    let schema = include_str!("../../../schemas/graph_schema.json");
    let hash: String = sha2::Sha256::digest(schema.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(reply["schema_hash"], hash);
    let sent = &t.fake.chats_for("ex-a")[0];
    assert_eq!(sent["response_format"]["type"], "json_object");
    let prompt = sent["messages"].to_string();
    assert!(
        prompt.contains("do not invent") && prompt.contains(CONTEXT),
        "{prompt}"
    );

    // A provider configured without response_format gets the instruction only.
    t.stop().await;
    t.config.extract.no_response_format = vec!["ex-a".into()];
    t.start().await;
    assert_eq!(
        json(&extract(&t, ExtractRequest::new(CONTEXT)).await)["ok"],
        true
    );
    let sent = t.fake.chats_for("ex-a").pop().unwrap();
    assert!(sent.get("response_format").is_none(), "{sent}");
}

#[tokio::test]
async fn fenced_variant_json_is_normalised() {
    let t = setup(&["ex-a"], 1500).await;
    let answer = "Sure! Here is the graph:\n```json\n{\"nodes\": [\
        {\"name\": \"Ada Lovelace\", \"label\": \"Person\", \"properties\": [{\"key\": \"born\", \"value\": 1815}]},\
        {\"name\": \"ada lovelace\", \"label\": \"Person\", \"props\": {\"field\": \"mathematics\"}},\
        {\"name\": \"Analytical Engine\", \"label\": \"Machine\"}],\
      \"edges\": [{\"source\": \"Ada Lovelace\", \"target\": \"Analytical Engine\", \"relation\": \"wrote programs for\"},\
                  {\"from\": \"Ada Lovelace\", \"to\": \"Nobody\", \"label\": \"KNOWS\"}]}\n```";
    t.fake.script("ex-a", vec![Scripted::answer(answer)]);
    let reply = json(&extract(&t, ExtractRequest::new(CONTEXT)).await);
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(
        reply["data"],
        json!({
            "nodes": [{"id": "Ada Lovelace", "type": "Person", "props": {"born": 1815, "field": "mathematics"}},
                      {"id": "Analytical Engine", "type": "Machine", "props": {}}],
            "edges": [{"src": "Ada Lovelace", "dst": "Analytical Engine", "type": "wrote_programs_for", "props": {}}]
        })
    );
}

#[tokio::test]
async fn an_invalid_answer_is_repaired_and_an_empty_one_nudged() {
    let t = setup(&["ex-a"], 1500).await;
    let invalid = json!({"nodes": [{"id": "Ada", "type": "Person", "colour": "red"}], "edges": []})
        .to_string();
    t.fake.script(
        "ex-a",
        vec![Scripted::answer(invalid), Scripted::answer(valid())],
    );
    let reply = json(&extract(&t, ExtractRequest::new(CONTEXT)).await);
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(
        outcomes(&reply),
        [o("ex-a", "strict", "invalid"), o("ex-a", "repair", "ok")]
    );
    assert!(
        reply["attempts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{reply}"
    );
    let repair = t.fake.chats_for("ex-a")[1]["messages"].to_string();
    assert!(
        repair.contains("$defs") && repair.contains("colour"),
        "schema, answer and error go back: {repair}"
    );

    // Below the minimums: the second attempt is a nudge.
    let empty = json!({"nodes": [], "edges": []}).to_string();
    t.fake.script(
        "ex-a",
        vec![Scripted::answer(empty.clone()), Scripted::answer(valid())],
    );
    let reply = json(&extract(&t, ExtractRequest::new(CONTEXT)).await);
    assert_eq!(
        outcomes(&reply),
        [o("ex-a", "strict", "too_small"), o("ex-a", "nudge", "ok")],
        "{reply}"
    );
    let nudge = t.fake.chats_for("ex-a").pop().unwrap()["messages"].to_string();
    assert!(nudge.contains("low_confidence"), "{nudge}");

    // Unless empty is allowed.
    t.fake.script("ex-a", vec![Scripted::answer(empty)]);
    let body = ExtractRequest {
        allow_empty: Some(true),
        ..ExtractRequest::new(CONTEXT)
    };
    let reply = json(&extract(&t, body).await);
    assert_eq!(reply["data"], json!({"nodes": [], "edges": []}), "{reply}");
}

#[tokio::test]
async fn a_slow_provider_is_hedged_and_its_call_cancelled() {
    let t = setup(&["ex-slow", "ex-fast"], 200).await;
    t.fake.script(
        "ex-slow",
        vec![Scripted::answer(valid()).after(Duration::from_secs(8))],
    );
    t.fake.script(
        "ex-fast",
        vec![Scripted::answer(valid()).after(Duration::from_millis(50))],
    );
    let started = Instant::now();
    let reply = json(&extract(&t, ExtractRequest::new(CONTEXT)).await);
    let took = started.elapsed();
    assert_eq!(reply["provider"], "ex-fast", "{reply}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(
        took >= Duration::from_millis(200),
        "the second starts after the hedge delay: {took:?}"
    );
    let got = outcomes(&reply);
    assert!(got.contains(&o("ex-fast", "strict", "ok")), "{got:?}");
    assert!(
        got.contains(&o("ex-slow", "strict", "cancelled")),
        "{got:?}"
    );
    // The slow call's connection is dropped, not left running.
    let deadline = Instant::now() + Duration::from_secs(3);
    while t.fake.dropped_chats() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(t.fake.dropped_chats(), 1);
}

#[tokio::test]
async fn a_failing_provider_moves_the_chain_on_at_once() {
    // A hedge delay far above the test's budget: only failure can move on.
    let t = setup(&["ex-500", "ex-429", "ex-good"], 30_000).await;
    t.fake.script("ex-500", vec![Scripted::fail(500)]);
    t.fake
        .script("ex-429", vec![Scripted::fail(429).retry_after("30")]);
    t.fake.script("ex-good", vec![Scripted::answer(valid())]);
    let started = Instant::now();
    let reply = json(&extract(&t, ExtractRequest::new(CONTEXT)).await);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(reply["provider"], "ex-good", "{reply}");
    assert_eq!(
        outcomes(&reply),
        [
            o("ex-500", "strict", "error"),
            o("ex-429", "strict", "error"),
            o("ex-good", "strict", "ok")
        ]
    );
    assert_eq!(t.fake.chats_for("ex-500").len(), 1, "no hidden retries");
    assert_eq!(
        t.fake.chats_for("ex-429").len(),
        1,
        "no waiting out Retry-After"
    );

    // Every provider failing is an outage, answered with the backend's
    // error (retryable), not a 422.
    let body = ExtractRequest {
        provider_chain: Some(vec!["ex-500".into(), "ex-429".into()]),
        ..ExtractRequest::new(CONTEXT)
    };
    let reply = extract(&t, body).await;
    let code = error_code(&reply);
    assert!(matches!(code, Some(502) | Some(429)), "{}", json(&reply));
}

#[tokio::test]
async fn when_everything_fails_the_reply_is_a_quick_422_with_attempts() {
    let t = setup(&["ex-a", "ex-b"], 100).await;
    t.fake
        .script("ex-a", vec![Scripted::answer("I cannot help with that.")]);
    t.fake.script(
        "ex-b",
        vec![Scripted::answer(
            json!({"nodes": [], "edges": []}).to_string(),
        )],
    );
    let started = Instant::now();
    let body = ExtractRequest {
        max_attempts: Some(2),
        ..ExtractRequest::new(CONTEXT)
    };
    let message = extract(&t, body).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_error(&message, 422, "no provider produced a valid graph");
    let reply = json(&message);
    let mut got = outcomes(&reply);
    got.sort();
    let mut want = vec![
        o("ex-a", "strict", "invalid"),
        o("ex-a", "repair", "invalid"),
        o("ex-a", "nudge", "invalid"),
        o("ex-a", "repair", "invalid"),
        o("ex-b", "strict", "too_small"),
        o("ex-b", "nudge", "too_small"),
    ];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(
        t.fake.chats_for("ex-a").len() + t.fake.chats_for("ex-b").len(),
        6
    );

    // A request's own chain and no repair.
    let body = ExtractRequest {
        provider_chain: Some(vec!["ex-a".into()]),
        repair_if_invalid: false,
        max_attempts: Some(1),
        ..ExtractRequest::new(CONTEXT)
    };
    let message = extract(&t, body).await;
    assert_eq!(outcomes(&json(&message)), [o("ex-a", "strict", "invalid")]);

    for (body, needle) in [
        (ExtractRequest::new(" "), "context"),
        (
            ExtractRequest {
                max_attempts: Some(0),
                ..ExtractRequest::new("x")
            },
            "max_attempts",
        ),
        (
            ExtractRequest {
                provider_chain: Some(vec![" ".into()]),
                ..ExtractRequest::new("x")
            },
            "provider_chain",
        ),
    ] {
        assert_error(&extract(&t, body).await, 400, needle);
    }
    // JSON: `strict` is a boolean, which "maybe" is not.
    let body = json!({"context": "x", "strict": "maybe"});
    let reply = t.request(Subject::GraphExtract, &body).await;
    assert_error(&reply, 400, "strict");
}

#[tokio::test]
async fn a_long_context_is_windowed_and_merged_and_can_be_stored() {
    let mut t = Fixture::new().await;
    t.config.extract.chain = vec!["ex-echo".into()];
    t.config.extract.window_chars = 200;
    t.config.extract.window_overlap = 40;
    t.start().await;
    t.fake.script("ex-echo", vec![Scripted::answer(ECHO_GRAPH)]);
    let names = [
        "Ada",
        "Babbage",
        "Engine",
        "London",
        "Menabrea",
        "Turin",
        "Somerville",
        "Byron",
        "Faraday",
        "Dickens",
    ];
    let context: String = names
        .iter()
        .map(|n| {
            format!(
                "{n} appears in this sentence, which pads the text with enough words to matter. "
            )
        })
        .collect();
    let body = ExtractRequest {
        upsert: true,
        ..ExtractRequest::new(context)
    };
    let reply = json(&extract(&t, body).await);
    assert_eq!(reply["ok"], true, "{reply}");
    let windows = reply["windows"].as_u64().unwrap() as usize;
    assert!(windows >= 4, "{reply}");
    assert_eq!(t.fake.chats_for("ex-echo").len(), windows);
    let ids = sorted_ids(&reply["data"]["nodes"]);
    let mut want = names.to_vec();
    want.sort();
    assert_eq!(ids, want, "every window's entities, each once");
    let edges = reply["data"]["edges"].as_array().unwrap().len();
    assert!(edges >= windows, "{reply}");
    assert_eq!(reply["upserted"], json!({"nodes": 10, "edges": edges}));
    // The graph is in the store: an edge between two extracted nodes needs them there.
    let link = UpsertRequest::new(vec![], vec![Edge::new("Ada", "MET", "Dickens")]);
    let stored = json(&t.send::<GraphUpsert>(&link).await);
    assert_eq!(stored["ok"], true, "{stored}");
}
