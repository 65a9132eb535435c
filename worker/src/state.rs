//! What every handler shares: the configuration and the backend clients.

use std::sync::Arc;
use std::time::Duration;

use crate::backends::batcher::BatchConfig;
use crate::backends::embedder::{EmbedBackend, OpenAiEmbedder};
use crate::backends::{http_client, Embedder, Llm, Reranker};
use crate::config::{ms, Config};
use crate::error::Error;
use crate::retry::RetryPolicy;

/// Shared by all requests of a worker. Cheap to clone.
#[derive(Clone)]
pub struct State {
    pub config: Arc<Config>,
    pub llm: Llm,
    pub embedder: Embedder,
    /// `None` when no reranker URL is configured.
    pub reranker: Option<Reranker>,
}

impl State {
    /// Builds every backend client once (needs a Tokio runtime).
    pub fn new(config: Config) -> Result<State, Error> {
        let http = http_client();
        let retry = RetryPolicy {
            max_retries: config.llm.max_retries,
            backoff: ms(config.llm.backoff_ms),
            max_backoff: Duration::from_secs(8),
            max_retry_after: ms(config.llm.max_retry_after_ms),
        };
        let embed_url = config
            .embed
            .base_url
            .as_deref()
            .unwrap_or(&config.llm.base_url);
        let embed_key = config
            .embed
            .api_key
            .as_deref()
            .or(config.llm.api_key.as_deref());
        let backend: Arc<dyn EmbedBackend> = OpenAiEmbedder::new(
            embed_url,
            embed_key,
            config.embed.model.clone(),
            ms(config.embed.timeout_ms),
            retry,
            http.clone(),
        );
        let embedder = Embedder::spawn(
            backend,
            BatchConfig {
                window: Duration::from_micros(config.embed.batch_window_us),
                max_batch: config.embed.max_batch,
                max_concurrency: config.embed.max_concurrency,
                queue: config.embed.queue,
            },
        );
        Ok(State {
            llm: Llm::new(&config, http.clone()),
            reranker: Reranker::new(&config.rerank, retry, http),
            embedder,
            config: Arc::new(config),
        })
    }
}
