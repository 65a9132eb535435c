//! retrieve: vector hits and the graph neighbourhood together, with
//! citations, reranking and warnings for failed stages.

use ragwire_schemas::Subject;
use ragwire_tests::*;
use serde_json::{json, Value};
use std::time::Duration;

async fn seed(t: &Fixture) {
    let chunks = json!({"collection": "kb", "chunks": [
        {"doc_id": "notes", "chunk_id": "1", "text": "Ada Lovelace wrote the first program for the analytical engine"},
        {"doc_id": "notes", "chunk_id": "2", "text": "Charles Babbage designed the analytical engine"},
        {"doc_id": "food", "chunk_id": "1", "text": "Simmer tomatoes with garlic and basil"}
    ]});
    assert_eq!(
        json(&t.request(Subject::Index, &chunks).await)["upserted"],
        3
    );
    let graph = json!({"data": {
        "nodes": [{"id": "ada", "type": "Person", "props": {"name": "Ada Lovelace"}},
                  {"id": "babbage", "type": "Person", "props": {"name": "Charles Babbage"}},
                  {"id": "engine", "type": "Machine", "props": {"name": "Analytical Engine"}},
                  {"id": "london", "type": "City"}],
        "edges": [{"src": "ada", "dst": "babbage", "type": "WORKED_WITH"},
                  {"src": "babbage", "dst": "engine", "type": "DESIGNED"},
                  {"src": "engine", "dst": "london", "type": "BUILT_IN"}]
    }});
    assert_eq!(
        json(&t.request(Subject::GraphUpsert, &graph).await)["edges"],
        3
    );
}

fn sources(reply: &Value) -> Vec<String> {
    reply["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["citations"][0]["source"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn retrieve_returns_vector_hits_and_subgraph_with_citations_embedded() {
    retrieve_cases(Fixture::new().await).await;
}

#[tokio::test]
async fn retrieve_returns_vector_hits_and_subgraph_with_citations_bolt() {
    let mut t = Fixture::new().await;
    t.use_bolt();
    retrieve_cases(t).await;
}

async fn retrieve_cases(mut t: Fixture) {
    t.config.rerank.url = None;
    t.start().await;
    seed(&t).await;

    let body = json!({"query": "What did Ada Lovelace write for the analytical engine?", "collection": "kb", "top_k": 10, "max_hops": 1});
    let reply = json(&t.request(Subject::Retrieve, &body).await);
    assert_eq!(reply["ok"], true, "{reply}");
    let hits = reply["hits"].as_array().unwrap();
    let vector = hits
        .iter()
        .find(|h| h["citations"][0]["source"] == "vector")
        .unwrap();
    assert_eq!(vector["citations"][0]["doc_id"], "notes");
    assert!(vector["citations"][0]["score"].as_f64().unwrap() > 0.0);
    assert!(vector["text"]
        .as_str()
        .unwrap()
        .contains("analytical engine"));
    let graph: Vec<&Value> = hits
        .iter()
        .filter(|h| h["citations"][0]["source"] == "graph")
        .collect();
    let facts: Vec<&str> = graph.iter().map(|h| h["text"].as_str().unwrap()).collect();
    assert!(
        facts.contains(&"Ada Lovelace WORKED_WITH Charles Babbage"),
        "{facts:?}"
    );
    assert!(graph
        .iter()
        .all(|h| h["citations"][0]["edge_type"].is_string()
            && h["citations"][0]["node_id"].is_string()));
    // Seeds: ada and engine (named in the query); one hop reaches babbage and london.
    assert_eq!(
        sorted_ids(&reply["subgraph"]["nodes"]),
        ["ada", "babbage", "engine", "london"]
    );
    assert!(reply["query_time_ms"].is_u64());
    for stage in ["embed", "vector", "graph"] {
        assert!(reply["timings_ms"][stage].is_u64(), "{stage}: {reply}");
    }
    assert!(reply.get("warnings").is_none());

    // The neighbourhood honours max_hops: ada - babbage - engine - london.
    for (hops, want) in [
        (1, vec!["ada", "babbage"]),
        (2, vec!["ada", "babbage", "engine"]),
        (3, vec!["ada", "babbage", "engine", "london"]),
    ] {
        let body = json!({"query": "Who was Ada Lovelace?", "collection": "kb", "max_hops": hops});
        let reply = json(&t.request(Subject::Retrieve, &body).await);
        assert_eq!(
            sorted_ids(&reply["subgraph"]["nodes"]),
            want,
            "{hops} hops: {reply}"
        );
        assert_eq!(
            reply["subgraph"]["edges"].as_array().unwrap().len(),
            hops,
            "{reply}"
        );
    }

    // Without the subgraph: vector hits only.
    let body = json!({"query": "Ada Lovelace", "collection": "kb", "include_subgraph": false});
    let reply = json(&t.request(Subject::Retrieve, &body).await);
    assert!(reply["subgraph"].is_null(), "{reply}");
    assert!(sources(&reply).iter().all(|s| s == "vector"), "{reply}");

    // A failing stage is a warning, not an empty answer.
    let body = json!({"query": "Charles Babbage", "collection": "missing"});
    let reply = json(&t.request(Subject::Retrieve, &body).await);
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["warnings"][0]["stage"], "vector");
    assert_eq!(reply["warnings"][0]["code"], 404);
    assert!(sources(&reply).iter().all(|s| s == "graph") && !sources(&reply).is_empty());
    // Every stage failing is an error.
    let body =
        json!({"query": "Charles Babbage", "collection": "missing", "include_subgraph": false});
    let reply = t.request(Subject::Retrieve, &body).await;
    assert_eq!(error_code(&reply), Some(404));

    // Deeper than 3 hops is 3 hops; 0 is no neighbourhood (as the gateway
    // ragwire replaces took them).
    let ask =
        |hops: i64| json!({"query": "Who was Ada Lovelace?", "collection": "kb", "max_hops": hops});
    let deep = json(&t.request(Subject::Retrieve, &ask(9)).await);
    let three = json(&t.request(Subject::Retrieve, &ask(3)).await);
    assert_eq!(deep["subgraph"], three["subgraph"], "{deep}");
    assert_eq!(sorted_ids(&deep["subgraph"]["nodes"]).len(), 4, "{deep}");
    let none = json(&t.request(Subject::Retrieve, &ask(0)).await);
    assert_eq!(none["ok"], true, "{none}");
    assert!(none["subgraph"].is_null(), "{none}");
    for (body, needle) in [
        (json!({"query": "q", "max_hops": -1}), "max_hops"),
        (json!({"query": "q", "top_k": 0}), "top_k"),
        (json!({"query": " "}), "query"),
    ] {
        let reply = t.request(Subject::Retrieve, &body).await;
        assert_error(&reply, 400, needle);
    }
}

