//! `rag.index`: embed chunks (through the micro-batcher) and upsert them with
//! deterministic ids, so indexing a chunk twice leaves one point.

use ragwire_schemas::index::{IndexReply, IndexRequest};

use crate::error::Error;
use crate::state::State;
use crate::validate::check_collection;
use crate::validate::{check_count, check_text};
use crate::vectors::write_chunks;

/// Embeds the chunks and writes them with their payload to the collection.
pub async fn handle(state: &State, req: IndexRequest) -> Result<IndexReply, Error> {
    check_collection(&req.collection)?;
    check_count("chunks", &req.chunks, state.config.limits.max_texts)?;
    for (i, chunk) in req.chunks.iter().enumerate() {
        check_text(format_args!("chunks[{i}].doc_id"), &chunk.doc_id)?;
        check_text(format_args!("chunks[{i}].text"), &chunk.text)?;
        if let Some(id) = &chunk.chunk_id {
            check_text(format_args!("chunks[{i}].chunk_id"), id)?;
        }
    }
    let upserted = req.chunks.len();
    let dim = write_chunks(
        &*state.vectors,
        &state.embedder,
        &state.keywords,
        &req.collection,
        req.chunks,
    )
    .await?;
    Ok(IndexReply {
        upserted,
        dim,
        collection: req.collection,
    })
}

impl super::Encode for IndexReply {}
