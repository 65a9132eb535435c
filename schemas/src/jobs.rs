//! `rag.jobs.*`: durable bulk indexing on JetStream. A job is one document
//! (its text, or its chunks) to chunk, embed, store and optionally turn into
//! a knowledge graph, processed by whichever worker is free.

use serde::{Deserialize, Serialize};

use crate::{JsonMap, TenantId};

/// A chunk given as is (no further splitting).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct JobChunk {
    /// The chunk's text.
    pub text: String,
    /// Stable id of the chunk within its document. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_id: Option<String>,
    /// Free-form metadata, kept in the point's payload. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonMap>,
}

impl JobChunk {
    /// A chunk of `text` without id or metadata.
    pub fn new(text: impl Into<String>) -> JobChunk {
        JobChunk {
            text: text.into(),
            chunk_id: None,
            metadata: None,
        }
    }
}

/// One document of a submission: `text` to split, or ready `chunks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct JobDocument {
    /// The document's id (`ragwire ingest` uses the file's path).
    pub doc_id: String,
    /// The whole text, split into chunks as `chunking` says; give either
    /// `text` or `chunks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Ready chunks, written as they are; give either `text` or `chunks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<Vec<JobChunk>>,
    /// Copied to every chunk's metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonMap>,
}

impl JobDocument {
    /// The document `doc_id` given as a whole `text`, without metadata.
    pub fn from_text(doc_id: impl Into<String>, text: impl Into<String>) -> JobDocument {
        JobDocument {
            doc_id: doc_id.into(),
            text: Some(text.into()),
            chunks: None,
            metadata: None,
        }
    }

    /// The document `doc_id` given as ready `chunks`, without metadata.
    pub fn from_chunks(doc_id: impl Into<String>, chunks: Vec<JobChunk>) -> JobDocument {
        JobDocument {
            doc_id: doc_id.into(),
            text: None,
            chunks: Some(chunks),
            metadata: None,
        }
    }
}

/// How `text` is split into chunks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Chunking {
    /// Most characters per chunk. Default 1000.
    #[serde(default = "default_chunk_size", deserialize_with = "crate::lax::usize")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::usize")
    )]
    pub size: usize,
    /// Characters shared by neighbouring chunks. Default 100.
    #[serde(
        default = "default_chunk_overlap",
        deserialize_with = "crate::lax::usize"
    )]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::usize")
    )]
    pub overlap: usize,
}

fn default_chunk_size() -> usize {
    1000
}

fn default_chunk_overlap() -> usize {
    100
}

impl Default for Chunking {
    fn default() -> Self {
        Chunking {
            size: default_chunk_size(),
            overlap: default_chunk_overlap(),
        }
    }
}

/// Request of `rag.jobs.submit` (`POST /ingest`): one job per document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct SubmitRequest {
    /// The vector collection the chunks go to. Default `chunks`.
    #[serde(default = "default_collection")]
    pub collection: String,
    /// The documents, one job each.
    pub documents: Vec<JobDocument>,
    /// Also extract a knowledge graph from each document's whole text (the
    /// `graph.extract` path) and store it. Default `false`.
    #[serde(default, deserialize_with = "crate::lax::bool")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::bool")
    )]
    pub extract_graph: bool,
    /// How `text` is split. Default: 1000 characters overlapping by 100.
    #[serde(default)]
    pub chunking: Option<Chunking>,
}

fn default_collection() -> String {
    "chunks".into()
}

impl SubmitRequest {
    /// `documents` into `collection`, without a graph, split the default
    /// way.
    pub fn new(collection: impl Into<String>, documents: Vec<JobDocument>) -> SubmitRequest {
        SubmitRequest {
            collection: collection.into(),
            documents,
            extract_graph: false,
            chunking: None,
        }
    }
}

/// A submitted job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct SubmittedJob {
    /// The job's id: a hash of the collection, the document id and the
    /// content (with the options).
    pub job_id: String,
    /// The document's id.
    pub doc_id: String,
    /// The same document (same collection, id and content) was submitted
    /// before: no new work was queued.
    pub duplicate: bool,
}

/// Reply of `rag.jobs.submit` (HTTP 202).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct SubmitReply {
    /// One entry per document, in request order.
    pub jobs: Vec<SubmittedJob>,
}

