//! `rag.v1.embeddings` (`POST /v1/embeddings`): OpenAI's embeddings,
//! through the same batcher, cache and model as `rag.embed`.

use ragwire_schemas::embed::Vectors;
use ragwire_schemas::openai::{EmbeddingsReply, EmbeddingsRequest};

use crate::error::Error;
use crate::state::State;
use crate::validate::{check_count, check_text};

/// Embeds the input, in order; `dimensions` goes to an embedding service,
/// and must be the local model's own.
pub async fn handle(state: &State, req: EmbeddingsRequest) -> Result<EmbeddingsReply, Error> {
    let texts = req.input.into_texts();
    check_count("input", &texts, state.config.limits.max_texts)?;
    for (i, text) in texts.iter().enumerate() {
        check_text(format_args!("input[{i}]"), text)?;
    }
    // A token per four bytes: batched calls do not count per text.
    let tokens = texts.iter().map(|t| t.len().div_ceil(4)).sum();
    let vectors = match req.dimensions {
        Some(dimensions) => state.embedder.embed_dimensions(texts, dimensions).await?,
        None => state.embedder.embed(texts).await?,
    };
    let model = state.embedder.model().to_owned();
    Ok(EmbeddingsReply::new(
        Vectors::encode(vectors, req.encoding_format),
        model,
        tokens,
    ))
}

impl super::Encode for EmbeddingsReply {
    fn is_large(&self) -> bool {
        self.data.len() > super::MANY_ITEMS
    }

    fn encode(self) -> Result<bytes::Bytes, Error> {
        super::openai_object(&self)
    }
}
