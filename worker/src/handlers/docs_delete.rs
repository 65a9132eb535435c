//! `rag.docs.delete` (`DELETE /collections/{name}/documents/{doc_id}`):
//! every chunk of a document, and any version of it submitted before and
//! not yet written. A document that is not there: 0 deleted; a collection
//! that is not there: 404.

use ragwire_schemas::collections::{DeleteReply, DocRef};

use crate::documents;
use crate::error::Error;
use crate::state::State;
use crate::validate::{check_collection, check_doc_ref};
use crate::vectors::missing;

/// Deletes the document's chunks.
pub async fn handle(state: &State, req: DocRef) -> Result<DeleteReply, Error> {
    check_collection(&req.collection)?;
    check_doc_ref("doc_id", &req.doc_id)?;
    match documents::delete(state, &req.collection, &req.doc_id).await? {
        Some(deleted) => Ok(DeleteReply {
            collection: req.collection,
            deleted,
            doc_id: Some(req.doc_id),
        }),
        None => Err(missing(&req.collection)),
    }
}
