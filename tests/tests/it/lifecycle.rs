//! Data that changes and goes away, on both vector stores: collections
//! listed, shown and dropped; a document's chunks deleted, and chunks by
//! filter; refused deletes that delete nothing; re-indexing with `replace`;
//! and the races of versions: a delete or a newer version wins over an
//! older write whenever it runs, an interrupted replacement is finished by
//! the next delivery, ingest jobs queued, retried or replayed after a
//! delete write nothing. Then the HTTP routes, the gateway's
//! `POST /delete/vector` and the command line.

use std::time::{Duration, Instant};

use ragwire_client::endpoint::{JobsReplay, JobsStatus};
use ragwire_schemas::index::Chunk;
use ragwire_schemas::jobs::JobRef;
use ragwire_schemas::Subject;
use ragwire_tests::*;
use ragwire_worker::testing::documents::{self, Replaced};
use ragwire_worker::testing::new_generation;
use serde_json::{json, Value};

on_both_stores!(
    collections_are_listed_shown_and_dropped,
    documents_and_filtered_chunks_are_deleted,
    refused_deletes_leave_the_data_untouched,
    reindexing_with_replace_leaves_only_the_new_version,
    an_interrupted_replacement_is_finished_by_the_next_delivery,
    a_delete_wins_over_an_older_version_whenever_it_is_written,
    the_later_version_wins_in_either_order,
    ingest_jobs_replace_and_respect_deletes,
    http_routes_and_the_gateway_delete,
);

async fn fixture(store: Store, jobs: bool) -> Fixture {
    let mut t = Fixture::new().await;
    t.use_store(store);
    if jobs {
        t.enable_jobs();
    }
    t.start().await;
    t
}

/// `n` chunks of `doc`, their texts tagged with `version`.
fn version(doc: &str, version: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"doc_id": doc, "chunk_id": i.to_string(),
                   "text": format!("{doc} version {version} part {i}"),
                   "metadata": {"version": version, "part": i}})
        })
        .collect()
}

fn chunks(values: Vec<Value>) -> Vec<Chunk> {
    values
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect()
}

async fn index(t: &Fixture, collection: &str, chunks: Vec<Value>, replace: bool) -> Value {
    let reply = json(
        &t.request(
            Subject::Index,
            &json!({"collection": collection, "chunks": chunks, "replace": replace}),
        )
        .await,
    );
    assert_eq!(reply["ok"], true, "{reply}");
    reply
}

