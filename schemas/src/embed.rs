//! `rag.embed`: embedding vectors for texts.

use serde::{Deserialize, Serialize};

/// Request of `rag.embed` (`POST /embed`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedRequest {
    /// The texts to embed; not empty, no empty string.
    pub texts: Vec<String>,
}

/// Reply of `rag.embed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedReply {
    /// One vector per text, in request order.
    pub vectors: Vec<Vec<f32>>,
    /// Length of each vector.
    pub dim: usize,
    /// The embedding model used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}
