//! `rag.info`: the worker's models, extraction defaults and graph schema,
//! and the state of the vector store's cluster when it is one.

use std::time::Duration;

use ragwire_schemas::info::{GraphDefaults, InfoReply, InfoRequest, VectorCluster};

use crate::error::Error;
use crate::extract::parse::SCHEMA_HASH;
use crate::state::State;

/// Longest look at the vector store's cluster.
const CLUSTER_WAIT: Duration = Duration::from_secs(5);

/// Reports what this worker serves, from its configuration, and the state
/// of the vector store's cluster.
pub async fn handle(state: &State, _: InfoRequest) -> Result<InfoReply, Error> {
    let vector_cluster = match tokio::time::timeout(CLUSTER_WAIT, state.vectors.cluster()).await {
        Ok(cluster) => cluster,
        Err(_) => Some(VectorCluster {
            error: Some(format!(
                "the vector store's cluster state took longer than {} s",
                CLUSTER_WAIT.as_secs()
            )),
            ..VectorCluster::default()
        }),
    };
    let config = &state.config;
    let extract = &config.extract;
    Ok(InfoReply {
        version: env!("CARGO_PKG_VERSION").into(),
        litellm_base: config.llm.base_url.trim_end_matches('/').into(),
        entrypoints: state.llm.entry_points().to_vec(),
        json_mode_hint_injection: true,
        graph_schema_path: "schemas/graph_schema.json".into(),
        schema_hash: SCHEMA_HASH.clone(),
        graph_defaults: GraphDefaults {
            min_nodes: extract.min_nodes,
            min_edges: extract.min_edges,
            allow_empty: extract.allow_empty,
            max_attempts: extract.max_attempts,
            provider_chain: extract.chain.clone(),
        },
        vector_cluster,
    })
}

impl super::Encode for InfoReply {}
