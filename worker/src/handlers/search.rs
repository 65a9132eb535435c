//! `rag.search`: the nearest chunks to a query, with payload filters.

use ragwire_schemas::search::{SearchHit, SearchReply, SearchRequest};

use crate::error::Error;
use crate::state::State;
use crate::validate::check_query;
use crate::vectors::filter;

/// Embeds the query and returns the nearest chunks matching the filters.
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

impl super::Encode for SearchReply {
    fn is_large(&self) -> bool {
        self.hits.len() > super::MANY_ITEMS
    }
}
