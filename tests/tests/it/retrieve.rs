//! retrieve: vector hits and the graph neighbourhood together, with
//! citations, reranking and warnings for failed stages.

use ragwire_schemas::endpoint::{GraphUpsert, Index, Retrieve};
use ragwire_schemas::graph::{Edge, Node, UpsertRequest};
use ragwire_schemas::index::{Chunk, IndexRequest};
use ragwire_schemas::retrieve::RetrieveRequest;
use ragwire_schemas::Subject;
use ragwire_tests::*;
use serde_json::{json, Value};
use std::time::Duration;

/// The chunk `chunk_id` of `doc_id`.
fn chunk(doc_id: &str, chunk_id: &str, text: &str) -> Chunk {
    Chunk {
        chunk_id: Some(chunk_id.into()),
        ..Chunk::new(doc_id, text)
    }
}

/// A node of `node_type` with a `name`.
fn named(id: &str, node_type: &str, name: &str) -> Node {
    let mut node = Node::new(id, node_type);
    node.props.insert("name".into(), name.into());
    node
}

/// A retrieval of `query` in the collection `kb`.
fn in_kb(query: &str) -> RetrieveRequest {
    RetrieveRequest {
        collection: "kb".into(),
        ..RetrieveRequest::new(query)
    }
}

async fn seed(t: &Fixture) {
    let chunks = IndexRequest::new(
        "kb",
        vec![
            chunk(
                "notes",
                "1",
                "Ada Lovelace wrote the first program for the analytical engine",
            ),
            chunk(
                "notes",
                "2",
                "Charles Babbage designed the analytical engine",
            ),
            chunk("food", "1", "Simmer tomatoes with garlic and basil"),
        ],
    );
    assert_eq!(json(&t.send::<Index>(&chunks).await)["upserted"], 3);
    let graph = UpsertRequest::new(
        vec![
            named("ada", "Person", "Ada Lovelace"),
            named("babbage", "Person", "Charles Babbage"),
            named("engine", "Machine", "Analytical Engine"),
            Node::new("london", "City"),
        ],
        vec![
            Edge::new("ada", "WORKED_WITH", "babbage"),
            Edge::new("babbage", "DESIGNED", "engine"),
            Edge::new("engine", "BUILT_IN", "london"),
        ],
    );
    assert_eq!(json(&t.send::<GraphUpsert>(&graph).await)["edges"], 3);
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

    let body = RetrieveRequest {
        top_k: 10,
        max_hops: 1,
        ..in_kb("What did Ada Lovelace write for the analytical engine?")
    };
    let reply = json(&t.send::<Retrieve>(&body).await);
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
        let body = RetrieveRequest {
            max_hops: hops,
            ..in_kb("Who was Ada Lovelace?")
        };
        let reply = json(&t.send::<Retrieve>(&body).await);
        assert_eq!(
            sorted_ids(&reply["subgraph"]["nodes"]),
            want,
            "{hops} hops: {reply}"
        );
        assert_eq!(
            reply["subgraph"]["edges"].as_array().unwrap().len(),
            usize::from(hops),
            "{reply}"
        );
    }

    // Without the subgraph: vector hits only.
    let body = RetrieveRequest {
        include_subgraph: false,
        ..in_kb("Ada Lovelace")
    };
    let reply = json(&t.send::<Retrieve>(&body).await);
    assert!(reply["subgraph"].is_null(), "{reply}");
    assert!(sources(&reply).iter().all(|s| s == "vector"), "{reply}");

    // A failing stage is a warning, not an empty answer.
    let body = RetrieveRequest {
        collection: "missing".into(),
        ..RetrieveRequest::new("Charles Babbage")
    };
    let reply = json(&t.send::<Retrieve>(&body).await);
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["warnings"][0]["stage"], "vector");
    assert_eq!(reply["warnings"][0]["code"], 404);
    assert!(sources(&reply).iter().all(|s| s == "graph") && !sources(&reply).is_empty());
    // Every stage failing is an error.
    let body = RetrieveRequest {
        include_subgraph: false,
        ..body
    };
    let reply = t.send::<Retrieve>(&body).await;
    assert_eq!(error_code(&reply), Some(404));

    // Deeper than 3 hops is 3 hops; 0 is no neighbourhood (as the gateway
    // ragwire replaces took them).
    let ask = |hops: u8| RetrieveRequest {
        max_hops: hops,
        ..in_kb("Who was Ada Lovelace?")
    };
    let deep = json(&t.send::<Retrieve>(&ask(9)).await);
    let three = json(&t.send::<Retrieve>(&ask(3)).await);
    assert_eq!(deep["subgraph"], three["subgraph"], "{deep}");
    assert_eq!(sorted_ids(&deep["subgraph"]["nodes"]).len(), 4, "{deep}");
    let none = json(&t.send::<Retrieve>(&ask(0)).await);
    assert_eq!(none["ok"], true, "{none}");
    assert!(none["subgraph"].is_null(), "{none}");
    for (body, needle) in [
        (
            RetrieveRequest {
                top_k: 0,
                ..RetrieveRequest::new("q")
            },
            "top_k",
        ),
        (RetrieveRequest::new(" "), "query"),
    ] {
        let reply = t.send::<Retrieve>(&body).await;
        assert_error(&reply, 400, needle);
    }
    // JSON: -1 is no `max_hops` a typed request can hold.
    let reply = t
        .request(Subject::Retrieve, &json!({"query": "q", "max_hops": -1}))
        .await;
    assert_error(&reply, 400, "max_hops");
}

#[tokio::test]
async fn retrieve_reranks_when_a_reranker_is_configured() {
    let t = Fixture::started().await;
    seed(&t).await;
    let query = "Charles Babbage designed the analytical engine";
    let body = RetrieveRequest {
        top_k: 3,
        ..in_kb(query)
    };
    let reply = json(&t.send::<Retrieve>(&body).await);
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
    let chunks = IndexRequest::new(
        "kb",
        vec![chunk("notes", "1", "Ada Lovelace wrote the first program")],
    );
    assert_eq!(json(&t.send::<Index>(&chunks).await)["upserted"], 1);

    let reply = json(&t.send::<Retrieve>(&in_kb("Ada Lovelace")).await);
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
