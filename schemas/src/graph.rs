//! `rag.graph.*`: knowledge-graph extraction, upsert, query and model probe.

use serde::{Deserialize, Serialize};

use crate::chat::ChatMessage;
use crate::JsonMap;

/// The JSON Schema of a graph (`schemas/graph_schema.json`): what
/// `graph.extract` returns, checked before it is returned.
pub const GRAPH_SCHEMA: &str = include_str!("../graph_schema.json");

/// A graph node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Node {
    /// The node's id; upserts merge nodes by it.
    pub id: String,
    /// The node's type, `type` on the wire: `^[A-Za-z_][A-Za-z0-9_]{0,63}$`
    /// (a label in a Bolt store). An upsert gives a node the latest type.
    #[serde(rename = "type")]
    pub node_type: String,
    /// Properties: strings, numbers, booleans or null. Default empty. An
    /// upsert updates a stored node's props key by key.
    #[serde(default, deserialize_with = "crate::lax::props")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::props")
    )]
    pub props: JsonMap,
}

impl Node {
    /// The node `id` of type `node_type`, without properties.
    pub fn new(id: impl Into<String>, node_type: impl Into<String>) -> Node {
        Node {
            id: id.into(),
            node_type: node_type.into(),
            props: JsonMap::new(),
        }
    }
}

/// A directed, typed graph edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Edge {
    /// Id of the node the edge starts at: in the same request or already
    /// stored.
    pub src: String,
    /// Id of the node the edge ends at: in the same request or already
    /// stored.
    pub dst: String,
    /// The edge's type, `type` on the wire: `^[A-Za-z_][A-Za-z0-9_]{0,63}$`
    /// (the relationship type in a Bolt store). Upserts merge edges by
    /// `(src, type, dst)`.
    #[serde(rename = "type")]
    pub edge_type: String,
    /// Properties: strings, numbers, booleans or null. Default empty. An
    /// upsert updates a stored edge's props key by key.
    #[serde(default, deserialize_with = "crate::lax::props")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::props")
    )]
    pub props: JsonMap,
}

impl Edge {
    /// The edge `src -[edge_type]-> dst`, without properties.
    pub fn new(
        src: impl Into<String>,
        edge_type: impl Into<String>,
        dst: impl Into<String>,
    ) -> Edge {
        Edge {
            src: src.into(),
            dst: dst.into(),
            edge_type: edge_type.into(),
            props: JsonMap::new(),
        }
    }
}

/// Nodes and edges.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct GraphData {
    /// The nodes. Default empty.
    #[serde(default)]
    pub nodes: Vec<Node>,
    /// The edges. Default empty.
    #[serde(default)]
    pub edges: Vec<Edge>,
}

/// Request of `rag.graph.extract` (`POST /graph/extract`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ExtractRequest {
    /// The text to extract entities and relations from. At most
    /// `RAGWIRE_EXTRACT_MAX_CONTEXT_CHARS` (200,000) characters (413
    /// beyond); over `RAGWIRE_EXTRACT_WINDOW_CHARS` (6,000) it is split into
    /// overlapping windows, extracted concurrently and merged.
    pub context: String,
    /// Default `true`: a provider's first attempt is strict (only facts in
    /// the text, no empty answer) and later ones are nudges, which allow
    /// low-confidence candidates; with `false` every attempt is a nudge.
    #[serde(default = "default_true", deserialize_with = "crate::lax::bool")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::bool")
    )]
    pub strict: bool,
    /// Default `true`: an answer that does not parse or validate gets one
    /// repair request to the same provider, with the schema, the answer and
    /// the validation errors.
    #[serde(default = "default_true", deserialize_with = "crate::lax::bool")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::bool")
    )]
    pub repair_if_invalid: bool,
    /// Fewest nodes a successful graph has. Default
    /// `RAGWIRE_EXTRACT_MIN_NODES` (1).
    #[serde(default, deserialize_with = "crate::lax::opt_usize")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::opt_usize")
    )]
    pub min_nodes: Option<usize>,
    /// Fewest edges a successful graph has. Default
    /// `RAGWIRE_EXTRACT_MIN_EDGES` (1).
    #[serde(default, deserialize_with = "crate::lax::opt_usize")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::opt_usize")
    )]
    pub min_edges: Option<usize>,
    /// Accept a graph below `min_nodes` and `min_edges`. Default `false`.
    #[serde(default, deserialize_with = "crate::lax::opt_bool")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::opt_bool")
    )]
    pub allow_empty: Option<bool>,
    /// Attempts per provider. Default `RAGWIRE_EXTRACT_MAX_ATTEMPTS` (2).
    #[serde(default, deserialize_with = "crate::lax::opt_u32")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::opt_u32")
    )]
    pub max_attempts: Option<u32>,
    /// Model aliases to try, in order; defaults to the configured chain
    /// (`RAGWIRE_EXTRACT_CHAIN`).
    #[serde(default)]
    pub provider_chain: Option<Vec<String>>,
    /// Also write the extracted graph to the graph store (the
    /// `rag.graph.upsert` path) and report the counts in `upserted`.
    /// Default `false`.
    #[serde(default, deserialize_with = "crate::lax::bool")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::bool")
    )]
    pub upsert: bool,
    /// With `upsert`: the document the text comes from, recorded on the
    /// elements written (see `rag.graph.upsert`'s `doc_id`), and the
    /// document's earlier contribution replaced by this one.
    #[serde(default)]
    pub doc_id: Option<String>,
}