/// The texts of `doc`'s chunks in `collection`, sorted.
async fn texts(t: &Fixture, collection: &str, doc: &str) -> Vec<String> {
    let reply = json(
        &t.request(
            Subject::Search,
            &json!({"query": "version part", "collection": collection, "top_k": 100,
                    "filters": {"doc_id": doc}}),
        )
        .await,
    );
    let mut texts: Vec<String> = reply["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("{reply}"))
        .iter()
        .map(|h| h["payload"]["text"].as_str().unwrap().to_owned())
        .collect();
    texts.sort();
    texts
}

/// The texts `version` of `doc` has, sorted.
fn expected(doc: &str, v: &str, n: usize) -> Vec<String> {
    let mut texts: Vec<String> = version(doc, v, n)
        .iter()
        .map(|c| c["text"].as_str().unwrap().to_owned())
        .collect();
    texts.sort();
    texts
}

async fn count(t: &Fixture, collection: &str) -> usize {
    t.worker().state().vectors.count(collection).await.unwrap()
}

async fn collections_are_listed_shown_and_dropped(store: Store) {
    let t = fixture(store, false).await;
    let (a, b) = (t.collection("a"), t.collection("b"));
    index(&t, &a, version("d1", "1", 3), false).await;
    index(&t, &b, version("d2", "1", 2), false).await;

    let list = json(&t.request(Subject::CollectionsList, &json!({})).await);
    let listed = list["collections"].as_array().unwrap();
    let ours: Vec<&Value> = listed
        .iter()
        .filter(|c| c["name"] == a.as_str() || c["name"] == b.as_str())
        .collect();
    assert_eq!(
        ours,
        [
            &json!({"name": a, "points": 3, "dim": 8, "keywords": true}),
            &json!({"name": b, "points": 2, "dim": 8, "keywords": true})
        ],
        "{list}"
    );
    let show = json(
        &t.request(Subject::CollectionsShow, &json!({"collection": a}))
            .await,
    );
    assert_eq!(
        show,
        json!({"ok": true, "name": a, "points": 3, "dim": 8, "keywords": true})
    );

    let dropped = json(
        &t.request(Subject::CollectionsDrop, &json!({"collection": a}))
            .await,
    );
    assert_eq!(dropped, json!({"ok": true, "collection": a, "deleted": 3}));
    for subject in [Subject::CollectionsShow, Subject::CollectionsDrop] {
        let again = t.request(subject, &json!({"collection": a})).await;
        assert_error(&again, 404, "does not exist");
    }
    let list = json(&t.request(Subject::CollectionsList, &json!({})).await);
    let names: Vec<&str> = list["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        !names.contains(&a.as_str()) && names.contains(&b.as_str()),
        "{list}"
    );
    // A dropped collection can be made again.
    index(&t, &a, version("d1", "2", 1), false).await;
    assert_eq!(count(&t, &a).await, 1);
    assert_eq!(count(&t, &b).await, 2);
}

async fn documents_and_filtered_chunks_are_deleted(store: Store) {
    let t = fixture(store, false).await;
    let kb = t.collection("kb");
    index(&t, &kb, version("keep", "1", 4), false).await;
    index(&t, &kb, version("gone", "1", 5), false).await;
    index(&t, &kb, version("docs/intro.md", "1", 2), false).await;

    let reply = json(
        &t.request(
            Subject::DocsDelete,
            &json!({"collection": kb, "doc_id": "gone"}),
        )
        .await,
    );
    assert_eq!(
        reply,
        json!({"ok": true, "collection": kb, "deleted": 5, "doc_id": "gone",
               "graph": {"nodes": 0, "edges": 0}})
    );
    assert!(texts(&t, &kb, "gone").await.is_empty());
    assert_eq!(texts(&t, &kb, "keep").await, expected("keep", "1", 4));
    // Deleting what is not there: zero, not an error.
    let again = json(
        &t.request(
            Subject::DocsDelete,
            &json!({"collection": kb, "doc_id": "gone"}),
        )
        .await,
    );
    assert_eq!(again["deleted"], 0, "{again}");
    // A relative path is a plain document id.
    let path = json(
        &t.request(
            Subject::DocsDelete,
            &json!({"collection": kb, "doc_id": "docs/intro.md"}),
        )
        .await,
    );
    assert_eq!(path["deleted"], 2, "{path}");
    // A collection that is not there: 404, on every delete.
    let missing = t.collection("missing");
    for (subject, body) in [
        (
            Subject::DocsDelete,
            json!({"collection": missing, "doc_id": "d"}),
        ),
        (
            Subject::PointsDelete,
            json!({"collection": missing, "filters": {"lang": "en"}}),
        ),
        (Subject::CollectionsDrop, json!({"collection": missing})),
    ] {
        assert_error(&t.request(subject, &body).await, 404, "does not exist");
    }

    // By filter: metadata range, then any-of on the chunk's own field.
    let reply = json(
        &t.request(
            Subject::PointsDelete,
            &json!({"collection": kb, "filters": {"part": {"gte": 2}}}),
        )
        .await,
    );
    assert_eq!(reply, json!({"ok": true, "collection": kb, "deleted": 2}));
    assert_eq!(texts(&t, &kb, "keep").await, expected("keep", "1", 2));
    let reply = json(
        &t.request(
            Subject::PointsDelete,
            &json!({"collection": kb, "filters": {"chunk_id": ["0", "1"], "version": "1"}}),
        )
        .await,
    );
    assert_eq!(reply["deleted"], 2, "{reply}");
    assert_eq!(count(&t, &kb).await, 0);
}

async fn refused_deletes_leave_the_data_untouched(store: Store) {
    let t = fixture(store, false).await;
    let kb = t.collection("kb");
    index(&t, &kb, version("d", "1", 3), false).await;
    let long = "x".repeat(1025);
    let refused = [
        (
            Subject::DocsDelete,
            json!({"collection": kb, "doc_id": ""}),
            "`doc_id`",
        ),
        (
            Subject::DocsDelete,
            json!({"collection": kb, "doc_id": "../d"}),
            "`doc_id`",
        ),
        (
            Subject::DocsDelete,
            json!({"collection": kb, "doc_id": "/d"}),
            "`doc_id`",
        ),
        (
            Subject::DocsDelete,
            json!({"collection": kb, "doc_id": "a\u{7}b"}),
            "`doc_id`",
        ),
        (
            Subject::DocsDelete,
            json!({"collection": kb, "doc_id": "a%2Fb"}),
            "`doc_id`",
        ),
        (
            Subject::DocsDelete,
            json!({"collection": kb, "doc_id": long}),
            "`doc_id`",
        ),
        (
            Subject::DocsDelete,
            json!({"collection": "..", "doc_id": "d"}),
            "`collection`",
        ),
        (Subject::DocsDelete, json!({"collection": kb}), "doc_id"),
        (
            Subject::CollectionsDrop,
            json!({"collection": ""}),
            "`collection`",
        ),
        (
            Subject::CollectionsDrop,
            json!({"collection": "a/b"}),
            "`collection`",
        ),
        (
            Subject::CollectionsDrop,
            json!({"collection": "kb%2F.."}),
            "`collection`",
        ),
        (
            Subject::CollectionsDrop,
            json!({"collection": "x".repeat(65)}),
            "`collection`",
        ),
        (
            Subject::CollectionsShow,
            json!({"collection": "a\nb"}),
            "`collection`",
        ),
        (
            Subject::PointsDelete,
            json!({"collection": kb, "filters": {}}),
            "`filters`",
        ),
        (
            Subject::PointsDelete,
            json!({"collection": kb, "filters": {"part": {"near": 1}}}),
            "filters.part",
        ),
        (
            Subject::PointsDelete,
            json!({"collection": kb, "filters": {"lang": null}}),
            "filters.lang",
        ),
        (
            Subject::PointsDelete,
            json!({"collection": kb, "filters": {"lang": [1, "x"]}}),
            "filters.lang",
        ),
        (Subject::PointsDelete, json!({"collection": kb}), "filters"),
    ];
    for (subject, body, needle) in refused {
        let reply = t.request(subject, &body).await;
        assert_error(&reply, 400, needle);
        assert_eq!(
            count(&t, &kb).await,
            3,
            "{subject} {body} deleted something"
        );
    }
    let replace_bad = t
        .request(
            Subject::Index,
            &json!({"collection": kb, "replace": true,
                    "chunks": [{"doc_id": "../d", "text": "t"}]}),
        )
        .await;
    assert_error(&replace_bad, 400, "chunks[0].doc_id");
    assert_eq!(texts(&t, &kb, "d").await, expected("d", "1", 3));
}

async fn reindexing_with_replace_leaves_only_the_new_version(store: Store) {
    let t = fixture(store, false).await;
    let kb = t.collection("kb");
    // Ten chunks, then three: without `replace` the old tail stays.
    index(&t, &kb, version("wiki", "1", 10), false).await;
    index(&t, &kb, version("other", "1", 2), false).await;
    let reply = index(&t, &kb, version("wiki", "2", 3), false).await;
    assert!(reply.get("deleted").is_none(), "{reply}");
    assert_eq!(texts(&t, &kb, "wiki").await.len(), 10);
    // With `replace`, exactly the new chunks.
    let reply = index(&t, &kb, version("wiki", "3", 3), true).await;
    assert_eq!(
        (reply["upserted"].as_u64(), reply["deleted"].as_u64()),
        (Some(3), Some(10)),
        "{reply}"
    );
    assert_eq!(texts(&t, &kb, "wiki").await, expected("wiki", "3", 3));
    assert_eq!(texts(&t, &kb, "other").await, expected("other", "1", 2));
    // The same version again changes nothing; a longer one replaces too.
    index(&t, &kb, version("wiki", "3", 3), true).await;
    assert_eq!(texts(&t, &kb, "wiki").await, expected("wiki", "3", 3));
    let mut two_docs = version("wiki", "4", 5);
    two_docs.extend(version("other", "2", 1));
    let reply = index(&t, &kb, two_docs, true).await;
    assert_eq!(reply["deleted"], 5, "3 of wiki and 2 of other: {reply}");
    assert_eq!(texts(&t, &kb, "wiki").await, expected("wiki", "4", 5));
    assert_eq!(texts(&t, &kb, "other").await, expected("other", "2", 1));
    assert_eq!(count(&t, &kb).await, 6);
    // Payloads carry their generation.
    let hit = json(
        &t.request(
            Subject::Search,
            &json!({"query": "wiki", "collection": kb, "top_k": 1}),
        )
        .await,
    );
    assert!(hit["hits"][0]["payload"]["generation"].as_u64().unwrap() > 1_600_000_000_000_000);
}

async fn an_interrupted_replacement_is_finished_by_the_next_delivery(store: Store) {
    let t = fixture(store, true).await;
    let state = t.worker().state();
    let kb = t.collection("kb");
    index(&t, &kb, version("d", "1", 6), false).await;
    let g = new_generation();
    // The first delivery claims and writes, and dies before removing.
    assert_eq!(documents::claim(state, &kb, "d", g).await.unwrap(), None);
    documents::write(state, &kb, chunks(version("d", "2", 2)), g)
        .await
        .unwrap();
    assert_eq!(count(&t, &kb).await, 8, "both versions, for now");
    // The next delivery, same generation, finishes.
    let outcome = documents::replace(state, &kb, "d", chunks(version("d", "2", 2)), g)
        .await
        .unwrap();
    assert_eq!(outcome, Replaced::Done { deleted: 6 });
    assert_eq!(texts(&t, &kb, "d").await, expected("d", "2", 2));
}

async fn a_delete_wins_over_an_older_version_whenever_it_is_written(store: Store) {
    let t = fixture(store, true).await;
    let state = t.worker().state();
    let kb = t.collection("kb");
    index(&t, &kb, version("d", "1", 4), false).await;

    // A version submitted before the delete, written after it: nothing.
    let before = new_generation();
    let deleted = json(
        &t.request(
            Subject::DocsDelete,
            &json!({"collection": kb, "doc_id": "d"}),
        )
        .await,
    );
    assert_eq!(deleted["deleted"], 4, "{deleted}");
    let outcome = documents::replace(state, &kb, "d", chunks(version("d", "2", 3)), before)
        .await
        .unwrap();
    assert!(
        matches!(outcome, Replaced::Superseded { .. }),
        "{outcome:?}"
    );
    assert_eq!(count(&t, &kb).await, 0);

    // Claimed before the delete, written after it: removed by its writer.
    let older = new_generation();
    assert_eq!(
        documents::claim(state, &kb, "d", older).await.unwrap(),
        None
    );
    let deleted = json(
        &t.request(
            Subject::DocsDelete,
            &json!({"collection": kb, "doc_id": "d"}),
        )
        .await,
    );
    assert_eq!(deleted["deleted"], 0, "{deleted}");
    documents::write(state, &kb, chunks(version("d", "3", 3)), older)
        .await
        .unwrap();
    documents::finish(state, &kb, "d", older).await.unwrap();
    assert_eq!(count(&t, &kb).await, 0, "the delete wins");

    // A version submitted after the delete is written.
    let after = new_generation();
    let outcome = documents::replace(state, &kb, "d", chunks(version("d", "4", 2)), after)
        .await
        .unwrap();
    assert_eq!(outcome, Replaced::Done { deleted: 0 });
    assert_eq!(texts(&t, &kb, "d").await, expected("d", "4", 2));

    // A collection dropped: older versions write nothing to it.
    let stale = new_generation();
    let dropped = json(
        &t.request(Subject::CollectionsDrop, &json!({"collection": kb}))
            .await,
    );
    assert_eq!(dropped["deleted"], 2, "{dropped}");
    let outcome = documents::replace(state, &kb, "d", chunks(version("d", "5", 2)), stale)
        .await
        .unwrap();
    assert!(
        matches!(outcome, Replaced::Superseded { .. }),
        "{outcome:?}"
    );
    assert_eq!(count(&t, &kb).await, 0);
}

async fn the_later_version_wins_in_either_order(store: Store) {
    let t = fixture(store, true).await;
    let state = t.worker().state();
    let kb = t.collection("kb");
    // Interleaved: both claim, the later finishes first, the earlier
    // writes last.
    let (g1, g2) = (new_generation(), new_generation());
    assert_eq!(documents::claim(state, &kb, "d", g1).await.unwrap(), None);
    assert_eq!(documents::claim(state, &kb, "d", g2).await.unwrap(), None);
    documents::write(state, &kb, chunks(version("d", "2", 2)), g2)
        .await
        .unwrap();
    documents::finish(state, &kb, "d", g2).await.unwrap();
    documents::write(state, &kb, chunks(version("d", "1", 5)), g1)
        .await
        .unwrap();
    documents::finish(state, &kb, "d", g1).await.unwrap();
    assert_eq!(texts(&t, &kb, "d").await, expected("d", "2", 2));

    // In order, the earlier one retried last: superseded, nothing written.
    let (g3, g4) = (new_generation(), new_generation());
    let outcome = documents::replace(state, &kb, "e", chunks(version("e", "4", 1)), g4)
        .await
        .unwrap();
    assert_eq!(outcome, Replaced::Done { deleted: 0 });
    let outcome = documents::replace(state, &kb, "e", chunks(version("e", "3", 3)), g3)
        .await
        .unwrap();
    assert_eq!(outcome, Replaced::Superseded { by: g4 });
    assert_eq!(texts(&t, &kb, "e").await, expected("e", "4", 1));
    assert_eq!(count(&t, &kb).await, 3);
}

async fn status(t: &Fixture, id: &str) -> Value {
    json(&t.send::<JobsStatus>(&JobRef { job_id: id.into() }).await)
}

/// Waits until the job is `done` or `failed`.
async fn settle(t: &Fixture, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = status(t, id).await;
        if s["state"] == "done" || s["state"] == "failed" {
            return s;
        }
        assert!(Instant::now() < deadline, "job still running: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn submit(t: &Fixture, collection: &str, doc: &str, text: &str) -> (String, bool) {
    let reply = json(
        &t.request(
            Subject::JobsSubmit,
            &json!({"collection": collection, "chunking": {"size": 50, "overlap": 0},
                    "documents": [{"doc_id": doc, "text": text}]}),
        )
        .await,
    );
    let job = &reply["jobs"][0];
    (
        job["job_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{reply}"))
            .to_owned(),
        job["duplicate"].as_bool().unwrap(),
    )
}

/// A text of about `n` chunks of 50 characters.
fn long_text(tag: &str, n: usize) -> String {
    (0..n)
        .map(|i| format!("{tag} sentence number {i:03} of the text here."))
        .collect::<Vec<_>>()
        .join(" ")
}

async fn ingest_jobs_replace_and_respect_deletes(store: Store) {
    let mut t = Fixture::new().await;
    t.use_store(store);
    t.enable_jobs();
    t.config.retry.max_retries = 0;
    t.config.jobs.max_deliver = 1;
    t.start().await;
    let kb = t.collection("kb");

    // Re-ingest shorter: no old chunk left.
    let (v1, _) = submit(&t, &kb, "doc", &long_text("first", 10)).await;
    assert_eq!(settle(&t, &v1).await["state"], "done");
    let first = count(&t, &kb).await;
    assert!(first >= 8, "{first} chunks");
    let (v2, _) = submit(&t, &kb, "doc", &long_text("second", 2)).await;
    let s = settle(&t, &v2).await;
    assert_eq!(s["state"], "done", "{s}");
    let now = count(&t, &kb).await;
    assert!(
        now <= 3 && now == s["chunks_total"].as_u64().unwrap() as usize,
        "{now}: {s}"
    );
    // The first version submitted again is the latest submission: it wins,
    // though its job was done (and not a duplicate any more).
    let (again, duplicate) = submit(&t, &kb, "doc", &long_text("first", 10)).await;
    assert_eq!(again, v1);
    assert!(!duplicate);
    assert_eq!(settle(&t, &again).await["state"], "done");
    assert_eq!(count(&t, &kb).await, first);

    // A job that failed for good, its document deleted meanwhile: replayed,
    // it writes nothing.
    t.fake.set(Behaviour {
        fail_times: usize::MAX,
        fail_status: 503,
        ..Default::default()
    });
    let (doomed, _) = submit(&t, &kb, "doomed", &long_text("doomed", 3)).await;
    assert_eq!(settle(&t, &doomed).await["state"], "failed");
    t.fake.set(Behaviour::default());
    let deleted = json(
        &t.request(
            Subject::DocsDelete,
            &json!({"collection": kb, "doc_id": "doomed"}),
        )
        .await,
    );
    assert_eq!(deleted["deleted"], 0, "{deleted}");
    let replayed = json(
        &t.send::<JobsReplay>(&JobRef {
            job_id: doomed.clone(),
        })
        .await,
    );
    assert_eq!(replayed["ok"], true, "{replayed}");
    let s = settle(&t, &doomed).await;
    assert_eq!(
        (s["state"].as_str(), s["superseded"].as_bool()),
        (Some("done"), Some(true)),
        "{s}"
    );
    assert!(texts(&t, &kb, "doomed").await.is_empty());
    // Submitted again after the delete: written.
    let (back, duplicate) = submit(&t, &kb, "doomed", &long_text("doomed", 3)).await;
    assert!(!duplicate);
    let s = settle(&t, &back).await;
    assert_eq!(
        (s["state"].as_str(), s.get("superseded")),
        (Some("done"), None),
        "{s}"
    );
    assert!(!texts(&t, &kb, "doomed").await.is_empty());

    // Queued while no worker consumes, the document deleted, then run:
    // nothing written. And two versions queued: the later wins.
    t.stop().await;
    t.config.jobs.consume = false;
    t.start().await;
    let (queued, _) = submit(&t, &kb, "queued", &long_text("queued", 4)).await;
    let (old, _) = submit(&t, &kb, "twice", &long_text("older", 6)).await;
    let (new, _) = submit(&t, &kb, "twice", &long_text("newer", 2)).await;
    assert_eq!(status(&t, &queued).await["state"], "queued");
    let deleted = json(
        &t.request(
            Subject::DocsDelete,
            &json!({"collection": kb, "doc_id": "queued"}),
        )
        .await,
    );
    assert_eq!(deleted["deleted"], 0, "{deleted}");
    t.stop().await;
    t.config.jobs.consume = true;
    t.start().await;
    let s = settle(&t, &queued).await;
    assert_eq!(
        (s["state"].as_str(), s["superseded"].as_bool()),
        (Some("done"), Some(true)),
        "{s}"
    );
    assert!(texts(&t, &kb, "queued").await.is_empty());
    settle(&t, &old).await;
    let s = settle(&t, &new).await;
    let twice = texts(&t, &kb, "twice").await;
    assert_eq!(
        twice.len(),
        s["chunks_total"].as_u64().unwrap() as usize,
        "{twice:?}"
    );
    assert!(
        !twice.is_empty() && twice.iter().all(|t| !t.contains("older")),
        "{twice:?}"
    );
}

async fn http_routes_and_the_gateway_delete(store: Store) {
    let mut t = fixture(store, false).await;
    let http = http_client();
    let p = t.producer().await;
    let kb = t.collection("kb");
    index(&t, &kb, version("a", "1", 3), false).await;
    index(&t, &kb, version("b", "1", 2), false).await;
    index(&t, &kb, version("c", "1", 2), false).await;

    let list: Value = http
        .get(p.url("/collections"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        list["collections"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == kb.as_str()),
        "{list}"
    );
    let show = http
        .get(p.url(&format!("/collections/{kb}")))
        .send()
        .await
        .unwrap();
    assert_eq!(show.status(), 200);
    assert_eq!(show.json::<Value>().await.unwrap()["points"], 7);
    // The names of the subjects' own routes are collections too.
    let named_list = http.get(p.url("/collections/list")).send().await.unwrap();
    assert_eq!(named_list.status(), 404);
    assert!(named_list.text().await.unwrap().contains("`list`"));

    // Refused before anything is deleted: percent-encoded climbs and names.
    for path in [
        format!("/collections/{kb}/documents/..%2Fa"),
        format!("/collections/{kb}/documents/a%252Fb"),
        "/collections/..%2Fx/documents/a".to_owned(),
        "/collections/a%2Fb".to_owned(),
    ] {
        let reply = http.delete(p.url(&path)).send().await.unwrap();
        assert_eq!(reply.status(), 400, "{path}");
        assert_eq!(count(&t, &kb).await, 7, "{path}");
    }
    let reply = http
        .delete(p.url(&format!("/collections/{kb}/documents/a?graph=maybe")))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 400, "`graph` is not a boolean");
    assert_eq!(count(&t, &kb).await, 7);
    let reply = http
        .delete(p.url(&format!("/collections/{kb}/documents/a?graph=false")))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let reply = reply.json::<Value>().await.unwrap();
    assert_eq!(
        (reply["deleted"].as_u64(), reply.get("graph")),
        (Some(3), None),
        "{reply}"
    );

    let reply = http
        .post(p.url(&format!("/collections/{kb}/delete")))
        .json(&json!({"filters": {"doc_id": "b"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.json::<Value>().await.unwrap()["deleted"], 2);
    let reply = http
        .post(p.url(&format!("/collections/{kb}/delete")))
        .json(&json!({"filters": {"doc_id": "c"}, "collection": "other"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 400);
    assert_eq!(count(&t, &kb).await, 2);

    // The gateway's route: an empty doc_id is refused, a non-empty one works,
    // none drops the collection.
    let gateway = |body: Value| http.post(p.url("/delete/vector")).json(&body).send();
    let reply = gateway(json!({"collection": kb, "doc_id": ""}))
        .await
        .unwrap();
    assert_eq!(reply.status(), 400);
    let body: Value = reply.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("`doc_id`"),
        "{body}"
    );
    assert_eq!(count(&t, &kb).await, 2);
    let reply = gateway(json!({"collection": kb, "doc_id": "c"}))
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.json::<Value>().await.unwrap(),
        json!({"ok": true, "deleted": 2, "detail": null, "errors": null})
    );
    index(&t, &kb, version("d", "1", 4), false).await;
    let reply = gateway(json!({"collection": kb, "doc_id": null}))
        .await
        .unwrap();
    assert_eq!(
        reply.json::<Value>().await.unwrap(),
        json!({"ok": true, "deleted": 4, "detail": null, "errors": null})
    );
    let reply = gateway(json!({"collection": kb})).await.unwrap();
    assert_eq!(reply.status(), 404);

    let reply = http
        .delete(p.url(&format!("/collections/{kb}")))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 404);
}

/// Workers sharing a Qdrant server cache what collections they saw: one
/// dropped by another worker is a 404 to search and delete, and made again
/// by the next write.
#[tokio::test]
async fn a_collection_dropped_by_another_worker_is_missing_then_made_again() {
    use ragwire_worker::testing::{QdrantStore, VectorStore};
    let t = fixture(Store::Qdrant, false).await;
    let kb = t.collection("kb");
    index(&t, &kb, version("d", "1", 2), false).await;
    assert_eq!(texts(&t, &kb, "d").await.len(), 2);
    let other = QdrantStore::connect(&qdrant_url(), &t.config.vectors, &t.config.retry).unwrap();
    assert_eq!(other.drop_collection(&kb).await.unwrap(), Some(2));
    let search = t
        .request(
            Subject::Search,
            &json!({"query": "version", "collection": kb, "mode": "dense"}),
        )
        .await;
    assert_error(&search, 404, "does not exist");
    index(&t, &kb, version("d", "2", 1), false).await;
    assert_eq!(texts(&t, &kb, "d").await, expected("d", "2", 1));
    assert_eq!(other.drop_collection(&kb).await.unwrap(), Some(1));
    let delete = t
        .request(
            Subject::DocsDelete,
            &json!({"collection": kb, "doc_id": "d"}),
        )
        .await;
    assert_error(&delete, 404, "does not exist");
    index(&t, &kb, version("d", "3", 1), false).await;
    assert_eq!(texts(&t, &kb, "d").await, expected("d", "3", 1));
}
