//! `rag.docs.delete` (`DELETE /collections/{name}/documents/{doc_id}`):
//! every chunk of a document, and any version of it submitted before and
//! not yet written; with `graph` (the default) also what it contributed to
//! the graph. A document that is not there: 0 deleted; a collection that is
//! not there: 404 (the graph untouched).

use ragwire_schemas::collections::{DeleteReply, DocRef};
use ragwire_schemas::graph;

use crate::documents;
use crate::error::Error;
use crate::state::State;
use crate::validate::{check_collection, check_doc_ref};
use crate::vectors::{missing, new_generation};

/// Deletes the document's chunks, then its graph contribution.
pub async fn handle(state: &State, req: DocRef) -> Result<DeleteReply, Error> {
    check_collection(&req.collection)?;
    check_doc_ref("doc_id", &req.doc_id)?;
    let generation = new_generation();
    let Some(deleted) = documents::delete(state, &req.collection, &req.doc_id, generation).await?
    else {
        return Err(missing(&req.collection));
    };
    let graph = if req.graph {
        let (nodes, edges) = state.graph.delete_document(&req.doc_id, generation).await?;
        Some(graph::DeleteReply { nodes, edges })
    } else {
        None
    };
    Ok(DeleteReply {
        collection: req.collection,
        deleted,
        doc_id: Some(req.doc_id),
        graph,
    })
}
