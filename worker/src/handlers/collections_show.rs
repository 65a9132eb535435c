//! `rag.collections.show` (`GET /collections/{name}`): one vector
//! collection; 404 when it does not exist.

use ragwire_schemas::collections::{CollectionRef, ShowReply};

use super::collections_list::describe;
use crate::error::Error;
use crate::state::State;
use crate::validate::check_collection;
use crate::vectors::missing;

/// Describes the collection.
pub async fn handle(state: &State, req: CollectionRef) -> Result<ShowReply, Error> {
    check_collection(&req.collection)?;
    match describe(state, &req.collection).await? {
        Some(collection) => Ok(ShowReply { collection }),
        None => Err(missing(&req.collection)),
    }
}

impl super::Encode for ShowReply {}
