//! `rag.graph.delete`: what one document contributed to the graph, or the
//! whole graph. A document's delete is recorded as its newest version, so
//! an ingest job of an older version writes no graph after it.

use ragwire_schemas::graph::{DeleteReply, DeleteRequest};

use crate::error::Error;
use crate::state::State;
use crate::validate::check_doc_ref;
use crate::vectors::new_generation;

/// Deletes the document's contribution (`doc_id`) or everything (`all`).
pub async fn handle(state: &State, req: DeleteRequest) -> Result<DeleteReply, Error> {
    let (nodes, edges) = match (&req.doc_id, req.all) {
        (Some(doc), false) => {
            check_doc_ref("doc_id", doc)?;
            state.graph.delete_document(doc, new_generation()).await?
        }
        (None, true) => state.graph.clear().await?,
        (Some(_), true) => {
            return Err(Error::bad_request("give `doc_id` or `all: true`, not both"))
        }
        (None, false) => {
            return Err(Error::bad_request(
                "give `doc_id` (a document's contribution) or `all: true` (the whole graph)",
            ))
        }
    };
    Ok(DeleteReply { nodes, edges })
}

impl super::Encode for DeleteReply {}
