//! Dense, keyword (BM25) and hybrid search on both stores, with the local
//! embedding model: what each mode finds, fusion and rerank options, bad
//! ranking values, and collections indexed before keyword vectors existed.

use ragwire_schemas::Subject;
use ragwire_tests::*;
use serde_json::{json, Value};

on_both_stores!(
    keyword_finds_rare_terms_and_dense_finds_paraphrases,
    scoring_fusion_and_rerank_options,
    bad_ranking_values_are_400s_naming_the_field,
    a_collection_indexed_before_keywords_still_answers_dense,
);

/// A started fixture on `store` embedding with the local model.
async fn local(store: Store) -> Fixture {
    let mut t = Fixture::new().await;
    t.use_store(store);
    t.config.embed.base_url = None;
    t.config.embed.model_dir = Some(model_dir());
    t.start().await;
    t
}

const TARGET_CODE: &str = "log";
const TARGET_PARAPHRASE: &str = "tips";

fn corpus() -> Value {
    let docs = [
        ("log", "Maintenance log: the hydraulic seal on the rear landing gear was replaced after inspection, and part ZX-4471-K was ordered from the supplier."),
        ("latch", "Part ZX-4471-J: window latch."),
        ("bulb", "Part ZX-4417-K: cabin light bulb."),
        ("buckle", "Part ZX-4741-K: seat belt buckle."),
        ("fuse", "Part ZX-1447-K: galley oven fuse."),
        ("tips", "Tips to make a notebook computer's power cell endure: dim the display and quit idle programs."),
        ("soup", "Simmer the tomatoes with garlic and basil for twenty minutes."),
        ("storm", "A cold front brings heavy rain and strong winds on Thursday."),
        ("train", "The night train to Vienna leaves from platform nine."),
        ("garden", "Water the roses early in the morning during hot weeks."),
    ];
    Value::Array(
        docs.iter()
            .map(|(id, text)| json!({"doc_id": id, "text": text}))
            .collect(),
    )
}

async fn indexed(store: Store) -> (Fixture, String) {
    let t = local(store).await;
    let collection = t.collection("hybrid");
    let reply = json(
        &t.request(
            Subject::Index,
            &json!({"collection": collection, "chunks": corpus()}),
        )
        .await,
    );
    assert_eq!(reply["ok"], true, "{reply}");
    (t, collection)
}

async fn search(t: &Fixture, body: Value) -> Value {
    let reply = json(&t.request(Subject::Search, &body).await);
    assert_eq!(reply["ok"], true, "{body} -> {reply}");
    reply
}

