//! The ragwire worker: a NATS micro-service that answers ragwire's subjects.
//!
//! - [`config`]: every setting, from defaults, an optional TOML file and the
//!   environment.
//! - [`connect`]: the NATS connection (credentials, TLS, a clear error when no
//!   server is there).
//! - [`service`]: registers one endpoint per subject and runs requests
//!   concurrently under a bound, with graceful shutdown.
//! - [`handlers`]: one file per subject; each decodes its request, checks it
//!   and calls the backends.
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
//! - [`telemetry`]: tracing set-up.

pub mod backends;
pub mod config;
pub mod connect;
pub mod error;
pub mod extract;
pub mod graph;
pub mod handlers;
pub mod jobs;
pub mod retry;
pub mod service;
pub mod state;
pub mod telemetry;
pub mod vectors;

pub use config::Config;
pub use error::Error;
pub use service::{start, WorkerHandle};
pub use state::State;
