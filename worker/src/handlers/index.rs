//! `rag.index`: embed chunks (through the micro-batcher) and upsert them with
//! deterministic ids, so indexing a chunk twice leaves one point.

use ragwire_schemas::index::{IndexReply, IndexRequest};

use crate::error::Error;
use crate::state::State;
use crate::validate::check_collection;
use crate::validate::{check_count, check_text};
use crate::vectors::{point_id, text_hash, ChunkPayload, Point};

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
    let texts: Vec<String> = req.chunks.iter().map(|c| c.text.clone()).collect();
    // Tokenising and stemming a batch can take milliseconds of CPU: off the
    // runtime's threads, and while the embedder answers.
    let encoder = state.keywords.clone();
    let encode = keywords.then(|| texts.clone());
    let (vectors, sparse) = tokio::join!(state.embedder.embed(texts), async move {
        match encode {
            Some(texts) => tokio::task::spawn_blocking(move || {
                texts.iter().map(|t| encoder.document(t)).collect()
            })
            .await
            .map_err(|e| Error::Internal(format!("BM25 encoding failed: {e}"))),
            None => Ok(Vec::new()),
        }
    });
    let (vectors, mut sparse) = (vectors?, sparse?.into_iter());
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
                keywords: sparse.next().unwrap_or_default(),
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
