//! `rag.embed`: embedding vectors for texts.

use serde::{Deserialize, Serialize};

/// Request of `rag.embed` (`POST /embed`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct EmbedRequest {
    /// The texts to embed; not empty, no empty string; at most
    /// `RAGWIRE_LIMITS_MAX_TEXTS` (2048).
    pub texts: Vec<String>,
    /// How the vectors come back (as OpenAI's `encoding_format`). Default
    /// `float`.
    #[serde(default)]
    pub encoding_format: VectorEncoding,
}

impl EmbedRequest {
    /// Embeddings of `texts`, as floats.
    pub fn new(texts: impl IntoIterator<Item = impl Into<String>>) -> EmbedRequest {
        EmbedRequest {
            texts: texts.into_iter().map(Into::into).collect(),
            encoding_format: VectorEncoding::default(),
        }
    }
}

/// Wire form of vectors in a reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum VectorEncoding {
    /// JSON arrays of numbers (`float`). The default.
    #[default]
    Float,
    /// `base64`: one string per vector, base64 of its little-endian f32
    /// bytes. Exact, and a fraction of the work of printing and parsing
    /// decimal floats.
    Base64,
}

/// Reply of `rag.embed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct EmbedReply {
    /// One vector per text, in request order.
    pub vectors: Vectors,
    /// Length of each vector, in numbers (384 for all-MiniLM-L6-v2).
    pub dim: usize,
    /// The embedding model used; left out when there is none to name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

