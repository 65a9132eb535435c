//! `rag.collections.*`, `rag.docs.delete` and `rag.points.delete`: what the
//! vector collections hold, and taking data out of them.

use serde::{Deserialize, Serialize};

use crate::JsonMap;

/// Request of `rag.collections.list` (`GET /collections`): no fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ListRequest {}

/// One vector collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct CollectionInfo {
    /// The collection's name.
    pub name: String,
    /// Points (chunks) it holds.
    pub points: usize,
    /// The dimension of its dense vectors.
    pub dim: usize,
    /// Whether it has BM25 vectors, so `keyword` and `hybrid` searches
    /// work (collections made before keyword search have none).
    pub keywords: bool,
}

/// Reply of `rag.collections.list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ListReply {
    /// Every collection, by name.
    pub collections: Vec<CollectionInfo>,
}

/// Request of `rag.collections.show` (`GET /collections/{name}`) and
/// `rag.collections.drop` (`DELETE /collections/{name}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct CollectionRef {
    /// The collection: 1 to 64 letters, digits, `_` or `-`.
    pub collection: String,
}

/// Reply of `rag.collections.show`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ShowReply {
    /// The collection, its fields next to `ok`.
    #[serde(flatten)]
    pub collection: CollectionInfo,
}

/// Request of `rag.docs.delete`
/// (`DELETE /collections/{name}/documents/{doc_id}`): every chunk of one
/// document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct DocRef {
    /// The collection: 1 to 64 letters, digits, `_` or `-`.
    pub collection: String,
    /// The document's id: 1 to 1024 bytes, no control characters, no white
    /// space around it, no `.` or `..` path segment, no leading `/`, no `//`
    /// or `\`, and no percent-encoded separator.
    pub doc_id: String,
    /// Also what the document contributed to the graph (the graph knows a
    /// document by its id alone, whatever the collection); default `true`.
    #[serde(default = "yes", deserialize_with = "crate::lax::bool")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::bool")
    )]
    pub graph: bool,
}

impl DocRef {
    /// The document `doc_id` of `collection`, chunks and graph.
    pub fn new(collection: impl Into<String>, doc_id: impl Into<String>) -> DocRef {
        DocRef {
            collection: collection.into(),
            doc_id: doc_id.into(),
            graph: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// Request of `rag.points.delete` (`POST /collections/{name}/delete`): the
/// chunks that match a filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct FilterDelete {
    /// The collection: 1 to 64 letters, digits, `_` or `-`.
    pub collection: String,
    /// Which chunks, as `rag.search`'s `filters`: `{"field": value}`, a
    /// list of values, or a range `{"gte": x, "lt": y}`; every condition
    /// must hold. Must not be empty (drop the collection instead).
    pub filters: JsonMap,
}

/// Reply of `rag.collections.drop`, `rag.docs.delete` and
/// `rag.points.delete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct DeleteReply {
    /// The collection.
    pub collection: String,
    /// Points (chunks) deleted; 0 when there was nothing to delete.
    pub deleted: usize,
    /// The document, for `rag.docs.delete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_id: Option<String>,
    /// For `rag.docs.delete` with `graph`: the graph's nodes and
    /// relationships deleted (those other documents also produced stay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph: Option<crate::graph::DeleteReply>,
}
