//! The ragwire worker: a NATS micro-service that answers ragwire's subjects.
//!
//! - [`config`]: the worker's settings, one section per backend declared
//!   beside its code (loaded by `ragwire_common::settings`).
//! - [`service`]: registers one endpoint per subject and runs requests
//!   concurrently under a bound, with graceful shutdown.
//! - [`handlers`]: one file per subject; each decodes its request, checks it
//!   and calls the backends; [`validate`] holds the checks they share.
//! - [`backends`]: the LLM provider chain, the micro-batched embedder and the
//!   reranker client, each cheap to clone and built once.
//! - [`extract`]: knowledge-graph extraction: hedged provider chain, strict
//!   and nudge attempts, JSON repair, schema validation, windows.
//! - [`jobs`]: durable ingest jobs on JetStream: submission, the shared
//!   consumer, retries, dead letters and replay, status and progress.
//! - [`graph`]: the graph stores (SQLite embedded, a Bolt server) and the
//!   read-only guard for caller Cypher.
//! - [`vectors`]: the vector stores (Qdrant's embedded engine, a Qdrant server).
//! - [`retry`]: the one place where failed backend calls are retried.
//! - [`error`]: the crate's error enum and its mapping to error replies.
//! - [`state`]: what every handler shares; [`waiting`]: which backend a
//!   request waits on, for the 504 of its deadline.

pub mod backends;
pub mod config;
pub mod error;
pub mod extract;
pub mod graph;
pub mod handlers;
pub mod jobs;
pub mod retry;
pub mod service;
pub mod state;
pub mod validate;
pub mod vectors;
pub mod waiting;

pub use config::Config;
pub use error::Error;
pub use service::{start, WorkerHandle};
pub use state::State;
