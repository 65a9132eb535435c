//! `rag.search`: the nearest chunks to a query, with payload filters.

use ragwire_schemas::search::{SearchHit, SearchReply, SearchRequest};

use super::check_text;
use crate::error::Error;
use crate::state::State;
use crate::vectors::{check_collection, filter};

/// Most hits one search may ask for.
pub const MAX_TOP_K: usize = 1000;

/// Checks the fields search and retrieve share.
pub fn check_query(query: &str, collection: &str, top_k: usize) -> Result<(), Error> {
    check_text("query", query)?;
    check_collection(collection)?;
    if top_k == 0 || top_k > MAX_TOP_K {
        return Err(Error::bad_request(format!(
            "`top_k` is {top_k}; expected 1 to {MAX_TOP_K}"
        )));
    }
    Ok(())
}

pub async fn handle(state: &State, req: SearchRequest) -> Result<SearchReply, Error> {
    check_query(&req.query, &req.collection, req.top_k)?;
    let conds = filter::parse(req.filters.as_ref())?;
    let vector = state
        .embedder
        .embed(vec![req.query])
        .await?
        .pop()
        .ok_or_else(|| Error::Internal("no vector for the query".into()))?;
    let hits = state
        .vectors
        .search(&req.collection, vector, req.top_k, &conds)
        .await?;
    Ok(SearchReply {
        hits: hits
            .into_iter()
            .map(|h| SearchHit {
                id: h.id,
                score: h.score,
                payload: h.payload,
            })
            .collect(),
    })
}
