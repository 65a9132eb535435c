//! `rag.retrieve`: vector search and graph expansion together, with citations.

use serde::{Deserialize, Serialize};

use crate::graph::{Edge, Node};
use crate::JsonMap;

/// Request of `rag.retrieve` (`POST /retrieve`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct RetrieveRequest {
    /// The question: embedded once for the vector search; the graph
    /// expansion seeds on the nodes whose id or `name` (3 characters or
    /// more) it mentions, case-insensitive.
    pub query: String,
    /// How many hits to return. Default 5, at most 1000. With a reranker
    /// configured, three times as many candidates are reranked and cut to
    /// `top_k`.
    #[serde(
        default = "crate::search::default_top_k",
        deserialize_with = "crate::lax::usize"
    )]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::usize")
    )]
    pub top_k: usize,
    /// The vector collection. Default `chunks`.
    #[serde(default = "crate::index::default_collection")]
    pub collection: String,
    /// Run the graph expansion and return its neighbourhood in `subgraph`.
    /// Default `true`.
    #[serde(default = "default_true", deserialize_with = "crate::lax::bool")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::bool")
    )]
    pub include_subgraph: bool,
    /// Graph neighbourhood depth in hops, 1 to 3. Default 1.
    #[serde(default = "default_hops", deserialize_with = "crate::lax::u8")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::u8")
    )]
    pub max_hops: u8,
    /// Payload filters of the vector search, as in `rag.search`. Default:
    /// none.
    #[serde(default)]
    pub filters: Option<JsonMap>,
    /// How the chunk search ranks, as in `rag.search`.
    #[serde(flatten)]
    pub ranking: crate::search::Ranking,
}

impl RetrieveRequest {
    /// A retrieval for `query` with every other field at its default.
    pub fn new(query: impl Into<String>) -> RetrieveRequest {
        RetrieveRequest {
            query: query.into(),
            top_k: crate::search::default_top_k(),
            collection: crate::index::default_collection(),
            include_subgraph: default_true(),
            max_hops: default_hops(),
            filters: None,
            ranking: crate::search::Ranking::default(),
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_hops() -> u8 {
    1
}

/// Where a hit came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Citation {
    /// `vector` or `graph`.
    pub source: String,
    /// The chunk's document, for a `vector` citation.
    #[serde(default)]
    pub doc_id: Option<String>,
    /// The chunk's id, for a `vector` citation.
    #[serde(default)]
    pub chunk_id: Option<String>,
    /// The node the relation starts at, for a `graph` citation.
    #[serde(default)]
    pub node_id: Option<String>,
    /// The relation's type, for a `graph` citation.
    #[serde(default)]
    pub edge_type: Option<String>,
    /// The chunk search's score, for a `vector` citation.
    #[serde(default)]
    pub score: Option<f32>,
}

/// One retrieved passage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct RetrieveHit {
    /// The chunk's text, or a relation written out (e.g. `Ada Lovelace
    /// WORKED_WITH Charles Babbage`).
    pub text: String,
    /// The chunk's metadata, or `{src, dst, props}` for a relation.
    pub metadata: JsonMap,
    /// Where the hit came from.
    pub citations: Vec<Citation>,
    /// The hit's score (vector or reranker), when it has one.
    #[serde(default)]
    pub score: Option<f32>,
}

/// The graph neighbourhood of the query's entities.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Subgraph {
    /// At most 50 nodes, nearest first.
    pub nodes: Vec<Node>,
    /// The edges between them.
    pub edges: Vec<Edge>,
}

/// A stage that failed while others succeeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Warning {
    /// The stage that failed (`vector`, `graph` or `rerank`).
    pub stage: String,
    /// HTTP-like code of its error.
    pub code: u16,
    /// What went wrong.
    pub message: String,
}

/// Reply of `rag.retrieve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct RetrieveReply {
    /// Vector hits and graph relations (reranked together when a reranker
    /// is configured); at most `top_k`.
    pub hits: Vec<RetrieveHit>,
    /// The graph neighbourhood of the query's entities, when
    /// `include_subgraph` and the graph stage succeeded.
    #[serde(default)]
    pub subgraph: Option<Subgraph>,
    /// Time the whole request took, in milliseconds.
    pub query_time_ms: u64,
    /// Milliseconds per stage (`embed`, `vector`, `graph`, `rerank`).
    #[serde(default)]
    pub timings_ms: std::collections::BTreeMap<String, u64>,
    /// One per stage that failed while others succeeded; left out when
    /// none did. When every stage fails the reply is an error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    /// How the chunk search ranked (`reranked` when the reranker ordered
    /// the hits); absent when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scoring: Option<crate::search::Scoring>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_is_the_request_with_only_a_query() {
        let decoded: RetrieveRequest = serde_json::from_str(r#"{"query": "q"}"#).unwrap();
        assert_eq!(RetrieveRequest::new("q"), decoded);
    }
}