impl ExtractRequest {
    /// An extraction from `context` with every other field at its default.
    pub fn new(context: impl Into<String>) -> ExtractRequest {
        ExtractRequest {
            context: context.into(),
            strict: default_true(),
            repair_if_invalid: default_true(),
            min_nodes: None,
            min_edges: None,
            allow_empty: None,
            max_attempts: None,
            provider_chain: None,
            upsert: false,
            doc_id: None,
        }
    }
}

fn default_true() -> bool {
    true
}

/// Reply of `rag.graph.extract`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ExtractReply {
    /// The extracted graph, valid against [`GRAPH_SCHEMA`].
    pub data: GraphData,
    /// The provider (model alias) whose graph won; with several windows,
    /// the winners joined by `,`.
    pub provider: String,
    /// sha256 of [`GRAPH_SCHEMA`], hex.
    pub schema_hash: String,
    /// Every attempt made, in the order they ended.
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// How many windows the context was split into. Default 1.
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
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Attempt {
    /// Model alias.
    pub provider: String,
    /// `strict`, `nudge` or `repair`.
    pub mode: String,
    /// `ok`, `invalid` (unparsable or against the schema), `too_small`
    /// (below the minimums, or an `error` node), `error` (the call failed)
    /// or `cancelled` (another provider won first).
    pub outcome: String,
    /// Time the call took, in milliseconds.
    pub latency_ms: u64,
    /// Window index, when the context was split; default 0.
    #[serde(default)]
    pub window: usize,
    /// What was wrong, for every outcome but `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Request of `rag.graph.upsert` (`POST /graph/upsert`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct UpsertRequest {
    /// Nodes and edges to merge; at most 10,000 items in all.
    pub data: GraphData,
    /// The document these nodes and edges come from. Each stored element
    /// records the documents that produced it (an edge's ends count as
    /// produced by the edge's document), so that deleting a document
    /// (`rag.graph.delete`) removes what it alone contributed. Without it
    /// the elements are unattributed: no document delete removes them.
    #[serde(default)]
    pub doc_id: Option<String>,
    /// With `doc_id`: `data` is the document's whole contribution, so what
    /// an earlier version of the document contributed and this one does
    /// not is removed (elements another source also produced stay).
    /// Default `false`: merge.
    #[serde(default, deserialize_with = "crate::lax::bool")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::bool")
    )]
    pub replace: bool,
}

/// Request of `rag.graph.delete` (`POST /graph/delete`): what one document
/// contributed to the graph, or the whole graph.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct DeleteRequest {
    /// The document whose contribution goes: it is removed from every
    /// element's sources, and the elements left with none are deleted
    /// (a node with its relationships). Elements written without a
    /// document are never touched.
    #[serde(default)]
    pub doc_id: Option<String>,
    /// Delete every node and relationship of the graph store instead (the
    /// label's, on a Bolt store). Exactly one of `doc_id` and `all`.
    #[serde(default, deserialize_with = "crate::lax::bool")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::bool")
    )]
    pub all: bool,
}

