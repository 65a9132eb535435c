//! `rag.index`: embed chunks and upsert them into a vector collection.

use serde::{Deserialize, Serialize};

use crate::JsonMap;

/// One chunk of a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    pub doc_id: String,
    pub text: String,
    /// Stable id of the chunk within its document; when absent the text's
    /// hash identifies it.
    #[serde(default)]
    pub chunk_id: Option<String>,
    #[serde(default)]
    pub metadata: Option<JsonMap>,
}

/// Request of `rag.index` (`POST /index/chunks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexRequest {
    pub chunks: Vec<Chunk>,
    #[serde(default = "default_collection")]
    pub collection: String,
}

/// The collection used when a request names none.
pub fn default_collection() -> String {
    "chunks".to_owned()
}

/// Reply of `rag.index`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexReply {
    pub upserted: usize,
    pub dim: usize,
    pub collection: String,
}
