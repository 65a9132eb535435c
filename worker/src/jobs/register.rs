//! The generation register: for each document (and each collection), the
//! generation of its newest version or of its deletion, kept in the job
//! status bucket under `doc.{collection}.{sha256 of doc_id}` and
//! `collection.{collection}`. A write of an older generation checks it
//! before and after writing, so a delete or a newer version always wins.
//! Entries expire with the bucket's statuses (30 days), as the jobs they
//! guard against do.

use async_nats::jetstream::kv;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::Jobs;
use crate::error::Error;

impl Jobs {
    /// The register key of a document; a tenant other than `default` has
    /// its own keys (`t.{tenant}.doc.…`), as it has its own documents.
    fn doc_key(&self, collection: &str, doc_id: &str) -> String {
        let digest = Sha256::digest(doc_id.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("{}doc.{collection}.{hex}", self.register_scope())
    }

    fn collection_key(&self, collection: &str) -> String {
        format!("{}collection.{collection}", self.register_scope())
    }

    fn register_scope(&self) -> String {
        if self.tenant.is_default() {
            String::new()
        } else {
            format!("t.{}.", self.tenant)
        }
    }

    /// The generation stored under `key` (0 when none) and its revision.
    async fn generation_at(&self, key: &str) -> Result<(u64, Option<u64>), Error> {
        let entry = self
            .status
            .entry(key)
            .await
            .map_err(|e| Error::jetstream("cannot read the document register", e))?;
        Ok(match entry {
            Some(e) if e.operation == kv::Operation::Put => (
                std::str::from_utf8(&e.value)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                Some(e.revision),
            ),
            Some(e) => (0, Some(e.revision)),
            None => (0, None),
        })
    }

    /// Raises the generation under `key` to `generation` unless it is
    /// higher already; returns the generation stored afterwards.
    async fn raise(&self, key: &str, generation: u64) -> Result<u64, Error> {
        loop {
            let (stored, revision) = self.generation_at(key).await?;
            if stored >= generation {
                return Ok(stored);
            }
            let value = Bytes::from(generation.to_string());
            // Compare-and-swap: two raisers racing, the higher one stays.
            let written = super::swap(&self.status, key, value, revision).await;
            match written {
                Ok(true) => return Ok(generation),
                Ok(false) => continue,
                Err(e) => return Err(Error::jetstream("cannot write the document register", e)),
            }
        }
    }

    /// The newest generation of the document: of its newest version, of
    /// its deletion or of its collection's drop; 0 when none is known.
    pub async fn newest(&self, collection: &str, doc_id: &str) -> Result<u64, Error> {
        let (doc, _) = self
            .generation_at(&self.doc_key(collection, doc_id))
            .await?;
        let (dropped, _) = self.generation_at(&self.collection_key(collection)).await?;
        Ok(doc.max(dropped))
    }

    /// Records that version `generation` of the document is being written.
    /// Returns `Some(newer)` when a newer version, a deletion or a drop came
    /// first: nothing of this version must be written. A version claimed
    /// twice (a job delivered again) is claimed again.
    pub async fn claim(
        &self,
        collection: &str,
        doc_id: &str,
        generation: u64,
    ) -> Result<Option<u64>, Error> {
        let (dropped, _) = self.generation_at(&self.collection_key(collection)).await?;
        if dropped > generation {
            return Ok(Some(dropped));
        }
        let stored = self
            .raise(&self.doc_key(collection, doc_id), generation)
            .await?;
        Ok((stored > generation).then_some(stored))
    }

    /// Records the deletion of the document at `generation`: versions
    /// before it are gone for good.
    pub async fn tombstone(
        &self,
        collection: &str,
        doc_id: &str,
        generation: u64,
    ) -> Result<(), Error> {
        self.raise(&self.doc_key(collection, doc_id), generation)
            .await
            .map(drop)
    }

    /// Records the drop of the collection at `generation`.
    pub async fn tombstone_collection(
        &self,
        collection: &str,
        generation: u64,
    ) -> Result<(), Error> {
        self.raise(&self.collection_key(collection), generation)
            .await
            .map(drop)
    }
}
