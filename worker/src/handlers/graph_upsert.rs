//! `rag.graph.upsert`: merge nodes and edges into the graph store.

use ragwire_schemas::graph::{UpsertReply, UpsertRequest};

use crate::error::Error;
use crate::graph;
use crate::state::State;

/// Validates the graph and merges it into the graph store. An empty graph
/// writes nothing and says so.
pub async fn handle(state: &State, req: UpsertRequest) -> Result<UpsertReply, Error> {
    if req.data.nodes.is_empty() && req.data.edges.is_empty() {
        return Ok(UpsertReply { nodes: 0, edges: 0 });
    }
    graph::validate(&req.data)?;
    let (nodes, edges) = state.graph.upsert(req.data).await?;
    Ok(UpsertReply { nodes, edges })
}

impl super::Encode for UpsertReply {}
