//! `rag.retrieve`: vector search and graph expansion together, with citations.

use serde::{Deserialize, Serialize};

use crate::graph::{Edge, Node};
use crate::JsonMap;

/// Request of `rag.retrieve` (`POST /retrieve`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrieveRequest {
    pub query: String,
    #[serde(default = "crate::search::default_top_k")]
    pub top_k: usize,
    #[serde(default = "crate::index::default_collection")]
    pub collection: String,
    #[serde(default = "default_true")]
    pub include_subgraph: bool,
    /// Graph neighbourhood depth, 1 to 3.
    #[serde(default = "default_hops")]
    pub max_hops: u8,
    #[serde(default)]
    pub filters: Option<JsonMap>,
}

fn default_true() -> bool {
    true
}

fn default_hops() -> u8 {
    1
}

/// Where a hit came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Citation {
    /// `vector` or `graph`.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
}

/// One retrieved passage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrieveHit {
    pub text: String,
    pub metadata: JsonMap,
    pub citations: Vec<Citation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
}

/// The graph neighbourhood of the query's entities.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Subgraph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// A stage that failed while others succeeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    pub stage: String,
    pub code: u16,
    pub message: String,
}

/// Reply of `rag.retrieve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrieveReply {
    pub hits: Vec<RetrieveHit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subgraph: Option<Subgraph>,
    pub query_time_ms: u64,
    /// Milliseconds per stage (`embed`, `vector`, `graph`, `rerank`).
    #[serde(default)]
    pub timings_ms: std::collections::BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}
