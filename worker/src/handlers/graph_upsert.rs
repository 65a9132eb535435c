//! `rag.graph.upsert`: merge nodes and edges into the graph store.

use ragwire_schemas::graph::{UpsertReply, UpsertRequest};

use crate::error::Error;
use crate::graph::{self, Provenance};
use crate::state::State;
use crate::validate::{check_doc_id, check_doc_ref};
use crate::vectors::new_generation;

/// Validates the graph and merges it into the graph store. An empty graph
/// writes nothing and says so.
pub async fn handle(state: &State, req: UpsertRequest) -> Result<UpsertReply, Error> {
    if let Some(doc) = &req.doc_id {
        if req.replace {
            check_doc_ref("doc_id", doc)?;
        } else {
            check_doc_id("doc_id", doc)?;
        }
    } else if req.replace {
        return Err(Error::bad_request(
            "`replace` replaces a document's contribution: give its `doc_id`",
        ));
    }
    if req.data.nodes.is_empty() && req.data.edges.is_empty() {
        // Replaced by nothing: the document's contribution goes.
        if let (Some(doc), true) = (&req.doc_id, req.replace) {
            state.graph.delete_document(doc, new_generation()).await?;
        }
        return Ok(UpsertReply { nodes: 0, edges: 0 });
    }
    graph::validate(&req.data)?;
    let provenance = Provenance::of(req.doc_id, req.replace);
    let (nodes, edges) = state.graph.upsert(req.data, provenance).await?;
    Ok(UpsertReply { nodes, edges })
}

impl super::Encode for UpsertReply {}
