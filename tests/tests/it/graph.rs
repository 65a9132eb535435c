//! graph.upsert and graph.query over NATS on embedded SQLite and on the
//! Bolt server (ArcadeDB in CI), and graph.probe on the fake LLM.

use ragwire_schemas::Subject;
use ragwire_tests::*;
use serde_json::json;
use std::time::Duration;

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
    let data = json!({"data": {
        "nodes": [{"id": "ada", "type": "Person", "props": {"name": "Ada Lovelace", "born": 1815}},
                  {"id": "babbage", "type": "Person"},
                  {"id": "x'); MATCH (n) DETACH DELETE n //", "type": "Note", "props": {"text": "} RETURN 1"}}],
        "edges": [{"src": "ada", "dst": "babbage", "type": "WORKED_WITH", "props": {"year": 1842}}]
    }});
    for _ in 0..2 {
        let reply = json(&t.request(Subject::GraphUpsert, &data).await);
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
        (
            json!({"data": {"nodes": [{"id": "a"}]}}),
            "missing field `type`",
        ),
    ];
    for (body, needle) in cases {
        let reply = t.request(Subject::GraphUpsert, &body).await;
        assert_error(&reply, 400, needle);
    }
    // An empty graph writes nothing and says so.
    let reply = json(&t.request(Subject::GraphUpsert, &json!({"data": {}})).await);
    assert_eq!(reply, json!({"ok": true, "nodes": 0, "edges": 0}));
}

#[tokio::test]
async fn graph_query_on_the_embedded_store_names_the_setting() {
    let t = Fixture::started().await;
    let reply = t
        .request(
            Subject::GraphQuery,
            &json!({"query": "MATCH (n) RETURN n LIMIT 1"}),
        )
        .await;
    assert_error(&reply, 501, "NEO4J_URI");
    let reply = t.request(Subject::GraphQuery, &json!({"query": " "})).await;
    assert_error(&reply, 400, "`query`");
}

#[tokio::test]
async fn graph_probe_reports_json_or_text_mode() {
    let t = Fixture::started().await;

    let reply = json(
        &t.request(
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
    let sent = t.fake.state.last_chat.lock().unwrap().clone().unwrap();
    assert_eq!(sent["response_format"]["type"], "json_object");
    assert_eq!(sent["model"], "fake-answer-model");

    let reply = json(&t.request(Subject::GraphProbe, &json!({
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
        let reply = t.request(Subject::GraphProbe, &body).await;
        assert_error(&reply, 400, needle);
    }

    // A slow model hits the probe's own timeout.
    t.fake.set(Behaviour {
        delay: std::time::Duration::from_secs(3),
        ..Default::default()
    });
    let reply = t
        .request(Subject::GraphProbe, &json!({"model": "m", "timeout": 0.3}))
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
    let data = json!({"data": {
        "nodes": [{"id": "ada", "type": "Person", "props": {"name": "Ada Lovelace", "born": 1815}},
                  {"id": "babbage", "type": "Person", "props": {"name": "Charles Babbage"}}],
        "edges": [{"src": "ada", "dst": "babbage", "type": "WORKED_WITH", "props": {"year": 1842}}]
    }});
    assert_eq!(
        json(&t.request(Subject::GraphUpsert, &data).await)["edges"],
        1
    );

    let query = format!(
        "MATCH (a:{label} {{id: $id}})-[r]->(b:{label}) RETURN a.name AS name, a.born AS born, type(r) AS rel, r.year AS year, b.id AS other"
    );
    let reply = json(
        &t.request(
            Subject::GraphQuery,
            &json!({"query": query, "params": {"id": "ada"}}),
        )
        .await,
    );
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(
        reply["records"],
        json!([{"name": "Ada Lovelace", "born": 1815, "rel": "WORKED_WITH", "year": 1842, "other": "babbage"}])
    );
    // A parameter is a value, never Cypher text.
    let reply = json(
        &t.request(
            Subject::GraphQuery,
            &json!({
                "query": query, "params": {"id": "ada'}) DETACH DELETE a //"}
            }),
        )
        .await,
    );
    assert_eq!(reply["records"], json!([]), "{reply}");
    // Whole nodes come back as labels and properties.
    let reply = json(
        &t.request(
            Subject::GraphQuery,
            &json!({
                "query": format!("MATCH (n:{label} {{id: 'babbage'}}) RETURN n"),
            }),
        )
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
        let reply = t
            .request(Subject::GraphQuery, &json!({"query": query}))
            .await;
        assert_error(&reply, 400, word);
    }
    let counts = json(&t.request(Subject::GraphQuery, &json!({
        "query": format!("MATCH (n:{label}) RETURN count(n) AS nodes, sum(CASE WHEN n.owned IS NULL THEN 0 ELSE 1 END) AS owned")
    })).await);
    assert_eq!(
        counts["records"],
        json!([{"nodes": 2, "owned": 0}]),
        "nothing was written"
    );

    // A Cypher mistake is the caller's; a bad parameter too.
    let reply = t
        .request(
            Subject::GraphQuery,
            &json!({"query": "MATCH (n WHERE RETURN n"}),
        )
        .await;
    assert_eq!(error_code(&reply), Some(400), "{}", json(&reply));
    let reply = t
        .request(
            Subject::GraphQuery,
            &json!({"query": "RETURN $x AS x", "params": {"x": u64::MAX}}),
        )
        .await;
    assert_error(&reply, 400, "params.x");
    // More records than RAGWIRE_GRAPH_MAX_ROWS: 413, not a truncated answer.
    let reply = t
        .request(
            Subject::GraphQuery,
            &json!({"query": "UNWIND range(1, 5) AS x RETURN x"}),
        )
        .await;
    assert_error(&reply, 413, "number of records");
    let reply = json(
        &t.request(
            Subject::GraphQuery,
            &json!({"query": "UNWIND range(1, 3) AS x RETURN x"}),
        )
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
    for (subject, body) in [
        (
            Subject::GraphUpsert,
            json!({"data": {"nodes": [{"id": "a", "type": "T"}]}}),
        ),
        (Subject::GraphQuery, json!({"query": "MATCH (n) RETURN n"})),
    ] {
        let started = std::time::Instant::now();
        let reply = t.request(subject, &body).await;
        assert_error(&reply, 504, "graph store");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
    server.abort();
}
