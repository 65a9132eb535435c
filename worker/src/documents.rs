//! Versions of documents: replacing a document's chunks, deleting a
//! document or a collection, so that a delete or a newer version always
//! wins over an older write, whenever that write runs.
//!
//! Each write of a whole document is a *generation* (see
//! [`new_generation`]): an ingest job's is its submission time, a
//! `rag.index` with `replace`'s the time of the request. A replacement
//! 1. claims its generation in the register (`jobs::register`), unless a
//!    newer version, a delete of the document or a drop of its collection
//!    is recorded there: then it writes nothing;
//! 2. writes its chunks with their generation, under point ids of their
//!    own (never overwriting another version's points);
//! 3. deletes the document's points of lower generations;
//! 4. reads the register again: when something newer came meanwhile, it
//!    deletes everything below that, its own points included.
//!
//! A delete records its generation in the register first, then deletes the
//! document's points below it, then (unless asked not to) its contribution
//! to the graph, recording the same generation there. Whatever the interleaving, a point of an
//! older version written after the delete is removed by its own writer's
//! step 4. A writer killed between steps 2 and 3 leaves both versions until
//! its job is delivered again, with the same generation, and finishes.
//!
//! The graph keeps each document's newest generation itself (see
//! [`crate::graph::Provenance::Replace`]): a job writes the graph of its
//! version only if no newer version or delete reached the graph first, so
//! the same rules hold there, checked in the graph store's transaction.
//! The graph knows a document by its id alone, whatever the collection.
//! Without JetStream (jobs off) there is no register: steps 1 and 4 are
//! skipped, and the latest writer's step 3 still leaves one version.

use ragwire_schemas::index::Chunk;

use crate::error::Error;
use crate::state::State;
use crate::vectors::{new_generation, older_than, write_chunks, Write};

/// What became of a replacement.
// The handlers run the steps themselves (a request may hold several
// documents); tests run a whole replacement.
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replaced {
    /// Written; points of earlier versions deleted.
    Done {
        /// Points of earlier versions deleted.
        deleted: usize,
    },
    /// A newer version, or a delete, came first: nothing written.
    Superseded {
        /// The generation that won.
        by: u64,
    },
}

/// Step 1: claims `generation` of `doc_id`; `Some(newer)` when superseded.
pub async fn claim(
    state: &State,
    collection: &str,
    doc_id: &str,
    generation: u64,
) -> Result<Option<u64>, Error> {
    match &state.jobs {
        Some(jobs) => jobs.claim(collection, doc_id, generation).await,
        None => Ok(None),
    }
}

/// Step 2: writes `chunks` (of documents claimed at `generation`) in one
/// batch; returns the vectors' dimension.
pub async fn write(
    state: &State,
    collection: &str,
    chunks: Vec<Chunk>,
    generation: u64,
) -> Result<usize, Error> {
    write_chunks(
        &state.vectors,
        &state.embedder,
        &state.keywords,
        collection,
        chunks,
        Write::Replace(generation),
    )
    .await
}

/// The generation of a version, a delete or a drop newer than
/// `generation` recorded for `doc_id`, if any.
pub async fn newer(
    state: &State,
    collection: &str,
    doc_id: &str,
    generation: u64,
) -> Result<Option<u64>, Error> {
    match &state.jobs {
        Some(jobs) => {
            let newest = jobs.newest(collection, doc_id).await?;
            Ok((newest > generation).then_some(newest))
        }
        None => Ok(None),
    }
}

/// Steps 3 and 4: deletes the versions of `doc_id` before `generation`,
/// then everything before a newer generation recorded meanwhile. Returns
/// the points deleted.
pub async fn finish(
    state: &State,
    collection: &str,
    doc_id: &str,
    generation: u64,
) -> Result<usize, Error> {
    let mut deleted = state
        .vectors
        .delete(collection, &older_than(doc_id, generation))
        .await?
        .unwrap_or(0);
    if let Some(jobs) = &state.jobs {
        let newest = jobs.newest(collection, doc_id).await?;
        if newest > generation {
            deleted += state
                .vectors
                .delete(collection, &older_than(doc_id, newest))
                .await?
                .unwrap_or(0);
        }
    }
    Ok(deleted)
}

/// Replaces every chunk of one document by `chunks` as version
/// `generation`: [`claim`], [`write`], [`finish`].
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub async fn replace(
    state: &State,
    collection: &str,
    doc_id: &str,
    chunks: Vec<Chunk>,
    generation: u64,
) -> Result<Replaced, Error> {
    if let Some(by) = claim(state, collection, doc_id, generation).await? {
        return Ok(Replaced::Superseded { by });
    }
    write(state, collection, chunks, generation).await?;
    let deleted = finish(state, collection, doc_id, generation).await?;
    Ok(Replaced::Done { deleted })
}

/// Deletes every chunk of `doc_id`, and any version of it submitted
/// before `generation` (now, [`new_generation`]) that is still to be
/// written. Returns the points deleted, `None` when the collection does not
/// exist (the delete is recorded all the same, so that a job queued for it
/// writes nothing).
pub async fn delete(
    state: &State,
    collection: &str,
    doc_id: &str,
    generation: u64,
) -> Result<Option<usize>, Error> {
    if let Some(jobs) = &state.jobs {
        jobs.tombstone(collection, doc_id, generation).await?;
    }
    state
        .vectors
        .delete(collection, &older_than(doc_id, generation))
        .await
}

/// Drops `collection`, and every version submitted before now that is
/// still to be written to it. Returns the points it held, `None` when it
/// does not exist.
pub async fn drop_collection(state: &State, collection: &str) -> Result<Option<usize>, Error> {
    if let Some(jobs) = &state.jobs {
        jobs.tombstone_collection(collection, new_generation())
            .await?;
    }
    state.vectors.drop_collection(collection).await
}
