//! `rag.collections.drop` (`DELETE /collections/{name}`): a vector
//! collection deleted with its points; 404 when it does not exist.

use ragwire_schemas::collections::{CollectionRef, DeleteReply};

use crate::documents;
use crate::error::Error;
use crate::state::State;
use crate::validate::check_collection;
use crate::vectors::missing;

/// Drops the collection; ingest jobs submitted before write nothing to it.
pub async fn handle(state: &State, req: CollectionRef) -> Result<DeleteReply, Error> {
    check_collection(&req.collection)?;
    match documents::drop_collection(state, &req.collection).await? {
        Some(deleted) => Ok(DeleteReply {
            collection: req.collection,
            deleted,
            doc_id: None,
            graph: None,
        }),
        None => Err(missing(&req.collection)),
    }
}

impl super::Encode for DeleteReply {}
