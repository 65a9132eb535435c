//! Clients for the backends a worker calls. Each is built once at start and
//! is cheap to clone.
//!
//! - [`openai`]: an `async-openai` client for any OpenAI-compatible base URL,
//!   with HTTP error statuses (and `Retry-After`) mapped to [`crate::Error`].
//! - [`llm`]: chat completions over a chain of providers, with model aliases.
//! - [`embedder`]: the embedding backend trait and its OpenAI-compatible
//!   implementation, and [`local`], a BERT model run in-process;
//!   [`batcher`] micro-batches concurrent requests into either.
//! - [`reranker`]: a reranker over HTTP (TEI or the seed gateway's format).

pub mod batcher;
pub mod embedder;
pub mod llm;
pub mod local;
pub mod openai;
pub mod reranker;

pub use batcher::Embedder;
pub use llm::Llm;
pub use reranker::Reranker;

/// The HTTP client shared by all backends (one connection pool).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .connect_timeout(std::time::Duration::from_secs(5))
        .build()
        .expect("TLS backend initialises")
}
