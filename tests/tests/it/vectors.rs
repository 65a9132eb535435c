//! The vector store contract, run on both stores: Qdrant's embedded
//! engine and a Qdrant server (the one `scripts/qdrant` starts): index and
//! search, filters, idempotent re-indexing, refused requests, points that
//! outlive a worker, the dimension rule, concurrent writers. Then what only
//! the embedded store has (one process per data directory) and the local
//! embedding model.

use ragwire_schemas::Subject;
use ragwire_tests::*;
use serde_json::{json, Value};

/// A fixture on `store`, not started.
async fn fixture(store: Store) -> Fixture {
    let mut t = Fixture::new().await;
    t.use_store(store);
    t
}

on_both_stores!(
    index_then_search_with_filters_and_idempotent_reindex,
    bad_index_and_search_requests_are_refused,
    points_survive_a_restart_and_dimension_is_enforced,
    concurrent_indexing_into_one_collection_loses_nothing,
    two_embedders_of_different_dimensions_cannot_share_a_collection,
);

fn chunks() -> Value {
    json!([
        {"doc_id": "nats-doc", "chunk_id": "1", "text": "NATS queue groups spread requests over workers",
         "metadata": {"lang": "en", "year": 2021, "source": "docs"}},
        {"doc_id": "nats-doc", "chunk_id": "2", "text": "JetStream keeps durable streams of messages",
         "metadata": {"lang": "en", "year": 2023, "source": "docs"}},
        {"doc_id": "qdrant-doc", "text": "Qdrant searches vectors with payload filters",
         "metadata": {"lang": "de", "year": 2024, "source": "blog"}},
        {"doc_id": "cooking", "chunk_id": "a", "text": "Simmer the tomatoes with garlic and basil",
         "metadata": {"lang": "it", "year": 2019, "source": "blog"}}
    ])
}

async fn search(t: &Fixture, body: Value) -> Value {
    json(&t.request(Subject::Search, &body).await)
}

