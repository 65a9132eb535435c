//! One contract for both graph stores, run on embedded SQLite and on the
//! Bolt server (ArcadeDB in CI): MERGE idempotence, neighbourhoods at 1, 2
//! and 3 hops with a node limit, property merging, edges to missing nodes,
//! seeds, and data that looks like SQL or Cypher staying data; and the
//! sources of elements: a document's contribution deleted or replaced
//! alone, what another source also produced kept; and versions: a
//! replacement older than the document's newest version or delete refused.

use ragwire_schemas::graph::GraphData;
use ragwire_schemas::retrieve::Subgraph;
use ragwire_tests::*;
use ragwire_worker::testing::Provenance::{self, Document, Unattributed};
use ragwire_worker::testing::{BoltGraph, GraphStore, SqliteGraph};
use ragwire_worker::{Config, Error};
use serde_json::json;

fn graph(v: serde_json::Value) -> GraphData {
    serde_json::from_value(v).unwrap()
}

fn ids(s: &Subgraph) -> Vec<String> {
    s.nodes.iter().map(|n| n.id.clone()).collect()
}

async fn contract(g: &dyn GraphStore) {
    // a - b - c - d - e, plus x unconnected
    let chain = graph(json!({
        "nodes": [
            {"id": "a", "type": "Person", "props": {"name": "Ada"}},
            {"id": "b", "type": "Org"}, {"id": "c", "type": "Org"},
            {"id": "d", "type": "City"}, {"id": "e", "type": "Country"}, {"id": "x", "type": "Thing"}
        ],
        "edges": [
            {"src": "a", "dst": "b", "type": "WORKS_AT", "props": {"since": 2020}},
            {"src": "c", "dst": "b", "type": "OWNS"},
            {"src": "c", "dst": "d", "type": "LOCATED_IN"},
            {"src": "d", "dst": "e", "type": "IN"}
        ]
    }));
    assert_eq!(g.upsert(chain.clone(), Unattributed).await.unwrap(), (6, 4));
    assert_eq!(g.upsert(chain, Unattributed).await.unwrap(), (6, 4));
    assert_eq!(g.counts().await.unwrap(), (6, 4), "MERGE keeps one of each");

    let one = g.neighbourhood(vec!["a".into()], 1, 100).await.unwrap();
    assert_eq!(ids(&one), ["a", "b"]);
    assert_eq!(one.edges.len(), 1);
    assert_eq!(
        (
            one.edges[0].src.as_str(),
            one.edges[0].edge_type.as_str(),
            one.edges[0].dst.as_str()
        ),
        ("a", "WORKS_AT", "b")
    );
    assert_eq!(one.edges[0].props["since"], 2020);
    assert_eq!(one.nodes[0].node_type, "Person");
    assert_eq!(
        one.nodes[0].props,
        *json!({"name": "Ada"}).as_object().unwrap()
    );
    let two = g.neighbourhood(vec!["a".into()], 2, 100).await.unwrap();
    assert_eq!(ids(&two), ["a", "b", "c"]);
    let three = g.neighbourhood(vec!["a".into()], 3, 100).await.unwrap();
    assert_eq!(ids(&three), ["a", "b", "c", "d"]);
    assert_eq!(three.edges.len(), 3);
    let limited = g.neighbourhood(vec!["a".into()], 3, 2).await.unwrap();
    assert_eq!(ids(&limited), ["a", "b"], "nearest first, node limit");
    let none = g.neighbourhood(vec!["nobody".into()], 2, 10).await.unwrap();
    assert!(none.nodes.is_empty() && none.edges.is_empty());

    // Props merge key by key; the type follows the latest write.
    let update =
        graph(json!({"nodes": [{"id": "a", "type": "Scientist", "props": {"born": 1815}}]}));
    g.upsert(update, Unattributed).await.unwrap();
    let a = g
        .neighbourhood(vec!["a".into()], 1, 1)
        .await
        .unwrap()
        .nodes
        .remove(0);
    assert_eq!(
        (a.node_type.as_str(), &a.props["name"], &a.props["born"]),
        ("Scientist", &json!("Ada"), &json!(1815))
    );
    assert_eq!(g.counts().await.unwrap(), (6, 4));

    // An edge to a node that does not exist: a 400 and nothing written.
    let bad = graph(
        json!({"nodes": [{"id": "y", "type": "T"}], "edges": [{"src": "y", "dst": "nowhere", "type": "R"}]}),
    );
    let err = g.upsert(bad, Unattributed).await.unwrap_err();
    assert_eq!(err.to_body().code, 400);
    assert!(err.to_string().contains("nowhere"), "{err}");
    assert_eq!(g.counts().await.unwrap(), (6, 4));
    // An edge may join nodes stored earlier.
    let later =
        graph(json!({"edges": [{"src": "x", "dst": "e", "type": "NEAR", "props": {"km": 1.5}}]}));
    assert_eq!(g.upsert(later, Unattributed).await.unwrap(), (0, 1));
    assert_eq!(g.counts().await.unwrap(), (6, 5));

    // Seeds: ids and names mentioned in a text, case-insensitive.
    let seeds = g.find_seeds("What did ADA do at b?", 10, "").await.unwrap();
    assert_eq!(
        seeds,
        ["a"],
        "found by its name; ids under 3 characters never match"
    );
    let babbage = graph(
        json!({"nodes": [{"id": "babbage", "type": "Person", "props": {"name": "Charles Babbage"}}]}),
    );
    g.upsert(babbage, Unattributed).await.unwrap();
    assert_eq!(
        g.find_seeds("Who was charles babbage?", 10, "")
            .await
            .unwrap(),
        ["babbage"]
    );

    // Ids and props that look like SQL or Cypher stay data.
    let tricky_ids = [
        "'); DROP TABLE nodes; --",
        "x'}) MATCH (n) DETACH DELETE n //",
        "a\"}) SET n.owned = true RETURN n //",
    ];
    let tricky = graph(json!({
        "nodes": tricky_ids.iter().map(|id| json!({"id": id, "type": "Note", "props": {"q": "\" OR 1=1 } DETACH DELETE n"}})).collect::<Vec<_>>(),
        "edges": [{"src": tricky_ids[0], "dst": tricky_ids[1], "type": "LINKS", "props": {"cypher": "MATCH (n) DELETE n"}}]
    }));
    g.upsert(tricky, Unattributed).await.unwrap();
    assert_eq!(g.counts().await.unwrap(), (10, 6));
    let found = g
        .neighbourhood(vec![tricky_ids[0].into()], 1, 10)
        .await
        .unwrap();
    assert_eq!(found.nodes.len(), 2, "{found:?}");
    assert_eq!(found.nodes[0].props["q"], "\" OR 1=1 } DETACH DELETE n");
    assert_eq!(found.edges[0].props["cypher"], "MATCH (n) DELETE n");
}

