//! One tenant's view of the vector store: the only way handlers reach it.
//!
//! Tenants share collections (Qdrant's recommended multitenancy: one
//! collection, partitioned by a payload field with an `is_tenant` index)
//! rather than getting a collection each: a deployment with hundreds of
//! tenants would otherwise hold hundreds of collections per name, each with
//! its own segments, index and memory. Every read, write and delete of a
//! tenant carries a condition on [`ChunkPayload::TENANT`]: the tenant's id,
//! or, for `default`, no tenant at all (so the points written before
//! tenants existed stay `default`'s, and nothing needs migrating). A
//! tenant's point ids are derived from its id too, so two tenants writing
//! the same document in the same collection never overwrite each other.

use std::sync::Arc;

use ragwire_schemas::info::VectorCluster;
use ragwire_schemas::TenantId;
use serde_json::Value;
use uuid::Uuid;

use super::{ChunkPayload, Cond, Hit, Layout, Point, Query, Scalar, VectorStore};
use crate::error::Error;

/// The namespace of tenants' point ids (UUIDv5 of the tenant and the id a
/// point would have for `default`).
const TENANT_IDS: Uuid = Uuid::from_u128(0x6d1c_1e59_8f0a_4c53_9b57_2a0e_3f4d_7a21);

/// The vector store as one tenant sees it. Cheap to clone.
#[derive(Clone)]
pub struct TenantVectors {
    store: Arc<dyn VectorStore>,
    tenant: TenantId,
}

impl TenantVectors {
    /// `tenant`'s part of `store`.
    pub fn new(store: Arc<dyn VectorStore>, tenant: TenantId) -> TenantVectors {
        TenantVectors { store, tenant }
    }

    /// The same store as `tenant` sees it.
    pub fn for_tenant(&self, tenant: &TenantId) -> TenantVectors {
        TenantVectors::new(self.store.clone(), tenant.clone())
    }

    /// The condition every one of this tenant's points meets.
    pub fn scope(&self) -> Cond {
        if self.tenant.is_default() {
            Cond::Missing {
                key: ChunkPayload::TENANT.into(),
            }
        } else {
            Cond::Eq {
                key: ChunkPayload::TENANT.into(),
                value: Scalar::Str(self.tenant.as_str().into()),
            }
        }
    }

    fn scoped(&self, filter: &[Cond]) -> Vec<Cond> {
        let mut conds = Vec::with_capacity(filter.len() + 1);
        conds.push(self.scope());
        conds.extend_from_slice(filter);
        conds
    }

    /// Writes `points` as this tenant's (see [`VectorStore::upsert`]).
    pub async fn upsert(
        &self,
        collection: &str,
        dim: usize,
        mut points: Vec<Point>,
    ) -> Result<(), Error> {
        if self.tenant.is_default() {
            for p in &mut points {
                p.payload.remove(ChunkPayload::TENANT);
            }
        } else {
            for p in &mut points {
                let mut name = Vec::with_capacity(self.tenant.as_str().len() + 17);
                name.extend_from_slice(self.tenant.as_str().as_bytes());
                name.push(b'/');
                name.extend_from_slice(p.id.as_bytes().as_slice());
                p.id = Uuid::new_v5(&TENANT_IDS, &name);
                p.payload.insert(
                    ChunkPayload::TENANT.into(),
                    Value::String(self.tenant.as_str().into()),
                );
            }
        }
        self.store.upsert(collection, dim, points).await
    }

    /// The collection's layout, shared by its tenants (a collection has
    /// one dimension); `None` when it does not exist.
    pub async fn layout(&self, collection: &str) -> Result<Option<Layout>, Error> {
        self.store.layout(collection).await
    }

    /// This tenant's best points (see [`VectorStore::search`]). A tenant
    /// other than `default` without a point in the collection gets the 404
    /// of a missing collection, so whether another tenant has one of that
    /// name shows nowhere.
    pub async fn search(
        &self,
        collection: &str,
        query: Query,
        limit: usize,
        filter: &[Cond],
    ) -> Result<Vec<Hit>, Error> {
        let hits = self
            .store
            .search(collection, query, limit, &self.scoped(filter))
            .await?;
        if hits.is_empty() && !self.tenant.is_default() && self.count(collection).await? == 0 {
            return Err(super::missing(collection));
        }
        Ok(hits)
    }

    /// This tenant's points in the collection (0 when it has none).
    pub async fn count(&self, collection: &str) -> Result<usize, Error> {
        self.store.count(collection, &[self.scope()]).await
    }

    /// Whether this tenant sees the collection: `default` every existing
    /// one (as before tenants), another tenant those it has points in.
    pub async fn sees(&self, collection: &str) -> Result<bool, Error> {
        if self.tenant.is_default() {
            Ok(self.store.layout(collection).await?.is_some())
        } else {
            Ok(self.count(collection).await? > 0)
        }
    }

    /// The collections this tenant sees, sorted.
    pub async fn collections(&self) -> Result<Vec<String>, Error> {
        let all = self.store.collections().await?;
        if self.tenant.is_default() {
            return Ok(all);
        }
        let mut mine = Vec::new();
        for name in all {
            if self.count(&name).await? > 0 {
                mine.push(name);
            }
        }
        Ok(mine)
    }

    /// Deletes this tenant's points of the collection; returns how many,
    /// `None` when the tenant does not see it. The collection itself goes
    /// too when it held nothing else.
    pub async fn drop_collection(&self, collection: &str) -> Result<Option<usize>, Error> {
        if !self.sees(collection).await? {
            return Ok(None);
        }
        let mine = self.count(collection).await?;
        let all = self.store.count(collection, &[]).await?;
        if mine == all && self.tenant.is_default() {
            // The collection as before tenants: dropped whole, so that it
            // can be made again with another dimension.
            return self.store.drop_collection(collection).await;
        }
        self.store
            .delete(collection, &[self.scope()])
            .await
            .map(|n| n.or(Some(0)))
    }

    /// Deletes this tenant's points matching `filter` (never an empty one);
    /// see [`VectorStore::delete`].
    pub async fn delete(&self, collection: &str, filter: &[Cond]) -> Result<Option<usize>, Error> {
        if filter.is_empty() {
            return Err(Error::Internal("a delete without a filter".into()));
        }
        if !self.sees(collection).await? {
            return Ok(None);
        }
        self.store.delete(collection, &self.scoped(filter)).await
    }

    /// Makes everything written so far durable (for every tenant).
    pub async fn flush(&self) -> Result<(), Error> {
        self.store.flush().await
    }

    /// The state of the cluster the store runs on.
    pub async fn cluster(&self) -> Option<VectorCluster> {
        self.store.cluster().await
    }
}
