//! `rag.collections.list` (`GET /collections`): every vector collection,
//! with its points, dimension and whether keyword search works on it.

use ragwire_schemas::collections::{CollectionInfo, ListReply, ListRequest};

use crate::error::Error;
use crate::state::State;

/// Lists the collections.
pub async fn handle(state: &State, _req: ListRequest) -> Result<ListReply, Error> {
    let mut collections = Vec::new();
    for name in state.vectors.collections().await? {
        match describe(state, &name).await {
            Ok(Some(info)) => collections.push(info),
            // Dropped meanwhile, or not a collection ragwire can use (a
            // Qdrant server's collection of named vectors): not listed.
            Ok(None) | Err(Error::NotFound(_) | Error::BadRequest(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(ListReply { collections })
}

/// One collection; `None` when it does not exist, or the tenant does not
/// see it.
pub async fn describe(state: &State, name: &str) -> Result<Option<CollectionInfo>, Error> {
    let Some(layout) = state.vectors.layout(name).await? else {
        return Ok(None);
    };
    let points = state.vectors.count(name).await?;
    // A tenant other than `default` sees the collections it has points in
    // (another tenant's of the same name are no business of its).
    if points == 0 && !state.tenant.is_default() {
        return Ok(None);
    }
    Ok(Some(CollectionInfo {
        name: name.to_owned(),
        points,
        dim: layout.dim,
        keywords: layout.keywords,
    }))
}

impl super::Encode for ListReply {
    fn is_large(&self) -> bool {
        self.collections.len() > super::MANY_ITEMS
    }
}