impl EmbedReply {
    /// This reply as the JSON of [`crate::Success`] (`{"ok":true,...}`): the
    /// same values serde writes, in a fraction of the time, as serde_json
    /// passes every number to its writer in a call of its own, which costs
    /// more than printing it, and a reply is mostly numbers. Numbers are
    /// shortest round-trip digits (exact f32 values; an exponent may be
    /// written `1e16` where serde_json writes `1e+16`); a non-finite one is
    /// `null`, as with serde_json.
    pub fn to_success_json(&self) -> Vec<u8> {
        // Destructured so that a new field cannot be left out unnoticed.
        let EmbedReply {
            vectors,
            dim,
            model,
        } = self;
        let room = match vectors {
            // Grown vector by vector as the numbers are printed.
            Vectors::Float(_) => 0,
            Vectors::Base64(v) => v.iter().map(|s| s.len() + 3).sum(),
        };
        let mut out = Vec::with_capacity(64 + room + model.as_ref().map_or(0, String::len));
        out.extend_from_slice(br#"{"ok":true,"vectors":"#);
        match vectors {
            Vectors::Float(v) => write_f32_arrays(&mut out, v),
            Vectors::Base64(v) => {
                serde_json::to_writer(&mut out, v).expect("strings always serialize")
            }
        }
        out.extend_from_slice(br#","dim":"#);
        out.extend_from_slice(itoa::Buffer::new().format(*dim).as_bytes());
        if let Some(model) = model {
            out.extend_from_slice(br#","model":"#);
            serde_json::to_writer(&mut out, model).expect("strings always serialize");
        }
        out.push(b'}');
        out
    }
}

/// Appends `vectors` to `out` as a JSON array of arrays of numbers.
fn write_f32_arrays(out: &mut Vec<u8>, vectors: &[Vec<f32>]) {
    let mut digits = ryu::Buffer::new();
    out.push(b'[');
    for (i, vector) in vectors.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Room for the usual number, so the writes below rarely reallocate.
        out.reserve(2 + vector.len() * 12);
        out.push(b'[');
        for (j, x) in vector.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            if x.to_bits() == 0 {
                // Positive zero, frequent in sparse vectors.
                out.extend_from_slice(b"0.0");
            } else if x.is_finite() {
                out.extend_from_slice(digits.format_finite(*x).as_bytes());
            } else {
                out.extend_from_slice(b"null");
            }
        }
        out.push(b']');
    }
    out.push(b']');
}

/// Base64 of the little-endian f32 bytes of `vector`, the form of OpenAI's
/// `encoding_format: base64`.
pub fn f32s_to_base64(vector: &[f32]) -> String {
    let mut bytes = Vec::with_capacity(vector.len() * 4);
    for x in vector {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    base64_simd::STANDARD.encode_to_string(bytes)
}

/// The f32s whose little-endian bytes `text` holds in base64; an error that
/// says what is wrong otherwise.
pub fn base64_to_f32s(text: &str) -> Result<Vec<f32>, String> {
    let bytes = base64_simd::STANDARD
        .decode_to_vec(text)
        .map_err(|_| format!("not valid base64: {}", base64_fault(text)))?;
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

/// What is wrong with `text`, which failed to decode as padded base64
/// (the decoder itself does not say).
fn base64_fault(text: &str) -> String {
    let symbol = |b: &u8| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/';
    let body = text.trim_end_matches('=');
    match body.bytes().position(|b| !symbol(&b)) {
        Some(at) => format!("invalid character at offset {at}"),
        None if !text.len().is_multiple_of(4) => {
            format!("{} characters, not a multiple of 4", text.len())
        }
        None => "bad padding or trailing bits".to_owned(),
    }
}

/// Vectors as numbers or as base64 strings, as the request asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Vectors {
    /// `encoding_format: float`: one array of f32 per text.
    Float(Vec<Vec<f32>>),
    /// `encoding_format: base64`: one base64 string of little-endian f32
    /// bytes per text.
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

    use crate::Success;

    /// The hand-written reply reads back as what serde writes.
    fn same_as_serde(reply: EmbedReply) {
        let hand = reply.to_success_json();
        let serde = serde_json::to_vec(&Success::new(reply.clone())).unwrap();
        let as_value = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).unwrap();
        assert_eq!(
            as_value(&hand),
            as_value(&serde),
            "{}",
            String::from_utf8_lossy(&hand)
        );
        let back: Success<EmbedReply> = serde_json::from_slice(&hand).unwrap();
        // No vectors read back as floats, whichever encoding was asked.
        if !reply.vectors.is_empty() {
            assert_eq!(back.body, reply);
        }
    }

    #[test]
    fn new_is_the_request_with_only_texts() {
        let decoded: EmbedRequest = serde_json::from_str(r#"{"texts": ["a", "b"]}"#).unwrap();
        assert_eq!(EmbedRequest::new(["a", "b"]), decoded);
    }

    #[test]
    fn hand_written_replies_match_serde() {
        // Values whose digits are easy to get wrong: tiny, huge, subnormal,
        // negative zero, integers, and the neighbours of round numbers.
        let edge = vec![
            0.0f32,
            -0.0,
            1.0,
            -1.0,
            0.1,
            1e-7,
            -3.4028235e38,
            f32::MIN_POSITIVE,
            1.0e-45,
            123456.79,
            0.99999994,
            1.0000001,
        ];
        // A dense pseudo-random vector, as real models produce.
        let mut seed = 0x2545f491u32;
        let dense: Vec<f32> = (0..384)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                (seed as f32 / u32::MAX as f32 - 0.5) * 0.2
            })
            .collect();
        for vectors in [
            vec![edge.clone()],
            vec![dense.clone(), edge.clone()],
            vec![],
        ] {
            let dim = vectors.first().map_or(0, Vec::len);
            for model in [None, Some("all-MiniLM \"L6\"\n".to_owned())] {
                for encoding in [VectorEncoding::Float, VectorEncoding::Base64] {
                    same_as_serde(EmbedReply {
                        vectors: Vectors::encode(vectors.clone(), encoding),
                        dim,
                        model: model.clone(),
                    });
                }
            }
        }
        // Non-finite numbers print as `null`, as serde_json prints them.
        let reply = EmbedReply {
            vectors: Vectors::Float(vec![vec![f32::NAN, 1.5]]),
            dim: 2,
            model: None,
        };
        assert_eq!(
            reply.to_success_json(),
            serde_json::to_vec(&Success::new(reply)).unwrap()
        );
    }

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
        // Bad base64 is described, not only refused.
        let fault = |s: &str| base64_to_f32s(s).unwrap_err();
        assert!(fault("not base64!").ends_with("invalid character at offset 3"));
        assert!(fault("AAAAA").ends_with("5 characters, not a multiple of 4"));
        assert!(fault("AAA=AAAA").contains("invalid character at offset 3"));
    }
}
