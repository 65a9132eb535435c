//! `rag.search`: the best chunks for a query (dense, keyword or hybrid),
//! with payload filters, optionally reranked.

use ragwire_schemas::search::{SearchHit, SearchReply, SearchRequest};

use crate::error::{Backend, Error};
use crate::ranking;
use crate::state::State;
use crate::validate::{check_query, MAX_TOP_K};
use crate::vectors::{filter, ChunkPayload};

/// Ranks the chunks matching the filters, then reranks them when asked.
pub async fn handle(state: &State, req: SearchRequest) -> Result<SearchReply, Error> {
    check_query(&req.query, &req.collection, req.top_k)?;
    ranking::check(&req.ranking, req.top_k)?;
    let conds = filter::parse(req.filters.as_ref())?;
    let reranker = match (req.rerank, &state.reranker) {
        (false, _) => None,
        (true, Some(reranker)) => Some(reranker),
        (true, None) => {
            return Err(Error::Unavailable {
                backend: Backend::Reranker,
                message: "`rerank` needs a reranker: set RAGWIRE_RERANK_URL".into(),
            })
        }
    };
    let limit = match (reranker, req.rerank_candidates) {
        (None, _) => req.top_k,
        (Some(_), Some(n)) if n < req.top_k || n > MAX_TOP_K => {
            return Err(Error::bad_request(format!(
                "`rerank_candidates` is {n}; expected `top_k` ({}) to {MAX_TOP_K}",
                req.top_k
            )))
        }
        (Some(_), Some(n)) => n,
        (Some(_), None) => (req.top_k * 3).min(MAX_TOP_K),
    };
    let ranked = ranking::search(
        state,
        &req.collection,
        &req.query,
        &req.ranking,
        limit,
        &conds,
    )
    .await?;
    let (mut hits, mut scoring) = (ranked.hits, ranked.scoring);
    if let (Some(reranker), false) = (reranker, hits.is_empty()) {
        let texts: Vec<String> = hits
            .iter()
            .map(|h| ChunkPayload::from_map(h.payload.clone()).text)
            .collect();
        let order = reranker.rerank(&req.query, &texts, req.top_k).await?;
        let mut slots: Vec<_> = hits.into_iter().map(Some).collect();
        hits = order
            .into_iter()
            .filter_map(|(i, score)| {
                slots.get_mut(i)?.take().map(|mut h| {
                    h.score = score;
                    h
                })
            })
            .collect();
        scoring.reranked = true;
    }
    hits.truncate(req.top_k);
    Ok(SearchReply {
        hits: hits
            .into_iter()
            .map(|h| SearchHit {
                id: h.id,
                score: h.score,
                payload: h.payload,
            })
            .collect(),
        scoring,
    })
}

impl super::Encode for SearchReply {
    fn is_large(&self) -> bool {
        self.hits.len() > super::MANY_ITEMS
    }
}
