//! Embedding backends. [`super::Embedder`] batches requests in front of one.

use std::sync::Arc;
use std::time::Duration;

use async_openai::types::embeddings::{CreateEmbeddingRequest, EmbeddingInput};
use serde::Deserialize;

use super::openai::{self, OpenAiClient};
use crate::error::Error;
use crate::retry::RetryPolicy;

/// Something that turns texts into vectors, in order.
#[async_trait::async_trait]
pub trait EmbedBackend: Send + Sync + 'static {
    /// The model name reported in replies.
    fn model(&self) -> &str;
    /// One vector per text, in the same order.
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, Error>;
}

/// `/v1/embeddings` on an OpenAI-compatible server.
pub struct OpenAiEmbedder {
    client: OpenAiClient,
    model: String,
    timeout: Duration,
    retry: RetryPolicy,
}

#[derive(Deserialize)]
struct RawEmbeddings {
    data: Vec<RawEmbedding>,
}

#[derive(Deserialize)]
struct RawEmbedding {
    #[serde(default)]
    index: usize,
    embedding: Vec<f32>,
}

impl OpenAiEmbedder {
    pub fn new(
        base_url: &str,
        api_key: Option<&str>,
        model: String,
        timeout: Duration,
        retry: RetryPolicy,
        http: reqwest::Client,
    ) -> Arc<Self> {
        Arc::new(OpenAiEmbedder {
            client: openai::client(base_url, api_key, http),
            model,
            timeout,
            retry,
        })
    }

    async fn call(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, Error> {
        const BACKEND: &str = "embedding service";
        let request = CreateEmbeddingRequest {
            model: self.model.clone(),
            input: EmbeddingInput::StringArray(texts.to_vec()),
            encoding_format: None,
            user: None,
            dimensions: None,
        };
        let raw: RawEmbeddings =
            tokio::time::timeout(self.timeout, self.client.embeddings().create_byot(request))
                .await
                .map_err(|_| Error::Timeout {
                    backend: BACKEND.into(),
                    after: self.timeout,
                })?
                .map_err(|e| openai::map_error(BACKEND, e))?;
        if raw.data.len() != texts.len() {
            return Err(Error::Upstream {
                backend: BACKEND.into(),
                status: 200,
                message: format!("{} vectors for {} texts", raw.data.len(), texts.len()),
                retry_after: None,
            });
        }
        let mut data = raw.data;
        data.sort_by_key(|d| d.index);
        Ok(data.into_iter().map(|d| d.embedding).collect())
    }
}

#[async_trait::async_trait]
impl EmbedBackend for OpenAiEmbedder {
    fn model(&self) -> &str {
        &self.model
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, Error> {
        self.retry.run(|| self.call(&texts)).await
    }
}
