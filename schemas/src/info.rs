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
    /// The Qdrant cluster that holds the vectors, as the worker sees it;
    /// absent on one Qdrant server and on the embedded store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector_cluster: Option<VectorCluster>,
}

/// The state of a Qdrant cluster, from the placement of the replicas of
/// its collections.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct VectorCluster {
    /// Qdrant peers that hold a replica of some collection.
    pub peers: usize,
    /// Collections looked at.
    pub collections: usize,
    /// Replicas of their shards, over all peers.
    pub replicas: usize,
    /// Replicas that are not active: dead, or catching up.
    pub dead_replicas: Vec<DeadReplica>,
    /// Why the state could not be read in full, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A replica that is not active.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct DeadReplica {
    /// Its collection.
    pub collection: String,
    /// Its shard.
    pub shard: u32,
    /// The Qdrant peer that holds it.
    pub peer: u64,
    /// Its state as Qdrant names it (`Dead`, `Partial`, ...).
    pub state: String,
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
