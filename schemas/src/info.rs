//! `rag.info`: what a worker serves: its models, its extraction defaults, its
//! graph schema. The producer's `GET /whoami` reports it, as the gateway
//! ragwire replaces did.

use serde::{Deserialize, Serialize};

/// Request of `rag.info` (`POST /info`): no fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct InfoRequest {}

/// Reply of `rag.info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct InfoReply {
    /// The worker's ragwire version.
    pub version: String,
    /// The first LLM provider's base URL, without a trailing `/` (the name
    /// is the gateway's, whose LLM was a LiteLLM proxy).
    pub litellm_base: String,
    /// The model names every request may use (the default alias and the
    /// extraction chain's), sorted.
    pub entrypoints: Vec<String>,
    /// Whether JSON mode adds a system message asking for JSON: always
    /// true.
    pub json_mode_hint_injection: bool,
    /// The graph schema extraction validates against (built in).
    pub graph_schema_path: String,
    /// The SHA-256 of that schema, as `graph.extract` replies report it.
    pub schema_hash: String,
    /// What `graph.extract` uses when a request does not say.
    pub graph_defaults: GraphDefaults,
}

/// The extraction defaults of a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct GraphDefaults {
    /// Fewest nodes of an accepted graph.
    pub min_nodes: usize,
    /// Fewest edges of an accepted graph.
    pub min_edges: usize,
    /// Whether an empty graph is accepted.
    pub allow_empty: bool,
    /// Attempts per provider.
    pub max_attempts: u32,
    /// The model aliases tried, in order.
    pub provider_chain: Vec<String>,
}