fn doc_ids(reply: &Value) -> Vec<String> {
    reply["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("no hits: {reply}"))
        .iter()
        .map(|h| h["payload"]["doc_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn index_then_search_with_filters_and_idempotent_reindex(store: Store) {
    let mut t = fixture(store).await;
    t.start().await;
    let kb = t.collection("kb");

    let reply = json(
        &t.request(
            Subject::Index,
            &json!({"chunks": chunks(), "collection": kb}),
        )
        .await,
    );
    assert_eq!(
        reply,
        json!({"ok": true, "upserted": 4, "dim": 8, "collection": kb})
    );

    let found = search(
        &t,
        json!({"query": "queue groups spread requests", "collection": kb, "top_k": 2}),
    )
    .await;
    let hits = found["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 2);
    let top = &hits[0];
    assert_eq!(top["payload"]["doc_id"], "nats-doc");
    assert_eq!(top["payload"]["chunk_id"], "1");
    assert_eq!(
        top["payload"]["text"],
        "NATS queue groups spread requests over workers"
    );
    assert_eq!(top["payload"]["metadata"]["year"], 2021);
    assert_eq!(top["payload"]["hash"].as_str().unwrap().len(), 64);
    assert_eq!(top["id"].as_str().unwrap().len(), 36, "a UUID");
    assert!(top["score"].as_f64().unwrap() > hits[1]["score"].as_f64().unwrap());

    // Filters: equality on doc_id, any-of and numeric range on metadata.
    let all = |filters: Value| json!({"query": "anything at all", "collection": kb, "top_k": 10, "filters": filters});
    let mut ids = doc_ids(&search(&t, all(json!({"doc_id": "nats-doc"}))).await);
    ids.dedup();
    assert_eq!(ids, ["nats-doc"]);
    assert_eq!(
        doc_ids(&search(&t, all(json!({"doc_id": "nats-doc"}))).await).len(),
        2
    );
    let mut ids = doc_ids(&search(&t, all(json!({"lang": ["de", "it"]}))).await);
    ids.sort();
    assert_eq!(ids, ["cooking", "qdrant-doc"]);
    let mut ids = doc_ids(&search(&t, all(json!({"year": {"gte": 2021, "lte": 2023}}))).await);
    ids.sort();
    assert_eq!(ids, ["nats-doc", "nats-doc"]);
    let ids = doc_ids(
        &search(
            &t,
            all(json!({"metadata.source": "blog", "year": {"gt": 2020}})),
        )
        .await,
    );
    assert_eq!(ids, ["qdrant-doc"]);
    assert!(doc_ids(&search(&t, all(json!({"doc_id": "nope"}))).await).is_empty());

    // Indexing the same chunks again leaves one point each.
    let reply = json(
        &t.request(
            Subject::Index,
            &json!({"chunks": chunks(), "collection": kb}),
        )
        .await,
    );
    assert_eq!(reply["upserted"], 4);
    assert_eq!(doc_ids(&search(&t, all(json!({}))).await).len(), 4);
}

async fn bad_index_and_search_requests_are_refused(store: Store) {
    let mut t = fixture(store).await;
    t.config.limits.max_texts = 3;
    t.start().await;
    let never = t.collection("never-indexed");
    let chunk = json!({"doc_id": "d", "text": "t"});
    let cases = [
        (
            Subject::Index,
            json!({"chunks": []}),
            400,
            "`chunks` must not be empty",
        ),
        (
            Subject::Index,
            json!({"chunks": [chunk, chunk, chunk, chunk]}),
            413,
            "limit of 3",
        ),
        (
            Subject::Index,
            json!({"chunks": [{"doc_id": "", "text": "t"}]}),
            400,
            "chunks[0].doc_id",
        ),
        (
            Subject::Index,
            json!({"chunks": [{"doc_id": "d", "text": " "}]}),
            400,
            "chunks[0].text",
        ),
        (
            Subject::Index,
            json!({"chunks": [{"doc_id": "d", "text": "t", "metadata": [1]}]}),
            400,
            "metadata",
        ),
        (
            Subject::Index,
            json!({"chunks": [chunk], "collection": "../x"}),
            400,
            "collection",
        ),
        (
            Subject::Search,
            json!({"query": "q", "collection": never}),
            404,
            "does not exist",
        ),
        (
            Subject::Search,
            json!({"query": "q", "top_k": 0}),
            400,
            "top_k",
        ),
        (
            Subject::Search,
            json!({"query": "", "collection": "kb"}),
            400,
            "`query`",
        ),
        (
            Subject::Search,
            json!({"query": "q", "filters": {"year": {"near": 1}}}),
            400,
            "filters.year",
        ),
        (
            Subject::Search,
            json!({"query": "q", "filters": "lang=en"}),
            400,
            "filters",
        ),
    ];
    for (subject, body, code, needle) in cases {
        let reply = t.request(subject, &body).await;
        assert_error(&reply, code, needle);
    }
}

async fn points_survive_a_restart_and_dimension_is_enforced(store: Store) {
    let mut t = fixture(store).await;
    t.start().await;
    // The embedded store's own data directory holds the default
    // collection; tests sharing a server each name one of their own.
    let (collection, default) = match store {
        Store::Embedded => ("chunks".to_owned(), true),
        Store::Qdrant => (t.collection("chunks"), false),
    };
    let with = |mut body: Value| {
        if !default {
            body["collection"] = json!(collection);
        }
        body
    };
    let reply = json(
        &t.request(Subject::Index, &with(json!({"chunks": chunks()})))
            .await,
    );
    assert_eq!(
        reply["collection"],
        collection.as_str(),
        "default collection"
    );
    t.stop().await;

    // A new worker: the points are there.
    t.start().await;
    let found = search(
        &t,
        with(json!({"query": "tomatoes garlic basil", "top_k": 10})),
    )
    .await;
    assert_eq!(found["hits"].as_array().unwrap().len(), 4, "{found}");
    assert_eq!(found["hits"][0]["payload"]["doc_id"], "cooking");
    t.stop().await;

    // A 16-dimension embedder cannot write into the 8-dimension collection.
    let fake16 = FakeOpenAi::start_with(Behaviour::default(), 16).await;
    t.config.embed.base_url = Some(fake16.base_url.clone());
    t.start().await;
    for (subject, body) in [
        (
            Subject::Index,
            with(json!({"chunks": [{"doc_id": "d", "text": "t"}]})),
        ),
        (Subject::Search, with(json!({"query": "q"}))),
    ] {
        let reply = t.request(subject, &body).await;
        assert_eq!(error_code(&reply), Some(400), "{subject}: {}", json(&reply));
        assert!(json(&reply)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("dimension 8"));
    }
}

/// Two workers on one store whose embedders differ in dimension: the
/// second one's writes are refused, not mixed in (the Qdrant server is
/// shared by design; the embedded stores are two, so this runs two prefixes
/// there, one per store).
async fn two_embedders_of_different_dimensions_cannot_share_a_collection(store: Store) {
    let mut t = fixture(store).await;
    t.start().await;
    let collection = t.collection("dims");
    let reply = json(
        &t.request(
            Subject::Index,
            &json!({"chunks": chunks(), "collection": collection}),
        )
        .await,
    );
    assert_eq!(reply["dim"], 8, "{reply}");
    if store == Store::Embedded {
        return;
    }
    let fake16 = FakeOpenAi::start_with(Behaviour::default(), 16).await;
    let mut config16 = t.config.clone();
    config16.embed.base_url = Some(fake16.base_url.clone());
    config16.common.prefix = unique_prefix();
    let worker16 = start_worker(&config16).await;
    let reply = request(
        t.rag.nats(),
        &config16.common.prefix,
        Subject::Index,
        &json!({"chunks": [{"doc_id": "x", "text": "y"}], "collection": collection}),
    )
    .await;
    assert_error(&reply, 400, "dimension 8");
    worker16.shutdown().await;
}

async fn concurrent_indexing_into_one_collection_loses_nothing(store: Store) {
    let mut t = fixture(store).await;
    // Optimise (index and merge segments) while the writes go on.
    t.config.vectors.optimize_every = 30;
    t.start().await;
    let shared = t.collection("shared");
    let nats = t.rag.nats();
    let replies = futures::future::join_all((0..20).map(|r| {
        let nats = nats.clone();
        let prefix = t.config.common.prefix.clone();
        let shared = shared.clone();
        async move {
            let chunks: Vec<Value> = (0..10)
                .map(|c| json!({"doc_id": format!("doc-{r}"), "chunk_id": c.to_string(), "text": format!("request {r} chunk {c}")}))
                .collect();
            json(&request(&nats, &prefix, Subject::Index, &json!({"chunks": chunks, "collection": shared})).await)
        }
    }))
    .await;
    assert!(replies.iter().all(|r| r["upserted"] == 10), "{replies:?}");
    let found = search(
        &t,
        json!({"query": "request chunk", "collection": shared, "top_k": 1000}),
    )
    .await;
    let mut ids: Vec<&str> = found["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200);
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// A worker embedding with the local model (no embedding service at all).
async fn local_fixture() -> Fixture {
    let mut t = Fixture::new().await;
    t.config.embed.base_url = None;
    t.config.embed.model_dir = Some(model_dir());
    t.start().await;
    t
}

#[tokio::test]
async fn local_model_matches_sentence_transformers_and_ranks_by_meaning() {
    let t = local_fixture().await;

    let reference: Value =
        serde_json::from_str(include_str!("../../data/minilm_reference.json")).unwrap();
    let items = reference["items"].as_array().unwrap();
    let texts: Vec<&str> = items.iter().map(|i| i["text"].as_str().unwrap()).collect();
    let reply = json(&t.request(Subject::Embed, &json!({"texts": texts})).await);
    assert_eq!(reply["dim"], 384, "{reply}");
    assert_eq!(t.fake.embed_calls(), 0, "no embedding service used");
    for (item, got) in items.iter().zip(reply["vectors"].as_array().unwrap()) {
        let want: Vec<f32> = serde_json::from_value(item["embedding"].clone()).unwrap();
        let got: Vec<f32> = serde_json::from_value(got.clone()).unwrap();
        let c = cosine(&want, &got);
        assert!(c > 0.99, "{}: cosine {c}", item["text"]);
    }

    let texts = [
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "The stock market fell sharply today.",
    ];
    let v = json(&t.request(Subject::Embed, &json!({"texts": texts})).await);
    let v: Vec<Vec<f32>> = serde_json::from_value(v["vectors"].clone()).unwrap();
    let close = cosine(&v[0], &v[1]);
    let far = cosine(&v[0], &v[2]);
    assert!(close > far + 0.3, "close {close}, far {far}");

    // Index and search with nothing but NATS and the model.
    let reply = json(
        &t.request(Subject::Index, &json!({"chunks": chunks()}))
            .await,
    );
    assert_eq!(reply["dim"], 384);
    let found = search(
        &t,
        json!({"query": "how do I cook a pasta sauce?", "top_k": 1}),
    )
    .await;
    assert_eq!(doc_ids(&found), ["cooking"]);
    let found = search(
        &t,
        json!({"query": "message broker load balancing across consumers", "top_k": 1}),
    )
    .await;
    assert_eq!(doc_ids(&found), ["nats-doc"]);
}

#[tokio::test]
async fn a_data_directory_serves_one_worker_at_a_time() {
    let mut t = Fixture::started().await;
    let err = match ragwire_worker::start(t.config.clone()).await {
        Ok(_) => panic!("two workers opened one embedded store"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("in use by another worker"), "{err}");
    t.stop().await;
    // Released on shutdown.
    start_worker(&t.config).await.shutdown().await;
}

#[tokio::test]
async fn missing_model_file_is_a_clear_start_up_error() {
    let mut t = Fixture::new().await;
    t.config.embed.base_url = None;
    let empty = test_data_dir(t.prefix()).join("no-model");
    std::fs::create_dir_all(&empty).unwrap();
    t.config.embed.model_dir = Some(empty);
    let err = match ragwire_worker::start(t.config.clone()).await {
        Ok(_) => panic!("started without a model"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("RAGWIRE_EMBED_MODEL_DIR") && err.contains("config.json"),
        "{err}"
    );
}
