//! `rag.index`: embed chunks (through the micro-batcher) and upsert them with
//! deterministic ids, so indexing a chunk twice leaves one point.

use ragwire_schemas::index::{IndexReply, IndexRequest};

use crate::validate::{check_count, check_text};
use crate::error::Error;
use crate::state::State;
use crate::validate::check_collection;
use crate::vectors::{point_id, text_hash, ChunkPayload, Point, Sparse};

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
    // A collection made before keyword search keeps dense vectors alone:
    // its chunks need no BM25 vectors.
    let keywords = state
        .vectors
        .layout(&req.collection)
        .await?
        .is_none_or(|layout| layout.keywords);
    let texts = req.chunks.iter().map(|c| c.text.clone()).collect();
    let vectors = state.embedder.embed(texts).await?;
    let dim = vectors.first().map_or(0, Vec::len);
    let upserted = req.chunks.len();
    let points = req
        .chunks
        .into_iter()
        .zip(vectors)
        .map(|(chunk, vector)| {
            let hash = text_hash(&chunk.text);
            let id = point_id(
                &req.collection,
                &chunk.doc_id,
                chunk.chunk_id.as_deref(),
                &hash,
            );
            let payload = ChunkPayload {
                doc_id: chunk.doc_id,
                chunk_id: chunk.chunk_id,
                text: chunk.text,
                metadata: chunk.metadata.unwrap_or_default(),
                hash,
            };
            Point {
                id,
                vector,
                keywords: if keywords {
                    state.keywords.document(&payload.text)
                } else {
                    Sparse::default()
                },
                payload: payload.into_map(),
            }
        })
        .collect();
    state.vectors.upsert(&req.collection, dim, points).await?;
    Ok(IndexReply {
        upserted,
        dim,
        collection: req.collection,
    })
}

impl super::Encode for IndexReply {}
