//! `rag.index`: embed chunks (through the micro-batcher) and upsert them with
//! deterministic ids, so indexing a chunk twice leaves one point. With
//! `replace`, the request carries every chunk of each document it names,
//! and earlier versions of those documents are deleted (`documents`).

use std::collections::BTreeSet;

use ragwire_schemas::index::{IndexReply, IndexRequest};

use crate::documents;
use crate::error::Error;
use crate::state::State;
use crate::validate::{check_collection, check_count, check_doc_ref, check_text};
use crate::vectors::{new_generation, write_chunks, Write};

/// Embeds the chunks and writes them with their payload to the collection.
pub async fn handle(state: &State, req: IndexRequest) -> Result<IndexReply, Error> {
    check_collection(&req.collection)?;
    check_count("chunks", &req.chunks, state.config.limits.max_texts)?;
    for (i, chunk) in req.chunks.iter().enumerate() {
        if req.replace {
            // Replaced documents can be deleted by id later: the same rule.
            check_doc_ref(&format!("chunks[{i}].doc_id"), &chunk.doc_id)?;
        } else {
            check_text(format_args!("chunks[{i}].doc_id"), &chunk.doc_id)?;
        }
        check_text(format_args!("chunks[{i}].text"), &chunk.text)?;
        if let Some(id) = &chunk.chunk_id {
            check_text(format_args!("chunks[{i}].chunk_id"), id)?;
        }
    }
    let upserted = req.chunks.len();
    if !req.replace {
        let dim = write_chunks(
            &state.vectors,
            &state.embedder,
            &state.keywords,
            &req.collection,
            req.chunks,
            Write::Add,
        )
        .await?;
        return Ok(IndexReply {
            upserted,
            dim,
            collection: req.collection,
            deleted: None,
        });
    }
    // One generation for the request: its documents are claimed, written
    // in one batch, then their older versions deleted.
    let generation = new_generation();
    let docs: BTreeSet<String> = req.chunks.iter().map(|c| c.doc_id.clone()).collect();
    let mut superseded = BTreeSet::new();
    for doc in &docs {
        if documents::claim(state, &req.collection, doc, generation)
            .await?
            .is_some()
        {
            superseded.insert(doc.clone());
        }
    }
    let chunks: Vec<_> = req
        .chunks
        .into_iter()
        .filter(|c| !superseded.contains(&c.doc_id))
        .collect();
    let written = chunks.len();
    let mut dim = 0;
    if !chunks.is_empty() {
        dim = documents::write(state, &req.collection, chunks, generation).await?;
    }
    let mut deleted = 0;
    for doc in docs.difference(&superseded) {
        deleted += documents::finish(state, &req.collection, doc, generation).await?;
    }
    Ok(IndexReply {
        upserted: written,
        dim,
        collection: req.collection,
        deleted: Some(deleted),
    })
}

impl super::Encode for IndexReply {}
