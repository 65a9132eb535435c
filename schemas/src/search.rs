//! `rag.search`: nearest chunks to a query.

use serde::{Deserialize, Serialize};

use crate::JsonMap;

/// Request of `rag.search` (`POST /search`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRequest {
    /// The query text, embedded with the collection's model.
    pub query: String,
    /// How many hits to return, best first. Default 5, at most 1000.
    #[serde(default = "default_top_k", deserialize_with = "crate::lax::usize")]
    pub top_k: usize,
    /// The vector collection. Default `chunks`.
    #[serde(default = "crate::index::default_collection")]
    pub collection: String,
    /// Payload filters, all of which must hold: `field: value` (a string,
    /// integer or boolean; a float is a one-point range), `field: [values]`
    /// (any of several strings or integers), or `field: {gte, lte, gt, lt}`
    /// (a numeric range). `doc_id`, `chunk_id`, `hash` and `text` are the
    /// chunk's own fields; any other name is a metadata field (`lang` means
    /// `metadata.lang`). Default: none.
    #[serde(default)]
    pub filters: Option<JsonMap>,
}

/// Default number of hits.
pub fn default_top_k() -> usize {
    5
}

/// One search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// The point id: a UUIDv5 of the collection, `doc_id` and `chunk_id`
    /// (or the text's SHA-256).
    pub id: String,
    /// Cosine similarity to the query.
    pub score: f32,
    /// `doc_id`, `chunk_id`, `text`, `metadata` and `hash` (the SHA-256 of
    /// the text).
    pub payload: JsonMap,
}

/// Reply of `rag.search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchReply {
    /// The hits, best first; at most `top_k`.
    pub hits: Vec<SearchHit>,
}
