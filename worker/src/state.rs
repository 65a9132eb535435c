//! What every handler shares: the configuration and the backend clients.

use std::sync::Arc;

use crate::backends::embedder::{EmbedBackend, OpenAiEmbedder};
use crate::backends::local::LocalEmbedder;
use crate::backends::{http_client, Embedder, Llm, Reranker};
use crate::config::{ms, Config};
use crate::error::{Backend, Error};
use crate::graph::{BoltGraph, GraphStore, SqliteGraph};
use crate::jobs::Jobs;
use crate::retry::RetryPolicy;
use crate::vectors::embedded::EmbeddedStore;
use crate::vectors::keywords::Keywords;
use crate::vectors::qdrant::QdrantStore;
use crate::vectors::VectorStore;

/// Shared by all requests of a worker. Cheap to clone.
#[derive(Clone)]
pub struct State {
    /// The worker's settings.
    pub config: Arc<Config>,
    /// The chat LLM's provider chain.
    pub llm: Llm,
    /// Embeddings, micro-batched and cached.
    pub embedder: Embedder,
    /// `None` when no reranker URL is configured.
    pub reranker: Option<Reranker>,
    /// The vector store.
    pub vectors: Arc<dyn VectorStore>,
    /// The BM25 encoder of chunks and queries.
    pub keywords: Keywords,
    /// The graph store.
    pub graph: Arc<dyn GraphStore>,
    /// The ingest job streams; set once the worker is connected.
    pub jobs: Option<Jobs>,
}

impl State {
    /// Builds every backend client once (needs a Tokio runtime).
    pub fn new(config: Config) -> Result<State, Error> {
        let http = http_client();
        let retry = RetryPolicy::from_config(&config.llm);
        let mut batching = config.embed.batching();
        let backend: Arc<dyn EmbedBackend> = match &config.embed.base_url {
            Some(url) => OpenAiEmbedder::new(
                url,
                config
                    .embed
                    .api_key
                    .as_deref()
                    .or(config.llm.api_key.as_deref()),
                config.embed.model.clone(),
                config.embed.encoding,
                ms(config.embed.timeout_ms),
                retry,
                http.clone(),
            )?,
            None => {
                // CPU-bound and parallel inside: one call at a time, while
                // requests queue into the next batch.
                batching.max_concurrency = 1;
                batching.max_batch = batching.max_batch.min(64);
                LocalEmbedder::load(&config.model_dir())?
            }
        };
        let data_dir = &config.worker.data_dir;
        let vectors: Arc<dyn VectorStore> = match &config.vectors.qdrant_url {
            Some(url) => QdrantStore::connect(
                url,
                config.vectors.qdrant_api_key.as_deref(),
                ms(config.vectors.timeout_ms),
            )?,
            None => EmbeddedStore::open(&data_dir.join("vectors"), config.vectors.optimize_every)?,
        };
        let graph: Arc<dyn GraphStore> = match &config.graph.neo4j_uri {
            Some(_) => Arc::new(BoltGraph::connect(&config.graph)?),
            None => Arc::new(SqliteGraph::open(&data_dir.join("graph.sqlite"))?),
        };
        Ok(State {
            llm: Llm::new(&config.llm, &config.extract.chain, http.clone()),
            reranker: Reranker::new(&config.rerank, retry, http),
            embedder: Embedder::spawn(backend, batching),
            vectors,
            keywords: Keywords::new()?,
            graph,
            jobs: None,
            config: Arc::new(config),
        })
    }

    /// This state with `backend` behind the embedding batcher instead of
    /// the configured one (for tests and benchmarks that bring their own).
    /// The configured backend was built by [`State::new`] all the same: with
    /// no embedding URL, the local model must load.
    pub fn with_embed_backend(mut self, backend: Arc<dyn EmbedBackend>) -> State {
        self.embedder = Embedder::spawn(backend, self.config.embed.batching());
        self
    }

    /// The ingest jobs, or a 503 saying why they are off.
    pub fn jobs(&self) -> Result<&Jobs, Error> {
        self.jobs.as_ref().ok_or_else(|| Error::Unavailable {
            backend: Backend::JetStream,
            message: "ingest jobs are off in this worker (RAGWIRE_JOBS=false, or JetStream was not usable at start: see its log)".into(),
        })
    }
}
