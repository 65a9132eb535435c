//! A reranker over HTTP, in the text-embeddings-inference format or the seed
//! gateway's format.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use ragwire_common::settings::parse;

use super::upstream::{check_status, status_error, transport_error, truncate};
use crate::error::{Backend, Error};
use crate::retry::RetryPolicy;

const BACKEND: Backend = Backend::Reranker;

/// The reranker service.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Reranker")]
pub struct RerankConfig {
    /// URL to POST rerank requests to; unset: `rerank` answers 503.
    #[arg(id = "rerank.url", long = "rerank-url", env = "RAGWIRE_RERANK_URL",
          value_parser = parse::http_url)]
    pub url: Option<String>,
    /// Wire format of the reranker.
    #[arg(id = "rerank.format", long = "rerank-format", env = "RAGWIRE_RERANK_FORMAT",
          value_enum, default_value_t = RerankFormat::Tei)]
    pub format: RerankFormat,
    /// Bearer key for the reranker.
    #[arg(
        id = "rerank.api_key",
        long = "rerank-api-key",
        env = "RAGWIRE_RERANK_API_KEY"
    )]
    pub api_key: Option<String>,
    /// Per rerank call, in milliseconds.
    #[arg(id = "rerank.timeout_ms", long = "rerank-timeout-ms", env = "RAGWIRE_RERANK_TIMEOUT_MS",
          default_value = "15000", value_parser = parse::timeout)]
    pub timeout: Duration,
}

ragwire_common::default_from_declarations!(RerankConfig);

/// The URL rerank requests go to: `url` as given when it has a path, with
/// `/rerank` appended when it is a bare base URL (`http://host:8080` or
/// `http://host:8080/`), as text-embeddings-inference and the gateway
/// ragwire replaces configure a reranker.
pub fn endpoint(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.path(), "" | "/") && parsed.query().is_none() => {
            format!("{}/rerank", url.trim_end_matches('/'))
        }
        _ => url.to_owned(),
    }
}

/// Reranker wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RerankFormat {
    /// text-embeddings-inference: `{query, texts}` -> `[{index, score}]`.
    Tei,
    /// The Python gateway's: `{query, documents, top_n}` -> `{results: [{index, score}]}`.
    Seed,
}

impl std::str::FromStr for RerankFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        clap::ValueEnum::from_str(s, false).map_err(|_| format!("`{s}` is not `tei` or `seed`"))
    }
}

/// Reranker client. Cheap to clone.
#[derive(Clone)]
pub struct Reranker {
    http: reqwest::Client,
    url: String,
    format: RerankFormat,
    api_key: Option<String>,
    timeout: Duration,
    retry: RetryPolicy,
}

#[derive(Deserialize)]
struct Scored {
    index: usize,
    #[serde(alias = "relevance_score")]
    score: f32,
}

#[derive(Deserialize)]
struct SeedReply {
    results: Vec<Scored>,
}

impl Reranker {
    /// A client when a URL is configured.
    pub fn new(
        config: &RerankConfig,
        retry: RetryPolicy,
        http: reqwest::Client,
    ) -> Option<Reranker> {
        config.url.as_ref().map(|url| Reranker {
            http,
            url: endpoint(url),
            format: config.format,
            api_key: config.api_key.clone(),
            timeout: config.timeout,
            retry,
        })
    }

    /// `(index, score)` for the documents, best first, at most `top_n`.
    pub async fn rerank(
        &self,
        query: &str,
        documents: &[String],
        top_n: usize,
    ) -> Result<Vec<(usize, f32)>, Error> {
        let body = match self.format {
            RerankFormat::Tei => json!({"query": query, "texts": documents, "truncate": true}),
            RerankFormat::Seed => json!({"query": query, "documents": documents, "top_n": top_n}),
        };
        let mut scored = crate::waiting::on(BACKEND, self.retry.run(|| self.call(&body))).await?;
        if let Some(bad) = scored.iter().find(|s| s.index >= documents.len()) {
            return Err(Error::Upstream {
                backend: BACKEND,
                status: 200,
                message: format!(
                    "index {} is out of range for {} documents",
                    bad.index,
                    documents.len()
                ),
                retry_after: None,
            });
        }
        scored.sort_by(|a, b| b.score.total_cmp(&a.score));
        scored.truncate(top_n);
        Ok(scored.into_iter().map(|s| (s.index, s.score)).collect())
    }

    async fn call(&self, body: &serde_json::Value) -> Result<Vec<Scored>, Error> {
        let mut request = self.http.post(&self.url).json(body).timeout(self.timeout);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| self.transport(e))?;
        let response = check_status(response)
            .await
            .map_err(|e| status_error(&BACKEND, e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.transport(e))?;
        let parsed = match self.format {
            RerankFormat::Tei => serde_json::from_slice::<Vec<Scored>>(&bytes),
            RerankFormat::Seed => serde_json::from_slice::<SeedReply>(&bytes).map(|r| r.results),
        };
        parsed.map_err(|e| Error::Upstream {
            backend: BACKEND,
            status: status.as_u16(),
            message: format!(
                "unreadable reply ({e}): {}",
                truncate(&String::from_utf8_lossy(&bytes), 200)
            ),
            retry_after: None,
        })
    }

    fn transport(&self, e: reqwest::Error) -> Error {
        if e.is_timeout() {
            Error::Timeout {
                backend: BACKEND,
                after: self.timeout,
            }
        } else {
            transport_error(&BACKEND, &e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::endpoint;

    #[test]
    fn a_bare_base_url_gets_the_rerank_path() {
        assert_eq!(
            endpoint("http://reranker:8080"),
            "http://reranker:8080/rerank"
        );
        assert_eq!(
            endpoint("http://reranker:8080/"),
            "http://reranker:8080/rerank"
        );
        assert_eq!(endpoint("http://h:1/v1/rerank"), "http://h:1/v1/rerank");
        assert_eq!(endpoint("http://h:1/score"), "http://h:1/score");
    }
}
