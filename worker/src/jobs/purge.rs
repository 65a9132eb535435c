//! Deleting a deleted tenant's data, as a durable job: queued on the work
//! stream like an ingest job (so a worker that dies mid-way leaves it to
//! the next, and failures are retried and dead-lettered alike), with its
//! progress in its status and events. Only a tenant the registry says is
//! `deleted` is purged, whoever asks: the admin API's `DELETE` queues it,
//! and asking again is harmless.
//!
//! Steps, each one safe to run twice: the tenant's points in each
//! collection it has points in, its graph, then its job statuses, dead
//! letters and document register entries. Jobs of the tenant still queued
//! find it deleted when they come up, and write nothing.

use async_nats::jetstream::kv;
use futures::StreamExt;
use ragwire_schemas::jobs::{Chunking, JobDocument, JobStatus, PurgeRequest, WorkItem};
use ragwire_schemas::TenantId;
use serde::Deserialize;

use super::{internal, Jobs};
use crate::error::Error;
use crate::state::State;

/// What the workers read of a tenant's record in the registry the
/// producers keep (`{prefix}_tenants`, key `tenant.{id}`).
#[derive(Deserialize)]
struct TenantRecord {
    status: String,
}

impl Jobs {
    /// Whether the tenant registry says `tenant` is deleted. `default`
    /// never is; a tenant unknown to the registry is not (nothing says so).
    pub async fn tenant_deleted(&self, tenant: &TenantId) -> Result<bool, Error> {
        if tenant.is_default() {
            return Ok(false);
        }
        let bucket = match self.js.get_key_value(&self.tenants_bucket).await {
            Ok(bucket) => bucket,
            Err(e) if e.kind() == async_nats::jetstream::context::KeyValueErrorKind::GetBucket => {
                return Ok(false)
            }
            Err(e) => return Err(Error::jetstream("cannot open the tenant registry", e)),
        };
        let entry = bucket
            .entry(format!("tenant.{tenant}"))
            .await
            .map_err(|e| Error::jetstream("cannot read the tenant registry", e))?;
        Ok(match entry {
            Some(e) if e.operation == kv::Operation::Put => {
                serde_json::from_slice::<TenantRecord>(&e.value)
                    .map(|r| r.status == "deleted")
                    .unwrap_or(false)
            }
            _ => false,
        })
    }

    /// Queues the purge of `tenant`'s data (a `default` job, whose status
    /// the operator reads); 409 unless the registry says the tenant is
    /// deleted. A purge queued, running or done is reported as it is.
    pub async fn submit_purge(&self, tenant: &TenantId) -> Result<JobStatus, Error> {
        if tenant.is_default() {
            return Err(Error::bad_request(
                "the default tenant is no tenant of the registry: its data is not purged",
            ));
        }
        if !self.tenant_deleted(tenant).await? {
            return Err(Error::Conflict(format!(
                "tenant `{tenant}` is not deleted: only a deleted tenant's data is purged \
                 (DELETE /admin/tenants/{tenant})"
            )));
        }
        let job_id = PurgeRequest {
            tenant: tenant.clone(),
        }
        .job_id();
        let item = WorkItem {
            job_id: job_id.clone(),
            collection: String::new(),
            document: JobDocument::from_text(String::new(), String::new()),
            extract_graph: false,
            chunking: Chunking::default(),
            generation: crate::vectors::new_generation(),
            tenant: TenantId::default(),
            purge: Some(tenant.clone()),
        };
        self.enqueue(item, false).await?;
        self.status(&job_id).await
    }

    /// Deletes this tenant's job statuses, dead letters and document
    /// register entries; returns how many entries went.
    async fn purge_records(&self) -> Result<usize, Error> {
        let scope = format!("t.{}.", self.tenant);
        let mut keys = self
            .status
            .keys()
            .await
            .map_err(|e| Error::jetstream("cannot list the job statuses", e))?;
        let mut gone = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(|e| Error::jetstream("cannot list the job statuses", e))?;
            if key.starts_with(&scope) {
                gone.push((key, false));
            } else if !key.contains('.') {
                if let Some((status, _)) = self.entry(&key).await? {
                    if self.owns(&status.tenant) {
                        gone.push((key, true));
                    }
                }
            }
        }
        for (key, job) in &gone {
            if *job {
                self.forget_dead(key).await;
            }
            self.status
                .purge(key)
                .await
                .map_err(|e| Error::jetstream("cannot delete a job status", e))?;
        }
        Ok(gone.len())
    }
}

/// One step of a purge.
pub(crate) enum Step {
    /// The tenant's points of one collection.
    Collection(String),
    /// The tenant's graph.
    Graph,
    /// The tenant's job statuses, dead letters and register entries.
    Records,
}

/// The steps of purging `tenant`, in order: its records last, so that a
/// purge that stops half-way still finds what is left of its data.
pub(crate) async fn steps(state: &State, tenant: &TenantId) -> Result<Vec<Step>, Error> {
    if tenant.is_default() {
        return Err(internal("a purge of the default tenant"));
    }
    let scoped = state.for_tenant(tenant);
    let mut steps: Vec<Step> = scoped
        .vectors
        .collections()
        .await?
        .into_iter()
        .map(Step::Collection)
        .collect();
    steps.extend([Step::Graph, Step::Records]);
    Ok(steps)
}

/// Runs one step of purging `tenant`.
pub(crate) async fn step(state: &State, tenant: &TenantId, step: &Step) -> Result<(), Error> {
    let scoped = state.for_tenant(tenant);
    match step {
        Step::Collection(collection) => {
            let points = scoped.vectors.drop_collection(collection).await?;
            tracing::info!(%tenant, collection, ?points, "purged the tenant's points");
        }
        Step::Graph => {
            let (nodes, edges) = scoped.graph.clear().await?;
            tracing::info!(%tenant, nodes, edges, "purged the tenant's graph");
        }
        Step::Records => {
            let records = scoped.jobs()?.purge_records().await?;
            tracing::info!(%tenant, records, "purged the tenant's jobs");
        }
    }
    Ok(())
}
