//! `rag.points.delete` (`POST /collections/{name}/delete`): the chunks of a
//! collection that match a filter (the `filters` of `rag.search`), for
//! retention rules. A malformed or empty filter is a 400; a collection that
//! is not there a 404.

use ragwire_schemas::collections::{DeleteReply, FilterDelete};

use crate::error::Error;
use crate::state::State;
use crate::validate::check_collection;
use crate::vectors::{filter, missing};

/// Deletes the matching chunks.
pub async fn handle(state: &State, req: FilterDelete) -> Result<DeleteReply, Error> {
    check_collection(&req.collection)?;
    if req.filters.is_empty() {
        return Err(Error::bad_request(
            "`filters` must not be empty: to delete every chunk, drop the collection",
        ));
    }
    let conds = filter::parse(Some(&req.filters))?;
    match state.vectors.delete(&req.collection, &conds).await? {
        Some(deleted) => Ok(DeleteReply {
            collection: req.collection,
            deleted,
            doc_id: None,
            graph: None,
        }),
        None => Err(missing(&req.collection)),
    }
}
