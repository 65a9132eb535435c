//! The ragwire worker: a NATS micro-service that answers ragwire's subjects.
//!
//! - [`config`]: the worker's settings, one section per backend declared
//!   beside its code (loaded by `ragwire_common::settings`).
//! - `service`: registers one endpoint per subject and runs requests
//!   concurrently under a bound, with graceful shutdown ([`start`],
//!   [`WorkerHandle`]).
//! - `handlers`: one file per subject; each decodes its request, checks it
//!   and calls the backends; `validate` holds the checks they share, and
//!   `ranking` the chunk search of `search` and `retrieve`.
//! - `backends`: the LLM provider chain, the micro-batched embedder (over
//!   an embedding service or the local model) and the reranker client,
//!   each cheap to clone and built once.
//! - `extract`: knowledge-graph extraction: hedged provider chain, strict
//!   and nudge attempts, JSON repair, schema validation, windows.
//! - `chunking`: documents cut into overlapping chunks.
//! - `jobs`: durable ingest jobs on JetStream: submission, the shared
//!   consumer, retries, dead letters and replay, status and progress.
//! - `graph`: the graph stores (SQLite embedded, a Bolt server) and the
//!   read-only guard for caller Cypher.
//! - `vectors`: the vector stores (Qdrant's embedded engine, a Qdrant
//!   server) and the one write path of chunks.
//! - `documents`: versions of documents: replacing a document's chunks,
//!   deleting a document or a collection, with the generation register of
//!   `jobs` deciding what wins.
//! - `retry`: the one place where failed backend calls are retried.
//! - [`error`]: the crate's error enum and its mapping to error replies.
//! - `metrics`: the worker's Prometheus metrics, served on
//!   `RAGWIRE_METRICS_ADDR`.
//! - `state`: what every handler shares, built whole at start; `waiting`:
//!   which backend a request waits on, for the 504 of its deadline.
//!
//! The modules behind these are private; tests and benchmarks reach the
//! state, stores and backends through [`testing`] (the `testing` feature).

mod backends;
mod chunking;
pub mod config;
mod documents;
pub mod error;
mod extract;
mod graph;
mod handlers;
mod jobs;
mod metrics;
mod ranking;
mod retry;
mod service;
mod state;
mod validate;
mod vectors;
mod waiting;

pub use config::Config;
pub use error::Error;
pub use service::{start, WorkerHandle};

/// What tests and benchmarks reach inside a worker: its state and stores,
/// an embedding backend of their own, the request decoder. Not a stable
/// API: it follows the worker's internals.
#[cfg(feature = "testing")]
pub mod testing {
    pub use crate::backends::embedder::EmbedBackend;
    pub use crate::graph::bolt::BoltGraph;
    pub use crate::graph::sqlite::SqliteGraph;
    pub use crate::graph::{GraphStore, Provenance};
    pub use crate::handlers::decode;
    pub use crate::service::start_with_state;
    pub use crate::state::{State, StateBuilder};
    pub use crate::vectors::embedded::EmbeddedStore;
    pub use crate::vectors::keywords::Keywords;
    pub use crate::vectors::qdrant::QdrantStore;
    pub use crate::vectors::VectorStore;
    pub use crate::vectors::{new_generation, Cond, Point, Query, Scalar, TenantVectors};
    /// Versions of documents, step by step (a write interrupted between
    /// its steps, as by a killed worker).
    pub mod documents {
        pub use crate::documents::{claim, delete, finish, replace, write, Replaced};
    }
}
