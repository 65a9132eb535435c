//! Clients for the backends a worker calls. Each is built once at start and
//! is cheap to clone.
//!
//! - [`upstream`]: the shared HTTP connection pool, an `async-openai` client
//!   for any OpenAI-compatible base URL, and HTTP error statuses (and
//!   `Retry-After`) mapped to [`crate::Error`].
//! - [`llm`]: chat completions over a chain of providers, with model aliases.
//! - [`embedder`]: the embedding settings, the backend trait, and the
//!   [`Embedder`] that micro-batches and caches in front of a backend:
//!   [`embedding_service`] (an OpenAI-compatible server) or [`local`] (a
//!   BERT model run in-process).
//! - [`reranker`]: a reranker over HTTP (TEI or the seed gateway's format).

pub mod embedder;
pub mod embedding_service;
pub mod llm;
pub mod local;
pub mod reranker;
pub mod upstream;

pub use embedder::Embedder;
pub use llm::Llm;
pub use reranker::Reranker;
pub use upstream::http_client;
