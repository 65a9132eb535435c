//! Test support for ragwire: a fake OpenAI-compatible server (chat,
//! embeddings) and reranker that really listen on a local port, and helpers
//! that start workers and producers in-process against the real NATS server.
//!
//! The integration tests live in `tests/it/`; the benchmark reuses the fakes.

pub mod fake;
pub mod harness;

pub use fake::{Behaviour, FakeOpenAi, Scripted, ECHO_GRAPH};
pub use harness::*;
