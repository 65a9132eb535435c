//! `rag.rerank`: documents ordered by the configured reranker.

use ragwire_schemas::rerank::{RerankReply, RerankRequest, RerankResult};

use crate::error::{Backend, Error};
use crate::state::State;
use crate::validate::{check_count, check_text};

/// Reorders the documents with the reranker, best first, at most `top_n`.
pub async fn handle(state: &State, req: RerankRequest) -> Result<RerankReply, Error> {
    check_text("query", &req.query)?;
    check_count(
        "documents",
        &req.documents,
        state.config.limits.max_documents,
    )?;
    if req.top_n == 0 {
        return Err(Error::bad_request("`top_n` must be at least 1"));
    }
    let reranker = state.reranker.as_ref().ok_or_else(|| Error::Unavailable {
        backend: Backend::Reranker,
        message: "no reranker is configured (set RAGWIRE_RERANK_URL)".into(),
    })?;
    let ranked = reranker
        .rerank(&req.query, &req.documents, req.top_n)
        .await?;
    let mut documents: Vec<Option<String>> = req.documents.into_iter().map(Some).collect();
    let results = ranked
        .into_iter()
        .filter_map(|(index, score)| {
            // A reranker that repeats an index gets it once.
            documents[index]
                .take()
                .map(|text| RerankResult { index, score, text })
        })
        .collect();
    Ok(RerankReply { results })
}

impl super::Encode for RerankReply {}
