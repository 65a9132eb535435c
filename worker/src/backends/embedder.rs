//! Embedding backends. [`super::Embedder`] batches requests in front of one.

use std::sync::Arc;
use std::time::Duration;

use async_openai::types::embeddings::{CreateEmbeddingRequest, EmbeddingInput, EncodingFormat};
use serde::{Deserialize, Deserializer};

use ragwire_schemas::embed::base64_to_f32s;

use super::openai::{self, OpenAiClient};
use crate::config::EmbedEncoding;
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
    encoding: EmbedEncoding,
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
    pub fn new(
        base_url: &str,
        api_key: Option<&str>,
        model: String,
        encoding: EmbedEncoding,
        timeout: Duration,
        retry: RetryPolicy,
        http: reqwest::Client,
    ) -> Arc<Self> {
        Arc::new(OpenAiEmbedder {
            client: openai::client(base_url, api_key, http),
            model,
            encoding,
            timeout,
            retry,
        })
    }

    async fn call(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, Error> {
        const BACKEND: &str = "embedding service";
        let request = CreateEmbeddingRequest {
            model: self.model.clone(),
            input: EmbeddingInput::StringArray(texts.to_vec()),
            encoding_format: match self.encoding {
                EmbedEncoding::Base64 => Some(EncodingFormat::Base64),
                EmbedEncoding::Float => None,
            },
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Vec<f32>, serde_json::Error> {
        serde_json::from_str::<RawEmbedding>(json).map(|e| e.embedding)
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
