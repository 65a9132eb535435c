//! `rag.graph.upsert`: merge nodes and edges into the graph store.

use ragwire_schemas::graph::{UpsertReply, UpsertRequest};

use crate::error::Error;
use crate::graph;
use crate::state::State;

/// Validates the graph and merges it into the graph store.
pub async fn handle(state: &State, req: UpsertRequest) -> Result<UpsertReply, Error> {
    graph::validate(&req.data)?;
    let (nodes, edges) = state.graph.upsert(req.data).await?;
    Ok(UpsertReply { nodes, edges })
}

impl super::Encode for UpsertReply {}
