//! One tenant's view of the graph store: the only way handlers reach it.
//!
//! A tenant's node ids and document ids are stored with the tenant's mark
//! in front (`{tenant}` and U+001F, a character no id may contain), so
//! tenants that use the same ids get distinct nodes, a relationship only
//! ever joins nodes of one tenant (its ends are found by stored id), and a
//! document delete or replacement of one tenant cannot touch another's.
//! The `default` tenant's ids are stored as given, as before tenants
//! existed, so its graph needs no migration. Reads strip the mark; seeds
//! are looked up among the tenant's own nodes only; raw Cypher, which could
//! reach any node, is the `default` tenant's alone.

use std::sync::Arc;

use ragwire_schemas::graph::GraphData;
use ragwire_schemas::retrieve::Subgraph;
use ragwire_schemas::{JsonMap, TenantId};
use serde_json::Value;

use super::{GraphStore, Provenance};
use crate::error::Error;

/// What ends a tenant's mark in a stored id; refused in the ids and
/// document ids of every tenant.
pub const MARK_END: char = '\u{1f}';

/// The graph store as one tenant sees it. Cheap to clone.
#[derive(Clone)]
pub struct TenantGraph {
    store: Arc<dyn GraphStore>,
    tenant: TenantId,
    /// `{tenant}\u{1f}`, or empty for `default`.
    mark: Arc<str>,
}

impl TenantGraph {
    /// `tenant`'s part of `store`.
    pub fn new(store: Arc<dyn GraphStore>, tenant: TenantId) -> TenantGraph {
        let mark = if tenant.is_default() {
            String::new()
        } else {
            format!("{tenant}{MARK_END}")
        };
        TenantGraph {
            store,
            tenant,
            mark: mark.into(),
        }
    }

    /// The same store as `tenant` sees it.
    pub fn for_tenant(&self, tenant: &TenantId) -> TenantGraph {
        TenantGraph::new(self.store.clone(), tenant.clone())
    }

    /// The id as stored; 400 when it holds [`MARK_END`] (which could
    /// otherwise name another tenant's node or document).
    fn stored(&self, id: &str) -> Result<String, Error> {
        if id.contains(MARK_END) {
            return Err(Error::bad_request(format!(
                "the id `{}` contains U+001F, which ids may not",
                id.escape_debug()
            )));
        }
        Ok(self.marked(id))
    }

    fn marked(&self, id: &str) -> String {
        if self.mark.is_empty() {
            id.to_owned()
        } else {
            let mut stored = String::with_capacity(self.mark.len() + id.len());
            stored.push_str(&self.mark);
            stored.push_str(id);
            stored
        }
    }

    /// The id as the tenant wrote it.
    fn bare(&self, mut stored: String) -> String {
        if !self.mark.is_empty() && stored.starts_with(&*self.mark) {
            stored.drain(..self.mark.len());
        }
        stored
    }

    /// See [`GraphStore::upsert`].
    pub async fn upsert(
        &self,
        mut data: GraphData,
        provenance: Provenance,
    ) -> Result<(usize, usize), Error> {
        for n in &mut data.nodes {
            n.id = self.stored(&n.id)?;
        }
        for e in &mut data.edges {
            e.src = self.stored(&e.src)?;
            e.dst = self.stored(&e.dst)?;
        }
        let provenance = match provenance {
            Provenance::Unattributed => Provenance::Unattributed,
            Provenance::Document(doc) => Provenance::Document(self.stored(&doc)?),
            Provenance::Replace { doc, generation } => Provenance::Replace {
                doc: self.stored(&doc)?,
                generation,
            },
        };
        self.store
            .upsert(data, provenance)
            .await
            .map_err(|e| self.unmarked(e))
    }

    /// See [`GraphStore::delete_document`].
    pub async fn delete_document(
        &self,
        doc_id: &str,
        generation: u64,
    ) -> Result<(usize, usize), Error> {
        self.store
            .delete_document(&self.stored(doc_id)?, generation)
            .await
            .map_err(|e| self.unmarked(e))
    }

    /// Deletes every node and relationship of this tenant; returns their
    /// numbers.
    pub async fn clear(&self) -> Result<(usize, usize), Error> {
        self.store.clear(&self.mark).await
    }

    /// See [`GraphStore::neighbourhood`]; the seeds are this tenant's ids.
    pub async fn neighbourhood(
        &self,
        seeds: Vec<String>,
        max_hops: u8,
        limit: usize,
    ) -> Result<Subgraph, Error> {
        // Seeds holding the mark's end name nothing of this tenant's.
        let seeds = seeds
            .iter()
            .filter(|s| !s.contains(MARK_END))
            .map(|s| self.marked(s))
            .collect();
        let mut graph = self.store.neighbourhood(seeds, max_hops, limit).await?;
        if !self.mark.is_empty() {
            for n in &mut graph.nodes {
                n.id = self.bare(std::mem::take(&mut n.id));
            }
            for e in &mut graph.edges {
                e.src = self.bare(std::mem::take(&mut e.src));
                e.dst = self.bare(std::mem::take(&mut e.dst));
            }
        }
        Ok(graph)
    }

    /// Ids of this tenant's nodes that `text` mentions (see
    /// [`GraphStore::find_seeds`]).
    pub async fn find_seeds(&self, text: &str, limit: usize) -> Result<Vec<String>, Error> {
        let ids = self.store.find_seeds(text, limit, &self.mark).await?;
        Ok(ids.into_iter().map(|id| self.bare(id)).collect())
    }

    /// Numbers of stored nodes and edges, of every tenant.
    // Read by tests and benchmarks only.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub async fn counts(&self) -> Result<(usize, usize), Error> {
        self.store.counts().await
    }

    /// Raw read-only Cypher (see [`GraphStore::query`]): the `default`
    /// tenant's alone. A query can name any node, and no rewriting of
    /// Cypher text confines it reliably (aggregates, procedures, string
    /// tricks), so another tenant is refused with a 403 before the store
    /// sees the query.
    pub async fn query(&self, cypher: &str, params: JsonMap) -> Result<Vec<Value>, Error> {
        if !self.tenant.is_default() {
            return Err(Error::Forbidden(format!(
                "tenant `{}` cannot run raw Cypher: the graph store is shared by tenants and \
                 a query could read any of them; use rag.retrieve and rag.graph.upsert, which \
                 are confined to your tenant",
                self.tenant
            )));
        }
        self.store.query(cypher, params).await
    }

    /// An error of the store with this tenant's mark taken out of the ids
    /// it names.
    fn unmarked(&self, e: Error) -> Error {
        if self.mark.is_empty() {
            return e;
        }
        match e {
            Error::BadRequest(m) => Error::BadRequest(m.replace(&*self.mark, "")),
            Error::Conflict(m) => Error::Conflict(m.replace(&*self.mark, "")),
            e => e,
        }
    }
}
