//! graph.upsert and graph.query over NATS on embedded SQLite and on the
//! Bolt server (ArcadeDB in CI), and graph.probe on the fake LLM.

use ragwire_schemas::chat::ChatMessage;
use ragwire_schemas::endpoint::{GraphProbe, GraphQuery, GraphUpsert};
use ragwire_schemas::graph::{Edge, Node, ProbeRequest, QueryRequest, UpsertRequest};
use ragwire_schemas::{JsonMap, Subject};
use ragwire_tests::*;
use serde_json::{json, Value};
use std::time::Duration;

/// A JSON object as properties or parameters.
fn object(value: Value) -> JsonMap {
    value.as_object().expect("a JSON object").clone()
}

/// `node` with `props`.
fn with_props(mut node: Node, props: Value) -> Node {
    node.props = object(props);
    node
}

/// Ada worked with Babbage in 1842.
fn ada_and_babbage(babbage: Node) -> UpsertRequest {
    UpsertRequest::new(
        vec![
            with_props(
                Node::new("ada", "Person"),
                json!({"name": "Ada Lovelace", "born": 1815}),
            ),
            babbage,
        ],
        vec![Edge {
            props: object(json!({"year": 1842})),
            ..Edge::new("ada", "WORKED_WITH", "babbage")
        }],
    )
}

/// A read-only `query` with `params`.
fn with_params(query: &str, params: Value) -> QueryRequest {
    QueryRequest {
        params: Some(object(params)),
        ..QueryRequest::new(query)
    }
}

#[tokio::test]
async fn graph_upsert_merges_and_refuses_unsafe_types_embedded() {
    upsert_cases(Fixture::new().await).await;
}

#[tokio::test]
async fn graph_upsert_merges_and_refuses_unsafe_types_bolt() {
    let mut t = Fixture::new().await;
    t.use_bolt();
    upsert_cases(t).await;
}

async fn upsert_cases(mut t: Fixture) {
    t.start().await;
    let mut data = ada_and_babbage(Node::new("babbage", "Person"));
    data.data.nodes.push(with_props(
        Node::new("x'); MATCH (n) DETACH DELETE n //", "Note"),
        json!({"text": "} RETURN 1"}),
    ));
    for _ in 0..2 {
        let reply = json(&t.send::<GraphUpsert>(&data).await);
        assert_eq!(reply, json!({"ok": true, "nodes": 3, "edges": 1}));
    }
    let cases = [
        (
            UpsertRequest::new(vec![Node::new("a", "Person`) DETACH DELETE n //")], vec![]),
            "data.nodes[0].type",
        ),
        (
            UpsertRequest::new(
                vec![Node::new("a", "P")],
                vec![Edge::new("a", "REL TYPE", "a")],
            ),
            "data.edges[0].type",
        ),
        (
            UpsertRequest::new(vec![Node::new(" ", "P")], vec![]),
            "data.nodes[0].id",
        ),
        (
            UpsertRequest::new(
                vec![with_props(Node::new("a", "P"), json!({"list": [1, 2]}))],
                vec![],
            ),
            "data.nodes[0].props.list",
        ),
        (
            UpsertRequest::new(vec![], vec![Edge::new("ada", "KNOWS", "nobody")]),
            "nobody",
        ),
    ];
    for (body, needle) in cases {
        let reply = t.send::<GraphUpsert>(&body).await;
        assert_error(&reply, 400, needle);
    }
    // JSON: a node without its type cannot be built.
    let reply = t
        .request(
            Subject::GraphUpsert,
            &json!({"data": {"nodes": [{"id": "a"}]}}),
        )
        .await;
    assert_error(&reply, 400, "missing field `type`");
    // An empty graph writes nothing and says so.
    let empty = UpsertRequest::new(vec![], vec![]);
    let reply = json(&t.send::<GraphUpsert>(&empty).await);
    assert_eq!(reply, json!({"ok": true, "nodes": 0, "edges": 0}));
}

