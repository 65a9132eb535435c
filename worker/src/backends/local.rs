//! In-process embeddings with a sentence-transformers BERT model (e.g.
//! all-MiniLM-L6-v2) loaded from a folder with `config.json`,
//! `tokenizer.json` and `model.safetensors`, run by candle on the CPU: mean
//! pooling over the attention mask, then L2 normalisation.

use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::embedder::EmbedBackend;
use crate::error::Error;

/// Token limit when the model folder does not say (all-MiniLM-L6-v2's).
const DEFAULT_MAX_TOKENS: usize = 256;

/// A loaded model. Inference runs on Tokio's blocking pool.
pub struct LocalEmbedder {
    inner: Arc<Model>,
    name: String,
    dimension: usize,
}

struct Model {
    bert: BertModel,
    tokenizer: Tokenizer,
    device: Device,
}

fn model_error(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("local embedding model: {e}"))
}

impl LocalEmbedder {
    /// Loads the model in `dir`; a missing or unreadable file is an error
    /// naming it.
    pub fn load(dir: &Path) -> Result<Arc<LocalEmbedder>, Error> {
        const SETTING: &str = "RAGWIRE_EMBED_MODEL_DIR";
        for file in ["config.json", "tokenizer.json", "model.safetensors"] {
            if !dir.join(file).is_file() {
                return Err(Error::config(
                    SETTING,
                    format!(
                        "{} has no {file}. Fetch all-MiniLM-L6-v2 with `scripts/fetch-model {}`, point \
                         {SETTING} at a sentence-transformers BERT folder, or set RAGWIRE_EMBED_BASE_URL \
                         to use an embedding service",
                        dir.display(),
                        dir.display()
                    ),
                ));
            }
        }
        let unreadable = |file: &str, e: &dyn std::fmt::Display| {
            Error::config(SETTING, format!("{}: {e}", dir.join(file).display()))
        };
        let config_text = std::fs::read_to_string(dir.join("config.json"))
            .map_err(|e| unreadable("config.json", &e))?;
        let config: BertConfig =
            serde_json::from_str(&config_text).map_err(|e| unreadable("config.json", &e))?;
        let max_tokens = std::fs::read_to_string(dir.join("sentence_bert_config.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["max_seq_length"].as_u64())
            .map_or(DEFAULT_MAX_TOKENS, |n| n as usize)
            .min(config.max_position_embeddings);
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| unreadable("tokenizer.json", &e))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..Default::default()
            }))
            .map_err(|e| unreadable("tokenizer.json", &e))?;
        let device = Device::Cpu;
        // SAFETY: the weights file is mapped read-only and not modified while
        // the model lives; candle's documented way to load safetensors.
        let vb = unsafe {
            VarBuilder::from_mmaped_safetensors(
                &[dir.join("model.safetensors")],
                DType::F32,
                &device,
            )
        }
        .map_err(|e| unreadable("model.safetensors", &e))?;
        let dimension = config.hidden_size;
        let bert = BertModel::load(vb, &config).map_err(|e| unreadable("model.safetensors", &e))?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| n != "model")
            .unwrap_or_else(|| "all-MiniLM-L6-v2".into());
        Ok(Arc::new(LocalEmbedder {
            inner: Arc::new(Model {
                bert,
                tokenizer,
                device,
            }),
            name,
            dimension,
        }))
    }
}

impl Model {
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, Error> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.iter().map(String::as_str).collect(), true)
            .map_err(model_error)?;
        let ids: Vec<Tensor> = encodings
            .iter()
            .map(|e| Tensor::new(e.get_ids(), &self.device))
            .collect::<Result<_, _>>()
            .map_err(model_error)?;
        let masks: Vec<Tensor> = encodings
            .iter()
            .map(|e| Tensor::new(e.get_attention_mask(), &self.device))
            .collect::<Result<_, _>>()
            .map_err(model_error)?;
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let ids = Tensor::stack(&ids, 0)?;
            let mask = Tensor::stack(&masks, 0)?;
            let type_ids = ids.zeros_like()?;
            let hidden = self.bert.forward(&ids, &type_ids, Some(&mask))?;
            // Mean over the real tokens only, then unit length.
            let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
            let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
            mean.broadcast_div(&norm)?.to_vec2::<f32>()
        };
        run().map_err(model_error)
    }
}

#[async_trait::async_trait]
impl EmbedBackend for LocalEmbedder {
    fn model(&self) -> &str {
        &self.name
    }

    fn dimension(&self) -> Option<usize> {
        Some(self.dimension)
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, Error> {
        let model = self.inner.clone();
        let texts = texts.to_vec();
        tokio::task::spawn_blocking(move || model.embed(&texts))
            .await
            .map_err(|e| model_error(format!("inference task failed: {e}")))?
    }
}