/// The work item on the stream: one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct WorkItem {
    /// The job's id, also the message's `Nats-Msg-Id`.
    pub job_id: String,
    /// The vector collection the chunks go to.
    pub collection: String,
    /// The document to process.
    pub document: JobDocument,
    /// Also extract a knowledge graph and store it.
    pub extract_graph: bool,
    /// How the document's `text` is split.
    pub chunking: Chunking,
    /// The version of the document this job writes: its submission time in
    /// microseconds since the Unix epoch. A job finds a newer version or a
    /// delete of its document recorded and writes nothing. Default 0 (items
    /// queued before generations: the time the job runs).
    #[serde(default)]
    pub generation: u64,
    /// The tenant the job runs as: the one that submitted it (left out for
    /// `default`). Set by the worker that queues the job, never by a
    /// request.
    #[serde(default, skip_serializing_if = "TenantId::is_default")]
    #[cfg_attr(feature = "json-schema", schemars(with = "Option<String>"))]
    pub tenant: TenantId,
    /// Set on the job that deletes a deleted tenant's data (`tenants.purge`)
    /// instead of processing a document: the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "json-schema", schemars(with = "Option<String>"))]
    pub purge: Option<TenantId>,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// `queued`: waiting in the work stream, also between retries.
    Queued,
    /// `running`: a worker is processing it.
    Running,
    /// `done`: every write made.
    Done,
    /// `failed`: dead-lettered, or the submission could not be queued.
    Failed,
}

/// A job's status, kept in the JetStream key-value bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct JobStatus {
    /// The job's id.
    pub job_id: String,
    /// The document's id.
    pub doc_id: String,
    /// The vector collection the chunks go to.
    pub collection: String,
    /// Where the job is.
    pub state: JobState,
    /// Chunks in the document.
    pub chunks_total: usize,
    /// Chunks embedded and written so far.
    pub chunks_done: usize,
    /// Deliveries so far (1 on the first run).
    pub attempts: u64,
    /// The last error, when a run or the submission failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// `[nodes, edges]` stored, when the job extracted a graph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph: Option<[usize; 2]>,
    /// Times replayed from the dead-letter stream. Default 0.
    #[serde(default)]
    pub replays: u32,
    /// The version of the document the job writes (see
    /// `WorkItem::generation`). Default 0.
    #[serde(default)]
    pub generation: u64,
    /// The job wrote nothing: a newer version of the document, or its
    /// deletion, came first. Default `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub superseded: bool,
    /// The tenant whose job it is (left out for `default`); only that
    /// tenant sees it.
    #[serde(default, skip_serializing_if = "TenantId::is_default")]
    #[cfg_attr(feature = "json-schema", schemars(with = "Option<String>"))]
    pub tenant: TenantId,
    /// When the job was first submitted, RFC 3339 (UTC).
    pub created_at: String,
    /// When the status last changed, RFC 3339 (UTC).
    pub updated_at: String,
}

/// Request of `rag.tenants.purge` (`POST /tenants/purge`): delete the data
/// of a tenant the registry says is deleted, as a durable job. The admin
/// API's `DELETE /admin/tenants/{id}` sends it; a tenant's own subjects are
/// refused (403).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct PurgeRequest {
    /// The deleted tenant.
    #[cfg_attr(feature = "json-schema", schemars(with = "String"))]
    pub tenant: TenantId,
}

impl PurgeRequest {
    /// The id of the tenant's purge job: one per tenant, so asking twice
    /// finds the same job.
    pub fn job_id(&self) -> String {
        format!("purge{}", self.tenant)
    }
}

/// Request of `rag.jobs.status` (`GET /jobs/{job_id}`) and
/// `rag.jobs.replay` (`POST /jobs/{job_id}/replay`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct JobRef {
    /// The job's id, as `jobs.submit` returned it.
    pub job_id: String,
}

/// Reply of `rag.jobs.status` and `rag.jobs.replay`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct StatusReply {
    /// The job's status, its fields next to `ok`.
    #[serde(flatten)]
    pub status: JobStatus,
}

/// A job in the dead-letter stream, with the error that put it there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct DeadJob {
    /// The job as it was queued.
    pub item: WorkItem,
    /// The last error.
    pub error: String,
    /// HTTP-like code of the error.
    pub code: u16,
    /// Deliveries made.
    pub attempts: u64,
    /// When the job was dead-lettered, RFC 3339 (UTC).
    pub failed_at: String,
}

/// Request of `rag.jobs.dead` (`GET /jobs/dead`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct DeadRequest {
    /// Most entries returned (default 100).
    #[serde(default, deserialize_with = "crate::lax::opt_usize")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::opt_usize")
    )]
    pub limit: Option<usize>,
}

/// Reply of `rag.jobs.dead`: the oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct DeadReply {
    /// The dead jobs, at most `limit`.
    pub dead: Vec<DeadJob>,
}

/// A progress event on `{prefix}.jobs.events.{job_id}` (`rag.jobs.events.{job_id}`
/// by default), published as it happens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct JobEvent {
    /// The job's id.
    pub job_id: String,
    /// Counts from 1 within one delivery of the job.
    pub seq: u64,
    /// Where the job is.
    pub state: JobState,
    /// Chunks embedded and written so far.
    pub chunks_done: usize,
    /// Chunks in the document.
    pub chunks_total: usize,
    /// The error, when a run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
