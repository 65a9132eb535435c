//! `rag.graph.*`: knowledge-graph extraction, upsert, query and model probe.

use serde::{Deserialize, Serialize};

use crate::chat::ChatMessage;
use crate::JsonMap;

/// The JSON Schema of a graph (`schemas/graph_schema.json`): what
/// `graph.extract` returns, checked before it is returned.
pub const GRAPH_SCHEMA: &str = include_str!("../graph_schema.json");

/// A graph node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: String,
    #[serde(rename = "type")]
    pub node_type: String,
    #[serde(default)]
    pub props: JsonMap,
}

/// A directed, typed graph edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    pub src: String,
    pub dst: String,
    #[serde(rename = "type")]
    pub edge_type: String,
    #[serde(default)]
    pub props: JsonMap,
}

/// Nodes and edges.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GraphData {
    #[serde(default)]
    pub nodes: Vec<Node>,
    #[serde(default)]
    pub edges: Vec<Edge>,
}

/// Request of `rag.graph.extract` (`POST /graph/extract`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractRequest {
    /// The text to extract entities and relations from.
    pub context: String,
    #[serde(default = "default_true")]
    pub strict: bool,
    #[serde(default = "default_true")]
    pub repair_if_invalid: bool,
    #[serde(default)]
    pub min_nodes: Option<usize>,
    #[serde(default)]
    pub min_edges: Option<usize>,
    #[serde(default)]
    pub allow_empty: Option<bool>,
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Model aliases to try, in order; defaults to the configured chain.
    #[serde(default)]
    pub provider_chain: Option<Vec<String>>,
    /// Also write the extracted graph to the graph store.
    #[serde(default)]
    pub upsert: bool,
}

fn default_true() -> bool {
    true
}

/// Reply of `rag.graph.extract`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractReply {
    pub data: GraphData,
    /// The provider (model alias) whose graph won; with several windows,
    /// the winners joined by `,`.
    pub provider: String,
    /// sha256 of [`GRAPH_SCHEMA`], hex.
    pub schema_hash: String,
    /// Every attempt made, in the order they ended.
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// How many windows the context was split into.
    #[serde(default = "one")]
    pub windows: usize,
    /// Counts written to the graph store, when the request asked `upsert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upserted: Option<UpsertReply>,
}

fn one() -> usize {
    1
}

/// One extraction attempt: one LLM call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Model alias.
    pub provider: String,
    /// `strict`, `nudge` or `repair`.
    pub mode: String,
    /// `ok`, `invalid` (unparsable or against the schema), `too_small`
    /// (below the minimums, or an `error` node), `error` (the call failed)
    /// or `cancelled` (another provider won first).
    pub outcome: String,
    pub latency_ms: u64,
    /// Window index, when the context was split.
    #[serde(default)]
    pub window: usize,
    /// What was wrong, for every outcome but `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Request of `rag.graph.upsert` (`POST /graph/upsert`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpsertRequest {
    pub data: GraphData,
}

/// Reply of `rag.graph.upsert`: how many nodes and edges were written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpsertReply {
    pub nodes: usize,
    pub edges: usize,
}

/// Request of `rag.graph.query` (`POST /graph/query`): read-only Cypher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryRequest {
    pub query: String,
    #[serde(default)]
    pub params: Option<JsonMap>,
}

/// Reply of `rag.graph.query`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryReply {
    pub records: Vec<serde_json::Value>,
}

/// Request of `rag.graph.probe` (`POST /graph/probe`): one chat call to check
/// a model's JSON behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRequest {
    pub model: String,
    #[serde(default = "default_true")]
    pub strict_json: bool,
    #[serde(default)]
    pub temperature: Option<f32>,
    /// Seconds.
    #[serde(default)]
    pub timeout: Option<f64>,
    #[serde(default)]
    pub messages: Option<Vec<ChatMessage>>,
}

/// Reply of `rag.graph.probe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReply {
    /// `json` or `text`.
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
