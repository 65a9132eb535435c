//! `rag.embed`: vectors for texts, through the micro-batcher.

use ragwire_schemas::embed::{EmbedReply, EmbedRequest, Vectors};

use super::{check_count, check_text};
use crate::error::Error;
use crate::state::State;

pub async fn handle(state: &State, req: EmbedRequest) -> Result<EmbedReply, Error> {
    check_count("texts", &req.texts, state.config.limits.max_texts)?;
    for (i, text) in req.texts.iter().enumerate() {
        check_text(format_args!("texts[{i}]"), text)?;
    }
    let vectors = state.embedder.embed(req.texts).await?;
    let dim = vectors.first().map_or(0, Vec::len);
    if vectors
        .iter()
        .any(|v| v.len() != dim || v.iter().any(|x| !x.is_finite()))
    {
        return Err(Error::Upstream {
            backend: "embedding service".into(),
            status: 200,
            message: "vectors of unequal length or with non-finite values".into(),
            retry_after: None,
        });
    }
    Ok(EmbedReply {
        vectors: Vectors::encode(vectors, req.encoding_format),
        dim,
        model: Some(state.embedder.model().to_owned()),
    })
}
