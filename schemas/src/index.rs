//! `rag.index`: embed chunks and upsert them into a vector collection.

use serde::{Deserialize, Serialize};

use crate::JsonMap;

/// One chunk of a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Chunk {
    /// Id of the document the chunk belongs to.
    pub doc_id: String,
    /// The chunk's text, embedded and kept in the point's payload.
    pub text: String,
    /// Stable id of the chunk within its document; when absent the text's
    /// hash identifies it. The point id is a UUIDv5 of the collection,
    /// `doc_id` and `chunk_id` (or the text's SHA-256), so indexing the same
    /// chunk twice leaves one point. Default: none.
    #[serde(default)]
    pub chunk_id: Option<String>,
    /// Free-form metadata, kept in the payload and matched by search
    /// filters. Default: none.
    #[serde(default)]
    pub metadata: Option<JsonMap>,
}

impl Chunk {
    /// A chunk of `text` in document `doc_id`, without id or metadata.
    pub fn new(doc_id: impl Into<String>, text: impl Into<String>) -> Chunk {
        Chunk {
            doc_id: doc_id.into(),
            text: text.into(),
            chunk_id: None,
            metadata: None,
        }
    }
}

/// Request of `rag.index` (`POST /index/chunks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct IndexRequest {
    /// The chunks to embed and write; at most `RAGWIRE_LIMITS_MAX_TEXTS` (2048).
    pub chunks: Vec<Chunk>,
    /// The vector collection: 1 to 64 letters, digits, `_` or `-`. Default
    /// `chunks`.
    #[serde(default = "default_collection")]
    pub collection: String,
    /// The request carries every chunk of each document it names:
    /// afterwards the collection holds exactly these chunks of those
    /// documents, and none of an earlier version. Default `false` (the
    /// chunks are added, or overwrite those of the same ids).
    #[serde(default, deserialize_with = "crate::lax::bool")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::bool")
    )]
    pub replace: bool,
}

impl IndexRequest {
    /// `chunks` into `collection`.
    pub fn new(collection: impl Into<String>, chunks: Vec<Chunk>) -> IndexRequest {
        IndexRequest {
            chunks,
            collection: collection.into(),
            replace: false,
        }
    }
}

/// The collection used when a request names none.
pub fn default_collection() -> String {
    "chunks".to_owned()
}

/// Reply of `rag.index`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct IndexReply {
    /// Points written.
    pub upserted: usize,
    /// Length of the vectors, in numbers.
    pub dim: usize,
    /// The collection written to.
    pub collection: String,
    /// With `replace`: points of earlier versions of the documents deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_chunk_is_the_chunk_with_only_a_document_and_text() {
        let decoded: Chunk = serde_json::from_str(r#"{"doc_id": "d", "text": "t"}"#).unwrap();
        assert_eq!(Chunk::new("d", "t"), decoded);
        let decoded: IndexRequest = serde_json::from_str(
            r#"{"collection": "c", "chunks": [{"doc_id": "d", "text": "t"}]}"#,
        )
        .unwrap();
        assert_eq!(IndexRequest::new("c", vec![Chunk::new("d", "t")]), decoded);
    }
}
