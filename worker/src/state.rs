//! What every handler shares: the configuration and the backend clients.

use std::sync::Arc;

use ragwire_common::usage::Ledger;
use ragwire_schemas::TenantId;

use crate::backends::embedder::EmbedBackend;
use crate::backends::embedding_service::OpenAiEmbedder;
use crate::backends::local::LocalEmbedder;
use crate::backends::{http_client, Embedder, Llm, Reranker};
use crate::config::Config;
use crate::error::{Backend, Error};
use crate::graph::bolt::BoltGraph;
use crate::graph::sqlite::SqliteGraph;
use crate::graph::tenant::TenantGraph;
use crate::graph::GraphStore;
use crate::jobs::Jobs;
use crate::retry::RetryPolicy;
use crate::vectors::embedded::EmbeddedStore;
use crate::vectors::keywords::Keywords;
use crate::vectors::qdrant::QdrantStore;
use crate::vectors::{TenantVectors, VectorStore};

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
    /// The tenant the request runs as (`default` outside requests).
    pub tenant: TenantId,
    /// The vector store, as the tenant sees it.
    pub vectors: TenantVectors,
    /// The BM25 encoder of chunks and queries.
    pub keywords: Keywords,
    /// The graph store, as the tenant sees it.
    pub graph: TenantGraph,
    /// The ingest job streams; `None` when jobs are off (disabled, or
    /// JetStream was not usable at start).
    pub jobs: Option<Jobs>,
    /// Where tenants' LLM tokens and embedded texts are counted (once a
    /// producer reading the tenant registry has made the usage bucket).
    pub usage: Ledger,
}

impl State {
    /// A builder of the state of `config`.
    pub fn builder(config: Config) -> StateBuilder {
        StateBuilder {
            config,
            embed_backend: None,
        }
    }

    /// The same state for a request of `tenant`: its stores confined to
    /// the tenant's data.
    pub fn for_tenant(&self, tenant: &TenantId) -> State {
        State {
            tenant: tenant.clone(),
            llm: self.llm.metered(Some(self.usage.meter(tenant))),
            embedder: self
                .embedder
                .for_tenant(tenant, Some(self.usage.meter(tenant))),
            vectors: self.vectors.for_tenant(tenant),
            graph: self.graph.for_tenant(tenant),
            jobs: self
                .jobs
                .as_ref()
                .map(|j| j.for_tenant(tenant, &self.config.common.prefix)),
            ..self.clone()
        }
    }

    /// The ingest jobs, or a 503 saying why they are off.
    pub fn jobs(&self) -> Result<&Jobs, Error> {
        self.jobs.as_ref().ok_or_else(|| Error::Unavailable {
            backend: Backend::JetStream,
            message: "ingest jobs are off in this worker (RAGWIRE_JOBS_ENABLED=false, or JetStream was not usable at start: see its log)".into(),
        })
    }
}

/// Builds a [`State`] whole: every backend client once, and the job streams.
pub struct StateBuilder {
    config: Config,
    embed_backend: Option<Arc<dyn EmbedBackend>>,
}

impl StateBuilder {
    /// `backend` behind the embedding batcher instead of the configured one
    /// (for tests and benchmarks that bring their own); the configured one
    /// is then not built, nor the local model loaded.
    // Read by tests and benchmarks only.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub fn embed_backend(mut self, backend: Arc<dyn EmbedBackend>) -> StateBuilder {
        self.embed_backend = Some(backend);
        self
    }

    /// Builds the backend clients, and the ingest job streams on `client`'s
    /// JetStream when jobs are on (needs a Tokio runtime). A NATS server
    /// without JetStream still serves every other subject: jobs are then
    /// off, with a warning.
    pub async fn build(self, client: &async_nats::Client) -> Result<State, Error> {
        let StateBuilder {
            config,
            embed_backend,
        } = self;
        let http = http_client();
        let retry = RetryPolicy::from_config(&config.retry);
        let local = embed_backend.is_none() && config.embed.base_url.is_none();
        let backend: Arc<dyn EmbedBackend> = match (embed_backend, &config.embed.base_url) {
            (Some(backend), _) => backend,
            (None, Some(url)) => OpenAiEmbedder::new(
                url,
                config
                    .embed
                    .api_key
                    .as_deref()
                    .or(config.llm.api_key.as_deref()),
                config.embed.model.clone(),
                config.embed.encoding,
                config.embed.timeout,
                retry,
                http.clone(),
            )?,
            (None, None) => LocalEmbedder::load(&config.model_dir())?,
        };
        let batching = config.embed.batching(local);
        let data_dir = &config.worker.data_dir;
        let vectors: Arc<dyn VectorStore> = match &config.vectors.qdrant_url {
            Some(url) => QdrantStore::connect(url, &config.vectors, &config.retry)?,
            None => EmbeddedStore::open(&data_dir.join("vectors"), config.vectors.optimize_every)?,
        };
        let graph: Arc<dyn GraphStore> = match &config.graph.neo4j_uri {
            Some(_) => Arc::new(BoltGraph::connect(&config.graph)?),
            None => Arc::new(SqliteGraph::open(&data_dir.join("graph.sqlite"))?),
        };
        let jobs = if config.jobs.enabled {
            match Jobs::setup(client, &config.common.prefix, &config.jobs).await {
                Ok(jobs) => Some(jobs),
                Err(e) => {
                    tracing::warn!(error = %e, "ingest jobs are off: JetStream is not usable");
                    None
                }
            }
        } else {
            None
        };
        let usage = Ledger::when_present(
            client.clone(),
            &config.common.prefix,
            config.worker.usage_flush,
        );
        let default = TenantId::default();
        let meter = Some(usage.meter(&default));
        Ok(State {
            llm: Llm::new(&config.llm, &config.extract.chain, retry, http.clone())
                .metered(meter.clone()),
            reranker: Reranker::new(&config.rerank, retry, http),
            embedder: Embedder::spawn(backend, batching).for_tenant(&default, meter),
            tenant: TenantId::default(),
            vectors: TenantVectors::new(vectors, TenantId::default()),
            keywords: Keywords::new()?,
            graph: TenantGraph::new(graph, TenantId::default()),
            jobs,
            usage,
            config: Arc::new(config),
        })
    }
}
