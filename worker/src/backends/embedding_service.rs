//! An OpenAI-compatible embedding service (OpenAI, LiteLLM, vLLM, Ollama,
//! TEI) as an [`EmbedBackend`].

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde::{Deserialize, Deserializer, Serialize};

use ragwire_schemas::embed::base64_to_f32s;

use super::embedder::{EmbedBackend, EmbedEncoding};
use super::upstream::{check_status, status_error, transport_error, truncate};
use crate::error::{Backend, Error};
use crate::retry::RetryPolicy;

/// `POST /embeddings` on an OpenAI-compatible server (OpenAI, LiteLLM, vLLM,
/// Ollama, TEI). Called with reqwest directly rather than through
/// async-openai: the request borrows the batch's texts instead of copying
/// them, and the headers are built once; this call runs for every batch.
pub struct OpenAiEmbedder {
    http: reqwest::Client,
    url: String,
    headers: HeaderMap,
    model: String,
    encoding: EmbedEncoding,
    timeout: Duration,
    retry: RetryPolicy,
}

/// The request body, borrowing the texts.
#[derive(Serialize)]
struct EmbeddingsRequest<'a> {
    model: &'a str,
    input: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding_format: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<usize>,
}

#[derive(Deserialize)]
struct RawEmbeddings {
    data: Vec<RawEmbedding>,
}

#[derive(Deserialize)]
struct RawEmbedding {
    #[serde(default)]
    index: usize,
    #[serde(deserialize_with = "vector")]
    embedding: Vec<f32>,
}

/// A vector as a JSON array of numbers or as base64 of little-endian f32
/// bytes, whichever the service sent.
fn vector<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<f32>, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Vec<f32>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of numbers or a base64 string")
        }

        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Vec<f32>, E> {
            let v = base64_to_f32s(s).map_err(|e| E::custom(format!("embedding: {e}")))?;
            // JSON numbers cannot be NaN or infinite; these bytes can.
            if v.iter().any(|x| !x.is_finite()) {
                return Err(E::custom("base64 embedding has a non-finite value"));
            }
            Ok(v)
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<f32>, A::Error> {
            let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(x) = seq.next_element()? {
                v.push(x);
            }
            Ok(v)
        }
    }
    de.deserialize_any(Visitor)
}

impl OpenAiEmbedder {
    /// A client for `base_url` (including `/v1`), sharing `http`'s connection
    /// pool. An API key that cannot be a header value stops start-up.
    pub fn new(
        base_url: &str,
        api_key: Option<&str>,
        model: String,
        encoding: EmbedEncoding,
        timeout: Duration,
        retry: RetryPolicy,
        http: reqwest::Client,
    ) -> Result<Arc<Self>, Error> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(key) = api_key.filter(|k| !k.is_empty()) {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| Error::Config {
                name: "RAGWIRE_EMBED_API_KEY".into(),
                message: "the key (or RAGWIRE_LLM_API_KEY, its default) is not valid in an HTTP header"
                    .into(),
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        Ok(Arc::new(OpenAiEmbedder {
            http,
            url: format!("{}/embeddings", base_url.trim_end_matches('/')),
            headers,
            model,
            encoding,
            timeout,
            retry,
        }))
    }

    async fn call(
        &self,
        texts: &[String],
        dimensions: Option<usize>,
    ) -> Result<Vec<Vec<f32>>, Error> {
        const BACKEND: Backend = Backend::Embeddings;
        let body = serde_json::to_vec(&EmbeddingsRequest {
            model: &self.model,
            input: texts,
            encoding_format: match self.encoding {
                EmbedEncoding::Base64 => Some("base64"),
                EmbedEncoding::Float => None,
            },
            dimensions,
        })
        .map_err(|e| Error::Internal(format!("cannot encode the embeddings request: {e}")))?;
        let exchange = async {
            let response = self
                .http
                .post(&self.url)
                .headers(self.headers.clone())
                .body(body)
                .send()
                .await
                .map_err(|e| transport_error(&BACKEND, &e))?;
            let response = check_status(response)
                .await
                .map_err(|e| status_error(&BACKEND, e))?;
            response
                .bytes()
                .await
                .map_err(|e| transport_error(&BACKEND, &e))
        };
        let bytes = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| Error::Timeout {
                backend: BACKEND,
                after: self.timeout,
            })??;
        let raw: RawEmbeddings = serde_json::from_slice(&bytes).map_err(|e| Error::Upstream {
            backend: BACKEND,
            status: 200,
            message: format!(
                "unreadable reply ({e}): {}",
                truncate(&String::from_utf8_lossy(&bytes), 200)
            ),
            retry_after: None,
        })?;
        if raw.data.len() != texts.len() {
            return Err(Error::Upstream {
                backend: BACKEND,
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

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, Error> {
        self.retry.run(|| self.call(texts, None)).await
    }

    async fn embed_dimensions(
        &self,
        texts: &[String],
        dimensions: usize,
    ) -> Result<Vec<Vec<f32>>, Error> {
        self.retry.run(|| self.call(texts, Some(dimensions))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Vec<f32>, serde_json::Error> {
        serde_json::from_str::<RawEmbedding>(json).map(|e| e.embedding)
    }

    #[test]
    fn a_key_that_cannot_be_a_header_stops_start_up() {
        let retry = RetryPolicy::from_config(&crate::retry::RetryConfig::default());
        let made = OpenAiEmbedder::new(
            "http://127.0.0.1:9/v1",
            Some("line\nbreak"),
            "m".into(),
            EmbedEncoding::Base64,
            Duration::from_secs(1),
            retry,
            reqwest::Client::new(),
        );
        let err = made.err().expect("refused");
        assert!(err.to_string().contains("RAGWIRE_EMBED_API_KEY"), "{err}");
    }

    #[test]
    fn vectors_come_as_floats_or_base64() {
        let floats = [0.25f32, -1.5, 3.0e-7];
        let b64 = ragwire_schemas::embed::f32s_to_base64(&floats);
        assert_eq!(
            parse(&format!(r#"{{"embedding":"{b64}"}}"#)).unwrap(),
            floats
        );
        assert_eq!(parse(r#"{"embedding":[0.25,-1.5,3e-7]}"#).unwrap(), floats);
        let bad = parse(r#"{"embedding":"not base64!"}"#).unwrap_err();
        assert!(bad.to_string().contains("not valid base64"), "{bad}");
        // Five bytes: not a whole number of f32s.
        let odd = parse(r#"{"embedding":"AAAAAAA="}"#).unwrap_err();
        assert!(odd.to_string().contains("whole number"), "{odd}");
        assert!(parse(r#"{"embedding":{"x":1}}"#).is_err());
        let nan = ragwire_schemas::embed::f32s_to_base64(&[f32::NAN]);
        let err = parse(&format!(r#"{{"embedding":"{nan}"}}"#)).unwrap_err();
        assert!(err.to_string().contains("non-finite"), "{err}");
    }
}