/// Reply of `rag.graph.delete`: what was deleted. Deleting what is not
/// there deletes nothing and is not an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct DeleteReply {
    /// Nodes deleted.
    pub nodes: usize,
    /// Relationships deleted (with their nodes or alone).
    pub edges: usize,
}

impl UpsertRequest {
    /// A merge of `nodes` and `edges`, from no document.
    pub fn new(nodes: Vec<Node>, edges: Vec<Edge>) -> UpsertRequest {
        UpsertRequest {
            data: GraphData { nodes, edges },
            doc_id: None,
            replace: false,
        }
    }
}

/// Reply of `rag.graph.upsert`: how many nodes and edges were written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct UpsertReply {
    /// Nodes written.
    pub nodes: usize,
    /// Edges written.
    pub edges: usize,
}

/// Request of `rag.graph.query` (`POST /graph/query`): read-only Cypher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct QueryRequest {
    /// Read-only Cypher, run in a read transaction; a write or admin clause,
    /// or a `CALL` of anything but a subquery or a known read-only
    /// procedure, is a 400.
    pub query: String,
    /// Query parameters, sent as Bolt parameters (never spliced into the
    /// text). Default: none.
    #[serde(default)]
    pub params: Option<JsonMap>,
}

impl QueryRequest {
    /// `query` without parameters.
    pub fn new(query: impl Into<String>) -> QueryRequest {
        QueryRequest {
            query: query.into(),
            params: None,
        }
    }
}

/// Reply of `rag.graph.query`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct QueryReply {
    /// One JSON object per record, at most `RAGWIRE_GRAPH_MAX_ROWS` (413
    /// beyond): nodes as `{labels, props}`, relationships as `{type,
    /// props}`, paths as `{nodes, relationships}`, temporal values as
    /// ISO-8601 text.
    pub records: Vec<serde_json::Value>,
}

/// Request of `rag.graph.probe` (`POST /graph/probe`): one chat call to check
/// a model's JSON behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ProbeRequest {
    /// The model to call: an alias or a model name.
    pub model: String,
    /// Ask for a JSON object, and report an `error` when the answer is not
    /// one. Default `true`.
    #[serde(default = "default_true", deserialize_with = "crate::lax::bool")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::bool")
    )]
    pub strict_json: bool,
    /// Sampling temperature. Default 0.
    #[serde(default, deserialize_with = "crate::lax::opt_f32")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::opt_number")
    )]
    pub temperature: Option<f32>,
    /// Bound on the whole call, in seconds (504 beyond). Default: none.
    #[serde(default, deserialize_with = "crate::lax::opt_f64")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::opt_number")
    )]
    pub timeout: Option<f64>,
    /// The messages to send. Default: a small extraction prompt.
    #[serde(default)]
    pub messages: Option<Vec<ChatMessage>>,
}

impl ProbeRequest {
    /// A probe of `model` with every other field at its default.
    pub fn new(model: impl Into<String>) -> ProbeRequest {
        ProbeRequest {
            model: model.into(),
            strict_json: default_true(),
            temperature: None,
            timeout: None,
            messages: None,
        }
    }
}

/// Reply of `rag.graph.probe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ProbeReply {
    /// `json` (the model answered with a JSON object) or `text`.
    pub mode: String,
    /// Which configured provider answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The parsed object, in `json` mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// The answer text, in `text` mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Why the answer is not JSON, in `text` mode when `strict_json` asked
    /// for JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_are_the_requests_with_only_their_arguments() {
        let decoded: UpsertRequest = serde_json::from_str(
            r#"{"data": {"nodes": [{"id": "a", "type": "T"}],
                         "edges": [{"src": "a", "dst": "a", "type": "SELF"}]}}"#,
        )
        .unwrap();
        let built =
            UpsertRequest::new(vec![Node::new("a", "T")], vec![Edge::new("a", "SELF", "a")]);
        assert_eq!(built, decoded);
        let decoded: ExtractRequest = serde_json::from_str(r#"{"context": "c"}"#).unwrap();
        assert_eq!(ExtractRequest::new("c"), decoded);
        let decoded: QueryRequest = serde_json::from_str(r#"{"query": "q"}"#).unwrap();
        assert_eq!(QueryRequest::new("q"), decoded);
        let decoded: ProbeRequest = serde_json::from_str(r#"{"model": "m"}"#).unwrap();
        assert_eq!(ProbeRequest::new("m"), decoded);
    }
}