#[tokio::test]
async fn retrieve_reranks_when_a_reranker_is_configured() {
    let t = Fixture::started().await;
    seed(&t).await;
    let query = "Charles Babbage designed the analytical engine";
    let body = json!({"query": query, "collection": "kb", "top_k": 3});
    let reply = json(&t.request(Subject::Retrieve, &body).await);
    assert_eq!(t.fake.rerank_calls(), 1);
    let hits = reply["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 3, "cut to top_k after reranking: {reply}");
    // The fake reranker scores by word overlap: the exact sentence first.
    assert_eq!(hits[0]["text"], query);
    assert_eq!(hits[0]["score"], 1.0);
    let scores: Vec<f64> = hits.iter().map(|h| h["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(reply["timings_ms"]["rerank"].is_u64());
}

#[tokio::test]
async fn retrieve_with_the_graph_store_down_returns_vector_hits_and_a_warning() {
    let mut t = Fixture::new().await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    t.config.rerank.url = None;
    t.config.graph.neo4j_uri = Some(format!("bolt://{closed}"));
    t.config.graph.timeout = Duration::from_millis(2_000);
    t.start().await;
    let chunks = json!({"collection": "kb", "chunks": [
        {"doc_id": "notes", "chunk_id": "1", "text": "Ada Lovelace wrote the first program"}
    ]});
    assert_eq!(
        json(&t.request(Subject::Index, &chunks).await)["upserted"],
        1
    );

    let body = json!({"query": "Ada Lovelace", "collection": "kb"});
    let reply = json(&t.request(Subject::Retrieve, &body).await);
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(sources(&reply), ["vector"], "{reply}");
    assert_eq!(reply["hits"][0]["citations"][0]["doc_id"], "notes");
    let warning = &reply["warnings"][0];
    assert_eq!(warning["stage"], "graph", "{reply}");
    assert_eq!(warning["code"], 503, "{reply}");
    assert!(
        warning["message"].as_str().unwrap().contains("graph store"),
        "{reply}"
    );
    assert!(
        reply.get("subgraph").is_none() || reply["subgraph"].is_null(),
        "{reply}"
    );
}