fn doc(id: &str) -> Provenance {
    Document(id.into())
}

fn replace(doc: &str, generation: u64) -> Provenance {
    Provenance::Replace {
        doc: doc.into(),
        generation,
    }
}

async fn provenance_contract(g: &dyn GraphStore) {
    // Document a: p -REL-> q; document b: q -REL2-> r; no document: u -LINK-> p.
    let a = graph(json!({
        "nodes": [{"id": "p", "type": "T"}, {"id": "q", "type": "T"}],
        "edges": [{"src": "p", "dst": "q", "type": "REL"}]
    }));
    let b = graph(json!({
        "nodes": [{"id": "q", "type": "T"}, {"id": "r", "type": "T"}],
        "edges": [{"src": "q", "dst": "r", "type": "REL2"}]
    }));
    let unattributed = graph(json!({
        "nodes": [{"id": "u", "type": "T"}],
        "edges": [{"src": "u", "dst": "p", "type": "LINK"}]
    }));
    g.upsert(a.clone(), doc("a")).await.unwrap();
    g.upsert(b, doc("b")).await.unwrap();
    g.upsert(unattributed, Unattributed).await.unwrap();
    assert_eq!(g.counts().await.unwrap(), (4, 3));

    // a's own edge goes; p stays (the unattributed edge needs it), q stays
    // (b produced it too).
    assert_eq!(g.delete_document("a", 1).await.unwrap(), (0, 1));
    assert_eq!(g.counts().await.unwrap(), (4, 2));
    assert_eq!(
        g.delete_document("a", 1).await.unwrap(),
        (0, 0),
        "idempotent"
    );
    // b's nodes and edge go; unattributed elements are never touched.
    assert_eq!(g.delete_document("b", 2).await.unwrap(), (2, 1));
    assert_eq!(g.counts().await.unwrap(), (2, 1));
    let left = g.neighbourhood(vec!["u".into()], 1, 10).await.unwrap();
    assert_eq!(ids(&left), ["u", "p"]);
    assert!(
        left.nodes.iter().all(|n| n.props.is_empty()),
        "sources are not properties: {left:?}"
    );
    assert_eq!(g.delete_document("nobody", 3).await.unwrap(), (0, 0));

    // A replaced contribution: what the new version no longer has goes,
    // what another document also produced stays.
    let v1 = graph(json!({
        "nodes": [{"id": "c1", "type": "T"}, {"id": "c2", "type": "T"}, {"id": "c3", "type": "T"}],
        "edges": [{"src": "c1", "dst": "c2", "type": "R"}, {"src": "c2", "dst": "c3", "type": "R"}]
    }));
    g.upsert(v1, replace("c", 10)).await.unwrap();
    g.upsert(
        graph(json!({"nodes": [{"id": "c3", "type": "T"}]})),
        doc("d"),
    )
    .await
    .unwrap();
    assert_eq!(g.counts().await.unwrap(), (5, 3));
    let v2 = graph(json!({
        "nodes": [{"id": "c1", "type": "T"}, {"id": "c4", "type": "T"}],
        "edges": [{"src": "c1", "dst": "c4", "type": "R"}]
    }));
    g.upsert(v2, replace("c", 20)).await.unwrap();
    // c2 and both old edges are gone; c3 stays (d's); c4 and c1 -R-> c4 came.
    let now = g
        .neighbourhood(vec!["c1".into(), "c3".into()], 1, 10)
        .await
        .unwrap();
    assert_eq!(ids(&now), ["c1", "c3", "c4"]);
    assert_eq!(now.edges.len(), 1);
    assert_eq!(
        (now.edges[0].src.as_str(), now.edges[0].dst.as_str()),
        ("c1", "c4")
    );
    assert_eq!(g.counts().await.unwrap(), (5, 2));
    // The same version again changes nothing.
    g.upsert(
        graph(json!({
            "nodes": [{"id": "c1", "type": "T"}, {"id": "c4", "type": "T"}],
            "edges": [{"src": "c1", "dst": "c4", "type": "R"}]
        })),
        replace("c", 20),
    )
    .await
    .unwrap();
    assert_eq!(g.counts().await.unwrap(), (5, 2));
    // An older version arriving late (a job retried after a newer one
    // finished) is refused whole: a 409, nothing written.
    let stale = graph(json!({"nodes": [{"id": "old", "type": "T"}]}));
    let refused = g.upsert(stale.clone(), replace("c", 15)).await.unwrap_err();
    assert!(matches!(refused, Error::Conflict(_)), "{refused}");
    assert_eq!(g.counts().await.unwrap(), (5, 2));
    // A delete older than the newest version finds nothing of its own.
    assert_eq!(g.delete_document("c", 19).await.unwrap(), (0, 0));
    assert_eq!(g.counts().await.unwrap(), (5, 2));
    assert_eq!(g.delete_document("c", 30).await.unwrap(), (2, 1));
    // After the delete, a version from before it writes nothing either.
    let refused = g.upsert(stale.clone(), replace("c", 25)).await.unwrap_err();
    assert!(matches!(refused, Error::Conflict(_)), "{refused}");
    assert_eq!(g.delete_document("d", 31).await.unwrap(), (1, 0));
    assert_eq!(g.counts().await.unwrap(), (2, 1));
    // A version after the delete is written.
    assert_eq!(g.upsert(stale, replace("c", 40)).await.unwrap(), (1, 0));
    assert_eq!(g.delete_document("c", 41).await.unwrap(), (1, 0));

    assert_eq!(g.clear("").await.unwrap(), (2, 1));
    assert_eq!(g.counts().await.unwrap(), (0, 0));
}

#[tokio::test]
async fn embedded_graph_store_contract() {
    let dir = test_data_dir(&unique_prefix());
    let store = SqliteGraph::open(&dir.join("graph.sqlite")).unwrap();
    contract(&store).await;
}

#[tokio::test]
async fn embedded_graph_store_sources() {
    let dir = test_data_dir(&unique_prefix());
    let store = SqliteGraph::open(&dir.join("graph.sqlite")).unwrap();
    provenance_contract(&store).await;
}

#[tokio::test]
async fn bolt_graph_store_sources() {
    let mut config = Config::default();
    config.common.prefix = unique_prefix();
    let config = with_bolt(config);
    let store = BoltGraph::connect(&config.graph).unwrap();
    provenance_contract(&store).await;
}

#[tokio::test]
async fn bolt_graph_store_contract() {
    let mut config = Config::default();
    config.common.prefix = unique_prefix();
    let config = with_bolt(config);
    let store = BoltGraph::connect(&config.graph).unwrap();
    contract(&store).await;
}
