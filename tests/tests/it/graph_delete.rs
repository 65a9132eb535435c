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

#[tokio::test]
async fn an_ingest_jobs_graph_follows_its_document_embedded() {
    job_cases(Fixture::new().await).await;
}

#[tokio::test]
async fn an_ingest_jobs_graph_follows_its_document_bolt() {
    let mut t = Fixture::new().await;
    t.use_bolt();
    job_cases(t).await;
}

/// Submits one document as an ingest job with `extract_graph`; its job id.
async fn submit_extracting(t: &Fixture, collection: &str, doc: &str, text: &str) -> String {
    let reply = json(
        &t.request(
            Subject::JobsSubmit,
            &json!({"collection": collection, "extract_graph": true,
                    "documents": [{"doc_id": doc, "text": text}]}),
        )
        .await,
    );
    reply["jobs"][0]["job_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{reply}"))
        .to_owned()
}

/// The job's status once `done` or `failed`.
async fn settled(t: &Fixture, job_id: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let s = json(
            &t.request(Subject::JobsStatus, &json!({"job_id": job_id}))
                .await,
        );
        if s["state"] == "done" || s["state"] == "failed" {
            return s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "job still running: {s}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A document deleted while its ingest job is extracting the graph keeps
/// no graph (the job's late write is refused); ingested again, its graph is
/// written and deleted with its chunks; `graph: false` leaves the graph.
async fn job_cases(mut t: Fixture) {
    t.enable_jobs();
    t.config.extract.chain = vec!["ex-echo".into()];
    t.config.jobs.max_deliver = 1;
    t.start().await;
    let kb = t.collection("kb");
    let text = "Ada met Babbage in London";
    let slow = std::time::Duration::from_millis(1500);
    t.fake.script(
        "ex-echo",
        vec![
            Scripted::answer(ECHO_GRAPH).after(slow),
            Scripted::answer(ECHO_GRAPH),
        ],
    );
    let first = submit_extracting(&t, &kb, "minutes", text).await;
    // The chunks are written before the graph is extracted.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while t.worker().state().vectors.count(&kb).await.unwrap_or(0) == 0 {
        assert!(std::time::Instant::now() < deadline, "no chunk written");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let deleted = json(
        &t.request(
            Subject::DocsDelete,
            &json!({"collection": kb, "doc_id": "minutes"}),
        )
        .await,
    );
    assert_eq!(deleted["deleted"], 1, "{deleted}");
    assert_eq!(
        deleted["graph"],
        json!({"nodes": 0, "edges": 0}),
        "{deleted}"
    );
    let s = settled(&t, &first).await;
    assert_eq!(
        (s["state"].as_str(), s["superseded"].as_bool()),
        (Some("done"), Some(true)),
        "{s}"
    );
    assert_eq!(
        counts(&t).await,
        (0, 0),
        "the deleted document's graph came back"
    );

    // Submitted again: chunks and graph, both deleted together.
    let second = submit_extracting(&t, &kb, "minutes", text).await;
    let s = settled(&t, &second).await;
    assert_eq!(s["state"], "done", "{s}");
    assert_eq!(s["graph"], json!([3, 2]), "{s}");
    assert_eq!(counts(&t).await, (3, 2));
    // Kept on request, then deleted with the document.
    let kept = json(
        &t.request(
            Subject::DocsDelete,
            &json!({"collection": kb, "doc_id": "minutes", "graph": "false"}),
        )
        .await,
    );
    assert_eq!(
        (kept["deleted"].as_u64(), kept.get("graph")),
        (Some(1), None),
        "{kept}"
    );
    assert_eq!(counts(&t).await, (3, 2));
    let third = submit_extracting(&t, &kb, "minutes", text).await;
    assert_eq!(settled(&t, &third).await["state"], "done");
    let deleted = json(
        &t.request(
            Subject::DocsDelete,
            &json!({"collection": kb, "doc_id": "minutes"}),
        )
        .await,
    );
    assert_eq!(
        deleted["graph"],
        json!({"nodes": 3, "edges": 2}),
        "{deleted}"
    );
    assert_eq!(counts(&t).await, (0, 0));
    let bad = t
        .request(
            Subject::DocsDelete,
            &json!({"collection": kb, "doc_id": "minutes", "graph": "maybe"}),
        )
        .await;
    assert_error(&bad, 400, "graph");
}
