//! The Qdrant server adapter against a real Qdrant, when `QDRANT_URL` names
//! one (e.g. `docker run -p 6334:6334 qdrant/qdrant`, then
//! `QDRANT_URL=http://127.0.0.1:6334`). With `RAGWIRE_REQUIRE_QDRANT=1` a
//! missing `QDRANT_URL` fails the test.

use ragwire_schemas::Subject;
use ragwire_tests::*;
use serde_json::{json, Value};

#[tokio::test]
async fn qdrant_server_index_search_filters_and_dimension() {
    let Ok(url) = std::env::var("QDRANT_URL") else {
        assert_ne!(
            std::env::var("RAGWIRE_REQUIRE_QDRANT").as_deref(),
            Ok("1"),
            "RAGWIRE_REQUIRE_QDRANT=1 but QDRANT_URL is not set"
        );
        eprintln!("QDRANT_URL is not set: the Qdrant server adapter was not exercised");
        return;
    };
    let mut t = Fixture::new().await;
    t.config.vectors.qdrant_url = Some(url);
    t.config.vectors.qdrant_api_key = std::env::var("QDRANT_API_KEY").ok();
    t.start().await;
    let p = t.prefix();
    let collection = format!("ragwire-test-{p}");
    let chunks = json!([
        {"doc_id": "a", "chunk_id": "1", "text": "queue groups spread requests", "metadata": {"lang": "en", "year": 2021}},
        {"doc_id": "a", "chunk_id": "2", "text": "durable streams", "metadata": {"lang": "en", "year": 2023}},
        {"doc_id": "b", "text": "vector search with filters", "metadata": {"lang": "de", "year": 2024}}
    ]);
    for _ in 0..2 {
        let reply = json(
            &t.request(
                Subject::Index,
                &json!({"chunks": chunks, "collection": collection}),
            )
            .await,
        );
        assert_eq!(reply["upserted"], 3, "{reply}");
    }
    let search = |filters: Value| json!({"query": "queue groups spread requests", "collection": collection, "top_k": 10, "filters": filters});
    let all = json(&t.request(Subject::Search, &search(json!({}))).await);
    let hits = all["hits"].as_array().unwrap_or_else(|| panic!("{all}"));
    assert_eq!(hits.len(), 3, "re-indexing kept one point per chunk: {all}");
    assert_eq!(hits[0]["payload"]["chunk_id"], "1");
    assert_eq!(hits[0]["payload"]["metadata"]["year"], 2021);
    for (filters, expected) in [
        (json!({"doc_id": "b"}), 1),
        (json!({"lang": ["en", "fr"]}), 2),
        (json!({"year": {"gte": 2022}}), 2),
    ] {
        let reply = json(&t.request(Subject::Search, &search(filters.clone())).await);
        assert_eq!(
            reply["hits"].as_array().unwrap().len(),
            expected,
            "{filters}: {reply}"
        );
    }
    let fake16 = FakeOpenAi::start_with(Behaviour::default(), 16).await;
    let mut config16 = t.config.clone();
    config16.embed.base_url = Some(fake16.base_url.clone());
    let worker16 = start_worker(&config16).await;
    // Both workers serve the prefix; ask until the 16-dimension one answers.
    let mut refused = false;
    for _ in 0..20 {
        let reply = t
            .request(
                Subject::Index,
                &json!({"chunks": [{"doc_id": "x", "text": "y"}], "collection": collection}),
            )
            .await;
        if error_code(&reply) == Some(400) {
            refused = true;
            break;
        }
    }
    assert!(refused, "a vector of the wrong dimension was accepted");
    worker16.shutdown().await;
}
