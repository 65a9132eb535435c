//! `rag.embed`: vectors for texts, through the micro-batcher.

use ragwire_schemas::embed::{EmbedReply, EmbedRequest, Vectors};

use crate::error::{Backend, Error};
use crate::state::State;
use crate::validate::{check_count, check_text};

/// Embeds the texts, in order, through the batcher.
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
            backend: Backend::Embeddings,
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

/// Numbers in an embed reply above which it is printed on a blocking thread.
const LARGE_REPLY_NUMBERS: usize = 64 * 1024;

/// Printed by its own encoder, not serde_json's: a writer call per number
/// costs more than printing it (see `EmbedReply::to_success_json`).
impl super::Encode for EmbedReply {
    fn is_large(&self) -> bool {
        self.dim * self.vectors.len() > LARGE_REPLY_NUMBERS
    }

    fn encode(self) -> Result<bytes::Bytes, Error> {
        Ok(self.to_success_json().into())
    }
}