#[tokio::test]
async fn graph_query_on_the_embedded_store_names_the_setting() {
    let t = Fixture::started().await;
    let reply = t
        .send::<GraphQuery>(&QueryRequest::new("MATCH (n) RETURN n LIMIT 1"))
        .await;
    assert_error(&reply, 501, "NEO4J_URI");
    let reply = t.send::<GraphQuery>(&QueryRequest::new(" ")).await;
    assert_error(&reply, 400, "`query`");
}

#[tokio::test]
async fn graph_probe_reports_json_or_text_mode() {
    let t = Fixture::started().await;

    let reply = json(
        &t.send::<GraphProbe>(&ProbeRequest {
            strict_json: true,
            ..ProbeRequest::new("rag-answer")
        })
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
    let sent = t.fake.state.last_chat.lock().unwrap().clone().unwrap();
    assert_eq!(sent["response_format"]["type"], "json_object");
    assert_eq!(sent["model"], "fake-answer-model");

    let reply = json(
        &t.send::<GraphProbe>(&ProbeRequest {
            strict_json: false,
            messages: Some(vec![ChatMessage::new("user", "say hi")]),
            ..ProbeRequest::new("rag-answer")
        })
        .await,
    );
    assert_eq!(reply["mode"], "text", "{reply}");
    assert_eq!(reply["text"], "echo: say hi");
    assert!(reply.get("error").is_none());

    for (body, needle) in [
        (
            ProbeRequest {
                timeout: Some(-1.0),
                ..ProbeRequest::new("m")
            },
            "timeout",
        ),
        (
            ProbeRequest {
                temperature: Some(9.0),
                ..ProbeRequest::new("m")
            },
            "temperature",
        ),
        (ProbeRequest::new(""), "model"),
    ] {
        let reply = t.send::<GraphProbe>(&body).await;
        assert_error(&reply, 400, needle);
    }

    // A slow model hits the probe's own timeout.
    t.fake.set(Behaviour {
        delay: std::time::Duration::from_secs(3),
        ..Default::default()
    });
    let reply = t
        .send::<GraphProbe>(&ProbeRequest {
            timeout: Some(0.3),
            ..ProbeRequest::new("m")
        })
        .await;
    assert_eq!(error_code(&reply), Some(504), "{}", json(&reply));
}

#[tokio::test]
async fn graph_query_runs_read_only_cypher_with_parameters_on_bolt() {
    let mut t = Fixture::new().await;
    t.use_bolt();
    t.config.graph.max_rows = 3;
    let label = t.config.graph.label.clone();
    t.start().await;
    let data = ada_and_babbage(with_props(
        Node::new("babbage", "Person"),
        json!({"name": "Charles Babbage"}),
    ));
    assert_eq!(json(&t.send::<GraphUpsert>(&data).await)["edges"], 1);

    let query = format!(
        "MATCH (a:{label} {{id: $id}})-[r]->(b:{label}) RETURN a.name AS name, a.born AS born, type(r) AS rel, r.year AS year, b.id AS other"
    );
    let reply = json(
        &t.send::<GraphQuery>(&with_params(&query, json!({"id": "ada"})))
            .await,
    );
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(
        reply["records"],
        json!([{"name": "Ada Lovelace", "born": 1815, "rel": "WORKED_WITH", "year": 1842, "other": "babbage"}])
    );
    // A parameter is a value, never Cypher text.
    let reply = json(
        &t.send::<GraphQuery>(&with_params(
            &query,
            json!({"id": "ada'}) DETACH DELETE a //"}),
        ))
        .await,
    );
    assert_eq!(reply["records"], json!([]), "{reply}");
    // Whole nodes come back as labels and properties.
    let reply = json(
        &t.send::<GraphQuery>(&QueryRequest::new(format!(
            "MATCH (n:{label} {{id: 'babbage'}}) RETURN n"
        )))
        .await,
    );
    let node = &reply["records"][0]["n"];
    assert_eq!(node["props"]["name"], "Charles Babbage", "{reply}");
    assert!(
        node["labels"]
            .as_array()
            .unwrap()
            .contains(&json!("Person")),
        "{reply}"
    );

    // Every write clause is refused before anything is sent.
    for (query, word) in [
        (format!("CREATE (n:{label} {{id: 'evil'}})"), "CREATE"),
        (
            format!("MERGE (n:{label} {{id: 'evil'}}) RETURN n"),
            "MERGE",
        ),
        (format!("MATCH (n:{label}) SET n.owned = true"), "SET"),
        (format!("MATCH (n:{label}) DETACH DELETE n"), "DETACH"),
        (format!("MATCH (n:{label}) DELETE n"), "DELETE"),
        (format!("MATCH (n:{label}) REMOVE n.name"), "REMOVE"),
        ("DROP INDEX anything".into(), "DROP"),
        (
            "LOAD CSV FROM 'file:///etc/passwd' AS row RETURN row".into(),
            "LOAD",
        ),
        (
            "CALL apoc.create.node(['X'], {}) YIELD node RETURN node".into(),
            "apoc.create.node",
        ),
        (
            format!(
                "MATCH (n:{label}) RETURN n UNION CALL {{ CREATE (m) RETURN m AS n }} RETURN n"
            ),
            "CREATE",
        ),
    ] {
        let reply = t.send::<GraphQuery>(&QueryRequest::new(query)).await;
        assert_error(&reply, 400, word);
    }
    let counts = json(&t.send::<GraphQuery>(&QueryRequest::new(format!(
        "MATCH (n:{label}) RETURN count(n) AS nodes, sum(CASE WHEN n.owned IS NULL THEN 0 ELSE 1 END) AS owned"
    ))).await);
    assert_eq!(
        counts["records"],
        json!([{"nodes": 2, "owned": 0}]),
        "nothing was written"
    );

    // A Cypher mistake is the caller's; a bad parameter too.
    let reply = t
        .send::<GraphQuery>(&QueryRequest::new("MATCH (n WHERE RETURN n"))
        .await;
    assert_eq!(error_code(&reply), Some(400), "{}", json(&reply));
    let reply = t
        .send::<GraphQuery>(&with_params("RETURN $x AS x", json!({"x": u64::MAX})))
        .await;
    assert_error(&reply, 400, "params.x");
    // More records than RAGWIRE_GRAPH_MAX_ROWS: 413, not a truncated answer.
    let reply = t
        .send::<GraphQuery>(&QueryRequest::new("UNWIND range(1, 5) AS x RETURN x"))
        .await;
    assert_error(&reply, 413, "number of records");
    let reply = json(
        &t.send::<GraphQuery>(&QueryRequest::new("UNWIND range(1, 3) AS x RETURN x"))
            .await,
    );
    assert_eq!(
        reply["records"],
        json!([{"x": 1}, {"x": 2}, {"x": 3}]),
        "{reply}"
    );
}

/// A Bolt "server" that accepts connections and never answers.
async fn silent_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("bolt://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (uri, task)
}

#[tokio::test]
async fn a_hanging_bolt_server_gives_504_within_the_timeout() {
    let mut t = Fixture::new().await;
    let (uri, server) = silent_server().await;
    t.config.graph.neo4j_uri = Some(uri);
    t.config.graph.timeout = Duration::from_millis(500);
    t.start().await;
    let within_the_timeout = |reply: async_nats::Message, started: std::time::Instant| {
        assert_error(&reply, 504, "graph store");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    };
    let started = std::time::Instant::now();
    let upsert = UpsertRequest::new(vec![Node::new("a", "T")], vec![]);
    within_the_timeout(t.send::<GraphUpsert>(&upsert).await, started);
    let started = std::time::Instant::now();
    let query = QueryRequest::new("MATCH (n) RETURN n");
    within_the_timeout(t.send::<GraphQuery>(&query).await, started);
    server.abort();
}
