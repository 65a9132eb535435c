//! A document's contribution to the graph, deleted and replaced over NATS
//! and HTTP, on embedded SQLite and on the Bolt server (ArcadeDB in CI):
//! `rag.graph.delete`, `graph.upsert` with `doc_id` and `replace`, the old
//! gateway's `POST /delete/graph`, and bad input that changes nothing.

use ragwire_schemas::endpoint::{GraphDelete, GraphUpsert};
use ragwire_schemas::graph::{DeleteRequest, GraphData, UpsertRequest};
use ragwire_schemas::Subject;
use ragwire_tests::*;
use serde_json::{json, Value};

fn data(v: Value) -> GraphData {
    serde_json::from_value(v).unwrap()
}

fn upsert(doc_id: Option<&str>, replace: bool, graph: Value) -> UpsertRequest {
    UpsertRequest {
        data: data(graph),
        doc_id: doc_id.map(Into::into),
        replace,
    }
}

fn delete(doc_id: &str) -> DeleteRequest {
    DeleteRequest {
        doc_id: Some(doc_id.into()),
        all: false,
    }
}

async fn counts(t: &Fixture) -> (usize, usize) {
    t.worker().state().graph.counts().await.unwrap()
}

#[tokio::test]
async fn a_documents_graph_is_deleted_and_replaced_alone_embedded() {
    cases(Fixture::new().await).await;
}

#[tokio::test]
async fn a_documents_graph_is_deleted_and_replaced_alone_bolt() {
    let mut t = Fixture::new().await;
    t.use_bolt();
    cases(t).await;
}

async fn cases(mut t: Fixture) {
    t.start().await;
    let ada = json!({
        "nodes": [{"id": "ada", "type": "Person"}, {"id": "engine", "type": "Machine"}],
        "edges": [{"src": "ada", "dst": "engine", "type": "PROGRAMMED"}]
    });
    let babbage = json!({
        "nodes": [{"id": "babbage", "type": "Person"}, {"id": "engine", "type": "Machine"}],
        "edges": [{"src": "babbage", "dst": "engine", "type": "DESIGNED"}]
    });
    let reply = json(
        &t.send::<GraphUpsert>(&upsert(Some("notes/ada.md"), false, ada))
            .await,
    );
    assert_eq!(reply, json!({"ok": true, "nodes": 2, "edges": 1}));
    t.send::<GraphUpsert>(&upsert(Some("babbage"), false, babbage))
        .await;
    t.send::<GraphUpsert>(&upsert(
        None,
        false,
        json!({"nodes": [{"id": "lovelace-day", "type": "Event"}]}),
    ))
    .await;
    assert_eq!(counts(&t).await, (4, 2));

    // Refused requests change nothing.
    let refused = [
        (
            json!({"doc_id": "", "all": false}),
            Subject::GraphDelete,
            "`doc_id` is empty",
        ),
        (json!({}), Subject::GraphDelete, "give `doc_id`"),
        (
            json!({"doc_id": "babbage", "all": true}),
            Subject::GraphDelete,
            "not both",
        ),
        (
            json!({"doc_id": "a\u{7}b"}),
            Subject::GraphDelete,
            "control character",
        ),
        (
            json!({"doc_id": "x".repeat(2000)}),
            Subject::GraphDelete,
            "the limit is 1024",
        ),
        (
            json!({"replace": true, "data": {"nodes": [{"id": "z", "type": "T"}]}}),
            Subject::GraphUpsert,
            "give its `doc_id`",
        ),
        (
            json!({"doc_id": "d", "data": {"nodes": [{"id": "z", "type": "T", "props": {"ragwire_sources": "x"}}]}}),
            Subject::GraphUpsert,
            "ragwire_sources",
        ),
    ];
    for (body, subject, needle) in refused {
        assert_error(&t.request(subject, &body).await, 400, needle);
    }
    assert_eq!(
        counts(&t).await,
        (4, 2),
        "a refused request changes nothing"
    );

    // Ada's document goes: her node and edge; the engine stays (Babbage's too).
    let reply = json(&t.send::<GraphDelete>(&delete("notes/ada.md")).await);
    assert_eq!(reply, json!({"ok": true, "nodes": 1, "edges": 1}));
    assert_eq!(counts(&t).await, (3, 1));
    let again = json(&t.send::<GraphDelete>(&delete("notes/ada.md")).await);
    assert_eq!(again, json!({"ok": true, "nodes": 0, "edges": 0}));

    // Babbage's document replaced by a shorter version.
    let v2 = json!({"nodes": [{"id": "babbage", "type": "Person"}]});
    t.send::<GraphUpsert>(&upsert(Some("babbage"), true, v2))
        .await;
    assert_eq!(counts(&t).await, (2, 0), "the engine and the edge went");

    // Over HTTP, the old gateway's route: a document, then everything.
    let http = http_client();
    let producer = t.producer().await;
    let post = |body: Value| http.post(producer.url("/delete/graph")).json(&body).send();
    let r = post(json!({"doc_id": ""})).await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(counts(&t).await, (2, 0), "an empty doc_id deletes nothing");
    let r = post(json!({"doc_id": "babbage", "tenant_id": "ignored"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"ok": true, "deleted": 1, "edges": 0, "detail": null, "errors": null})
    );
    let r = post(json!({"doc_id": null})).await.unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["deleted"], 1, "{body}");
    assert_eq!(counts(&t).await, (0, 0));
    let r = post(json!({})).await.unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["ok"].clone(), body["deleted"].clone()),
        (json!(true), json!(0))
    );
    let r = http
        .post(producer.url("/delete/graph"))
        .body("doc_id=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415, "a body not declared as JSON");
}

#[tokio::test]
async fn an_extracted_documents_graph_is_replaced_by_its_next_version() {
    let mut t = Fixture::new().await;
    t.config.extract.chain = vec!["ex-echo".into()];
    t.start().await;
    t.fake.script("ex-echo", vec![Scripted::answer(ECHO_GRAPH)]);
    let extract = |context: &str| json!({"context": context, "upsert": true, "doc_id": "minutes"});
    let v1 = json(
        &t.request(Subject::GraphExtract, &extract("Ada met Babbage in London"))
            .await,
    );
    assert_eq!(v1["upserted"], json!({"nodes": 3, "edges": 2}), "{v1}");
    let v2 = json(
        &t.request(Subject::GraphExtract, &extract("Ada met Babbage"))
            .await,
    );
    assert_eq!(v2["upserted"], json!({"nodes": 2, "edges": 1}), "{v2}");
    assert_eq!(counts(&t).await, (2, 1), "London and its edge went with v1");
    let bad = t
        .request(
            Subject::GraphExtract,
            &json!({"context": "Ada", "upsert": true, "doc_id": " "}),
        )
        .await;
    assert_error(&bad, 400, "`doc_id` is empty");
    let reply = json(&t.send::<GraphDelete>(&delete("minutes")).await);
    assert_eq!(reply, json!({"ok": true, "nodes": 2, "edges": 1}));
}
