//! `rag.jobs.*`: durable bulk indexing on JetStream. A job is one document
//! (its text, or its chunks) to chunk, embed, store and optionally turn into
//! a knowledge graph, processed by whichever worker is free.

use serde::{Deserialize, Serialize};

use crate::JsonMap;

/// A chunk given as is (no further splitting).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobChunk {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonMap>,
}

/// One document of a submission: `text` to split, or ready `chunks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDocument {
    pub doc_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<Vec<JobChunk>>,
    /// Copied to every chunk's metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonMap>,
}

/// How `text` is split into chunks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Chunking {
    /// Most characters per chunk.
    #[serde(default = "default_chunk_size")]
    pub size: usize,
    /// Characters shared by neighbouring chunks.
    #[serde(default = "default_chunk_overlap")]
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
pub struct SubmitRequest {
    #[serde(default = "default_collection")]
    pub collection: String,
    pub documents: Vec<JobDocument>,
    /// Also extract a knowledge graph from each document and store it.
    #[serde(default)]
    pub extract_graph: bool,
    #[serde(default)]
    pub chunking: Option<Chunking>,
}

fn default_collection() -> String {
    "chunks".into()
}

/// A submitted job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmittedJob {
    pub job_id: String,
    pub doc_id: String,
    /// The same document (same collection, id and content) was submitted
    /// before: no new work was queued.
    pub duplicate: bool,
}

/// Reply of `rag.jobs.submit` (HTTP 202).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmitReply {
    pub jobs: Vec<SubmittedJob>,
}

/// The work item on the stream: one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkItem {
    pub job_id: String,
    pub collection: String,
    pub document: JobDocument,
    pub extract_graph: bool,
    pub chunking: Chunking,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
}

/// A job's status, kept in the JetStream key-value bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStatus {
    pub job_id: String,
    pub doc_id: String,
    pub collection: String,
    pub state: JobState,
    pub chunks_total: usize,
    pub chunks_done: usize,
    /// Deliveries so far (1 on the first run).
    pub attempts: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Nodes and edges stored, when the job extracted a graph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph: Option<[usize; 2]>,
    /// Times replayed from the dead-letter stream.
    #[serde(default)]
    pub replays: u32,
    /// RFC 3339.
    pub created_at: String,
    pub updated_at: String,
}

/// Request of `rag.jobs.status` (`GET /jobs/{job_id}`) and
/// `rag.jobs.replay` (`POST /jobs/{job_id}/replay`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRef {
    pub job_id: String,
}

/// Reply of `rag.jobs.status` and `rag.jobs.replay`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReply {
    #[serde(flatten)]
    pub status: JobStatus,
}

/// A job in the dead-letter stream, with the error that put it there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadJob {
    pub item: WorkItem,
    pub error: String,
    /// HTTP-like code of the error.
    pub code: u16,
    pub attempts: u64,
    pub failed_at: String,
}

/// Request of `rag.jobs.dead` (`GET /jobs/dead`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeadRequest {
    /// Most entries returned (default 100).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Reply of `rag.jobs.dead`: the oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadReply {
    pub dead: Vec<DeadJob>,
}

/// A progress event on `rag.jobs.events.{job_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEvent {
    pub job_id: String,
    /// Counts from 1 within one delivery of the job.
    pub seq: u64,
    pub state: JobState,
    pub chunks_done: usize,
    pub chunks_total: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
