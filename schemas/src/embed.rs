//! `rag.embed`: embedding vectors for texts.

use base64::Engine;
use serde::{Deserialize, Serialize};

/// Request of `rag.embed` (`POST /embed`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedRequest {
    /// The texts to embed; not empty, no empty string.
    pub texts: Vec<String>,
    /// How the vectors come back (as OpenAI's `encoding_format`).
    #[serde(default)]
    pub encoding_format: VectorEncoding,
}

/// Wire form of vectors in a reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VectorEncoding {
    /// JSON arrays of numbers.
    #[default]
    Float,
    /// One string per vector: base64 of its little-endian f32 bytes. Exact,
    /// and a fraction of the work of printing and parsing decimal floats.
    Base64,
}

/// Reply of `rag.embed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedReply {
    /// One vector per text, in request order.
    pub vectors: Vectors,
    /// Length of each vector.
    pub dim: usize,
    /// The embedding model used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// Base64 of the little-endian f32 bytes of `vector`, the form of OpenAI's
/// `encoding_format: base64`.
pub fn f32s_to_base64(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The f32s whose little-endian bytes `text` holds in base64; an error that
/// says what is wrong otherwise.
pub fn base64_to_f32s(text: &str) -> Result<Vec<f32>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("not valid base64: {e}"))?;
    if bytes.len() % 4 != 0 {
        return Err(format!(
            "{} bytes are not a whole number of f32s",
            bytes.len()
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Vectors as numbers or as base64 strings, as the request asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Vectors {
    /// `encoding_format: float`.
    Float(Vec<Vec<f32>>),
    /// `encoding_format: base64`.
    Base64(Vec<String>),
}

impl Vectors {
    /// How many vectors.
    pub fn len(&self) -> usize {
        match self {
            Vectors::Float(v) => v.len(),
            Vectors::Base64(v) => v.len(),
        }
    }

    /// No vectors at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `vectors` in the wire form `encoding` names.
    pub fn encode(vectors: Vec<Vec<f32>>, encoding: VectorEncoding) -> Vectors {
        match encoding {
            VectorEncoding::Float => Vectors::Float(vectors),
            VectorEncoding::Base64 => {
                Vectors::Base64(vectors.iter().map(|v| f32s_to_base64(v)).collect())
            }
        }
    }

    /// The vectors as numbers, whichever form they came in; `None` when a
    /// base64 string is not whole f32s.
    pub fn decode(&self) -> Option<Vec<Vec<f32>>> {
        match self {
            Vectors::Float(v) => Some(v.clone()),
            Vectors::Base64(v) => v.iter().map(|s| base64_to_f32s(s).ok()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_exactly() {
        let v = vec![vec![0.1f32, -2.5, 1e-30], vec![0.0, f32::MIN_POSITIVE, 3.0]];
        let wire =
            serde_json::to_string(&Vectors::encode(v.clone(), VectorEncoding::Base64)).unwrap();
        let back: Vectors = serde_json::from_str(&wire).unwrap();
        assert!(matches!(back, Vectors::Base64(_)));
        assert_eq!(back.decode().unwrap(), v);
        let floats: Vectors = serde_json::from_str("[[0.5,1.0]]").unwrap();
        assert_eq!(floats.decode().unwrap(), vec![vec![0.5, 1.0]]);
        assert_eq!(Vectors::Base64(vec!["AAAAAAA=".into()]).decode(), None);
    }
}
