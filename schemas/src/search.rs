//! `rag.search`: nearest chunks to a query.

use serde::{Deserialize, Serialize};

use crate::JsonMap;

/// Request of `rag.search` (`POST /search`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRequest {
    pub query: String,
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    #[serde(default = "crate::index::default_collection")]
    pub collection: String,
    /// Payload filters: `field: value`, `field: [values]` (any of), or
    /// `field: {gte, lte}` on numbers.
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
    pub id: String,
    pub score: f32,
    pub payload: JsonMap,
}

/// Reply of `rag.search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchReply {
    pub hits: Vec<SearchHit>,
}