fn ids(reply: &Value) -> Vec<String> {
    reply["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["payload"]["doc_id"].as_str().unwrap().to_owned())
        .collect()
}

/// 1-based rank of `doc` in the reply, `usize::MAX` when absent.
fn rank(reply: &Value, doc: &str) -> usize {
    ids(reply)
        .iter()
        .position(|d| d == doc)
        .map_or(usize::MAX, |p| p + 1)
}

async fn keyword_finds_rare_terms_and_dense_finds_paraphrases(store: Store) {
    let (t, collection) = indexed(store).await;
    let ask = |query: &str, mode: &str| json!({"collection": collection, "query": query, "mode": mode, "top_k": 10});
    // An exact part number: BM25 weighs its rare term; the embedding sees
    // one more part number among several.
    let code = "ZX-4471-K";
    let dense = search(&t, ask(code, "dense")).await;
    let keyword = search(&t, ask(code, "keyword")).await;
    let hybrid = search(&t, ask(code, "hybrid")).await;
    assert_eq!(
        rank(&keyword, TARGET_CODE),
        1,
        "keyword: {:?}",
        ids(&keyword)
    );
    assert!(
        rank(&dense, TARGET_CODE) > 2,
        "dense ranks the exact term high here: {:?}",
        ids(&dense)
    );
    assert!(
        rank(&hybrid, TARGET_CODE) < rank(&dense, TARGET_CODE),
        "hybrid {:?} vs dense {:?}",
        ids(&hybrid),
        ids(&dense)
    );
    // Fused with a dense ranking that puts the short part lines first.
    assert!(
        rank(&hybrid, TARGET_CODE) <= 3,
        "hybrid: {:?}",
        ids(&hybrid)
    );

    // A paraphrase sharing no word with its passage: only the embedding
    // finds it.
    let question = "How can I extend my laptop battery life?";
    let dense = search(&t, ask(question, "dense")).await;
    let keyword = search(&t, ask(question, "keyword")).await;
    let hybrid = search(&t, ask(question, "hybrid")).await;
    assert_eq!(
        rank(&dense, TARGET_PARAPHRASE),
        1,
        "dense: {:?}",
        ids(&dense)
    );
    assert_eq!(
        rank(&keyword, TARGET_PARAPHRASE),
        usize::MAX,
        "keyword: {:?}",
        ids(&keyword)
    );
    assert_eq!(
        rank(&hybrid, TARGET_PARAPHRASE),
        1,
        "hybrid: {:?}",
        ids(&hybrid)
    );
    // A query of stop words alone: keyword finds nothing, hybrid is dense.
    let stop_words = search(&t, ask("how can I do it", "keyword")).await;
    assert_eq!(stop_words["hits"], json!([]));
    let stop_words = search(&t, ask("how can I do it", "hybrid")).await;
    assert_eq!(stop_words["scoring"]["mode"], "dense");
    // Filters hold on every side.
    let filtered = search(
        &t,
        json!({"collection": collection, "query": code, "mode": "hybrid",
               "filters": {"doc_id": ["latch", "bulb"]}}),
    )
    .await;
    let mut found = ids(&filtered);
    found.sort();
    assert_eq!(found, ["bulb", "latch"]);
}

async fn scoring_fusion_and_rerank_options(store: Store) {
    let (t, collection) = indexed(store).await;
    let code = "ZX-4471-K";
    let default = search(&t, json!({"collection": collection, "query": code})).await;
    assert_eq!(
        default["scoring"],
        json!({"mode": "hybrid", "fusion": "rrf", "reranked": false})
    );
    let dense = search(
        &t,
        json!({"collection": collection, "query": code, "mode": "dense"}),
    )
    .await;
    assert_eq!(
        dense["scoring"],
        json!({"mode": "dense", "reranked": false})
    );
    let score = dense["hits"][0]["score"].as_f64().unwrap();
    assert!(score > 0.0 && score <= 1.0, "a cosine: {score}");
    let keyword = search(
        &t,
        json!({"collection": collection, "query": code, "mode": "keyword", "top_k": 10}),
    )
    .await;
    assert!(
        keyword["hits"][0]["score"].as_f64().unwrap() > 1.0,
        "BM25 scores"
    );
    // All the weight on the keyword side: the keyword ranking.
    let weighted = search(
        &t,
        json!({"collection": collection, "query": code, "top_k": 10,
               "weights": {"dense": 0, "keyword": 1}, "candidates": 50}),
    )
    .await;
    assert_eq!(ids(&weighted)[..3], ids(&keyword)[..3]);
    let dbsf = search(
        &t,
        json!({"collection": collection, "query": code, "fusion": "dbsf", "rrf_k": 10}),
    )
    .await;
    assert_eq!(dbsf["scoring"]["fusion"], "dbsf");
    assert_eq!(ids(&dbsf)[0], TARGET_CODE);
    // The fake reranker scores by word overlap with the query.
    let reranked = search(
        &t,
        json!({"collection": collection, "query": "window latch part", "rerank": true,
               "top_k": 2, "rerank_candidates": 10}),
    )
    .await;
    assert_eq!(reranked["scoring"]["reranked"], true);
    assert_eq!(ids(&reranked)[0], "latch");
    assert_eq!(reranked["hits"].as_array().unwrap().len(), 2);
    // retrieve ranks the same way and says so.
    let retrieved = json(
        &t.request(
            Subject::Retrieve,
            &json!({"collection": collection, "query": code, "mode": "keyword",
                    "include_subgraph": false}),
        )
        .await,
    );
    assert_eq!(retrieved["scoring"]["mode"], "keyword", "{retrieved}");
    assert_eq!(
        retrieved["hits"][0]["citations"][0]["doc_id"], TARGET_CODE,
        "{retrieved}"
    );
}

async fn bad_ranking_values_are_400s_naming_the_field(store: Store) {
    let mut t = Fixture::new().await;
    t.use_store(store);
    t.start().await;
    let collection = t.collection("bad");
    let indexed = json(
        &t.request(
            Subject::Index,
            &json!({"collection": collection, "chunks": [{"doc_id": "d", "text": "some words"}]}),
        )
        .await,
    );
    assert_eq!(indexed["ok"], true);
    for (extra, needle) in [
        (json!({"mode": "fuzzy"}), "mode"),
        (json!({"fusion": "max"}), "fusion"),
        (json!({"rrf_k": 0}), "rrf_k"),
        (json!({"rrf_k": 5000}), "rrf_k"),
        (json!({"rrf_k": "many"}), "rrf_k"),
        (
            json!({"fusion": "dbsf", "weights": {"dense": 1, "keyword": 2}}),
            "weights",
        ),
        (
            json!({"weights": {"dense": -1, "keyword": 1}}),
            "weights.dense",
        ),
        (json!({"weights": {"dense": 0, "keyword": 0}}), "weights"),
        (json!({"weights": {"dense": "heavy"}}), "weights"),
        (json!({"top_k": 10, "candidates": 5}), "candidates"),
        (json!({"candidates": 5000}), "candidates"),
    ] {
        let mut body = json!({"collection": collection, "query": "words"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        for subject in [Subject::Search, Subject::Retrieve] {
            assert_error(&t.request(subject, &body).await, 400, needle);
        }
    }
    // Search's own reranking.
    let body = json!({"collection": collection, "query": "words", "rerank": true, "top_k": 10,
                      "rerank_candidates": 3});
    assert_error(
        &t.request(Subject::Search, &body).await,
        400,
        "rerank_candidates",
    );
}

async fn a_collection_indexed_before_keywords_still_answers_dense(store: Store) {
    let mut t = Fixture::new().await;
    t.use_store(store);
    let collection = t.collection("old");
    let dim = 8;
    let vector = fake::fake_vector("older passage about engines", dim);
    let payload = json!({"doc_id": "old", "chunk_id": null, "text": "older passage about engines",
                         "metadata": {}, "hash": "x"});
    match store {
        Store::Embedded => {
            old_embedded_collection(&t.config.worker.data_dir, &collection, vector, payload)
        }
        Store::Qdrant => old_server_collection(&collection, vector, payload).await,
    }
    t.start().await;
    // No mode: dense, as before.
    let reply = search(&t, json!({"collection": collection, "query": "engines"})).await;
    assert_eq!(reply["scoring"]["mode"], "dense");
    assert_eq!(ids(&reply), ["old"]);
    // New chunks go in with their dense vector.
    let indexed = json(
        &t.request(
            Subject::Index,
            &json!({"collection": collection, "chunks": [{"doc_id": "new", "text": "newer engines"}]}),
        )
        .await,
    );
    assert_eq!(indexed["ok"], true, "{indexed}");
    let reply = search(
        &t,
        json!({"collection": collection, "query": "engines", "mode": "dense"}),
    )
    .await;
    assert_eq!(reply["hits"].as_array().unwrap().len(), 2);
    for mode in ["keyword", "hybrid"] {
        let reply = t
            .request(
                Subject::Search,
                &json!({"collection": collection, "query": "engines", "mode": mode}),
            )
            .await;
        assert_error(&reply, 400, "indexed before keyword search");
    }
}

/// A collection as the embedded store made them before keyword search: one
/// unnamed dense vector.
fn old_embedded_collection(
    data_dir: &std::path::Path,
    collection: &str,
    vector: Vec<f32>,
    payload: Value,
) {
    use qdrant_edge::{
        Distance, EdgeConfigBuilder, EdgeShard, EdgeVectorParamsBuilder, PointId,
        PointInsertOperations, PointOperations, PointStruct, UpdateOperation, DEFAULT_VECTOR_NAME,
    };
    let path = data_dir.join("vectors").join(collection);
    std::fs::create_dir_all(&path).unwrap();
    let config = EdgeConfigBuilder::new()
        .vector(
            DEFAULT_VECTOR_NAME,
            EdgeVectorParamsBuilder::new(vector.len(), Distance::Cosine).build(),
        )
        .build();
    let shard = EdgeShard::load(&path, Some(config)).unwrap();
    let point = PointStruct::new(PointId::Uuid(uuid::Uuid::new_v4()), vector, payload);
    shard
        .update(UpdateOperation::PointOperation(
            PointOperations::UpsertPoints(PointInsertOperations::PointsList(vec![point.into()])),
        ))
        .unwrap();
    shard.flush();
}

/// The same on the Qdrant server.
async fn old_server_collection(collection: &str, vector: Vec<f32>, payload: Value) {
    use qdrant_client::qdrant::{
        CreateCollectionBuilder, Distance, PointStruct, UpsertPointsBuilder, VectorParamsBuilder,
    };
    let client = qdrant_client::Qdrant::from_url(&qdrant_url())
        .build()
        .unwrap();
    client
        .create_collection(CreateCollectionBuilder::new(collection).vectors_config(
            VectorParamsBuilder::new(vector.len() as u64, Distance::Cosine),
        ))
        .await
        .unwrap();
    let payload = qdrant_client::Payload::try_from(payload).unwrap();
    client
        .upsert_points(
            UpsertPointsBuilder::new(
                collection,
                vec![PointStruct::new(
                    uuid::Uuid::new_v4().to_string(),
                    vector,
                    payload,
                )],
            )
            .wait(true),
        )
        .await
        .unwrap();
}
