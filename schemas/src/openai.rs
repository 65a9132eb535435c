//! The OpenAI-compatible subjects: `rag.v1.chat.completions`,
//! `rag.v1.embeddings` and `rag.v1.models`, whose requests and replies are
//! OpenAI's own objects (not ragwire's `{"ok": ...}` envelope), and the
//! streaming protocol over NATS ([`stream`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::embed::Vectors;
use crate::JsonMap;

/// Request of `rag.v1.chat.completions` (`POST /v1/chat/completions`):
/// OpenAI's chat completion request. `model` goes through the model aliases
/// and the provider chain; every other field (`messages`, `tools`,
/// `response_format`, `stop`, `n`, `seed`, `logprobs`, `stream_options`,
/// fields added later) goes to the model untouched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ChatCompletionRequest {
    /// A model alias or name; default `RAGWIRE_LLM_DEFAULT_ALIAS`.
    #[serde(default)]
    pub model: Option<String>,
    /// The conversation: OpenAI message objects, passed as they are.
    pub messages: Vec<JsonMap>,
    /// Stream the answer as chunks (see [`stream`]). Default `false`.
    #[serde(default, deserialize_with = "crate::lax::bool")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::bool")
    )]
    pub stream: bool,
    /// Every other field of the request, as it came.
    #[serde(flatten)]
    pub rest: JsonMap,
}

impl ChatCompletionRequest {
    /// A completion of one user message, `content`, on the default model,
    /// not streamed.
    pub fn user(content: impl Into<String>) -> ChatCompletionRequest {
        let mut message = JsonMap::new();
        message.insert("role".into(), "user".into());
        message.insert("content".into(), Value::String(content.into()));
        ChatCompletionRequest {
            model: None,
            messages: vec![message],
            stream: false,
            rest: JsonMap::new(),
        }
    }
}

/// Reply of `rag.v1.chat.completions`: the model's `chat.completion`
/// object as it came (its `model` is the model that answered); with
/// `stream: true`, `chat.completion.chunk` objects instead (see [`stream`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChatCompletion(pub Value);

// By hand: derived, a transparent `Value` would be any JSON at all.
#[cfg(feature = "json-schema")]
impl schemars::JsonSchema for ChatCompletion {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ChatCompletion".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "description": "OpenAI's `chat.completion` object, as the model sent it (its \
                `model` is the model that answered).",
            "additionalProperties": true,
        })
    }
}

/// The input of an embeddings request: one text or several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum EmbeddingInput {
    /// One text.
    One(String),
    /// Several texts.
    Many(Vec<String>),
}

impl EmbeddingInput {
    /// The texts, in order.
    pub fn into_texts(self) -> Vec<String> {
        match self {
            EmbeddingInput::One(text) => vec![text],
            EmbeddingInput::Many(texts) => texts,
        }
    }
}

/// Request of `rag.v1.embeddings` (`POST /v1/embeddings`): OpenAI's
/// embeddings request, through the same batcher, cache and model as
/// `rag.embed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct EmbeddingsRequest {
    /// The text, or texts, to embed.
    pub input: EmbeddingInput,
    /// The model asked for; the worker's embedding model answers (reported
    /// in the reply).
    #[serde(default)]
    pub model: Option<String>,
    /// `float` (default) or `base64` (little-endian f32 bytes).
    #[serde(default)]
    pub encoding_format: crate::embed::VectorEncoding,
    /// The dimension asked for: passed to an embedding service; with the
    /// local model it must equal the model's own.
    #[serde(default, deserialize_with = "crate::lax::opt_usize")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::opt_usize")
    )]
    pub dimensions: Option<usize>,
}

impl EmbeddingsRequest {
    /// Embeddings of `input`, as floats, at the model's own dimension.
    pub fn new(input: EmbeddingInput) -> EmbeddingsRequest {
        EmbeddingsRequest {
            input,
            model: None,
            encoding_format: crate::embed::VectorEncoding::default(),
            dimensions: None,
        }
    }
}

/// One embedding of an [`EmbeddingsReply`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Embedding {
    /// Always `embedding`.
    pub object: String,
    /// The position of its text in the request.
    pub index: usize,
    /// The vector: numbers, or a base64 string.
    pub embedding: EmbeddingVector,
}

/// A vector as numbers or as base64 of its little-endian f32 bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum EmbeddingVector {
    /// Numbers (`encoding_format: float`).
    Float(Vec<f32>),
    /// Base64 (`encoding_format: base64`).
    Base64(String),
}

/// Token counts of an embeddings request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct EmbeddingsUsage {
    /// Tokens in the input, estimated as a token per four bytes: texts are
    /// embedded in shared batches, which report no count per text.
    pub prompt_tokens: usize,
    /// The same number.
    pub total_tokens: usize,
}

/// Reply of `rag.v1.embeddings`: OpenAI's list of embeddings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct EmbeddingsReply {
    /// Always `list`.
    pub object: String,
    /// One embedding per input text, in order.
    pub data: Vec<Embedding>,
    /// The embedding model that answered.
    pub model: String,
    /// Token counts.
    pub usage: EmbeddingsUsage,
}

impl EmbeddingsReply {
    /// The reply for `vectors` of `model`.
    pub fn new(vectors: Vectors, model: String, prompt_tokens: usize) -> EmbeddingsReply {
        let data: Vec<EmbeddingVector> = match vectors {
            Vectors::Float(v) => v.into_iter().map(EmbeddingVector::Float).collect(),
            Vectors::Base64(v) => v.into_iter().map(EmbeddingVector::Base64).collect(),
        };
        EmbeddingsReply {
            object: "list".into(),
            data: data
                .into_iter()
                .enumerate()
                .map(|(index, embedding)| Embedding {
                    object: "embedding".into(),
                    index,
                    embedding,
                })
                .collect(),
            model,
            usage: EmbeddingsUsage {
                prompt_tokens,
                total_tokens: prompt_tokens,
            },
        }
    }
}

/// Request of `rag.v1.models` (`GET /v1/models`): no fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ModelsRequest {}

/// One model of a [`ModelsReply`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Model {
    /// The name a request may use.
    pub id: String,
    /// Always `model`.
    pub object: String,
    /// Always 0: ragwire does not know when the model was made.
    pub created: u64,
    /// Always `ragwire`.
    pub owned_by: String,
}

/// Reply of `rag.v1.models`: OpenAI's list of models: the aliases, the
/// models they map to, the default and extraction aliases, and the
/// embedding model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ModelsReply {
    /// Always `list`.
    pub object: String,
    /// The models, by name.
    pub data: Vec<Model>,
}

impl ModelsReply {
    /// The list of `names`.
    pub fn new(names: impl IntoIterator<Item = String>) -> ModelsReply {
        ModelsReply {
            object: "list".into(),
            data: names
                .into_iter()
                .map(|id| Model {
                    id,
                    object: "model".into(),
                    created: 0,
                    owned_by: "ragwire".into(),
                })
                .collect(),
        }
    }
}

/// Streaming over NATS: a request with `stream: true` (on
/// `rag.v1.chat.completions`) gets several messages on its reply subject,
/// each marked by the [`STREAM`](stream::STREAM) header:
///
/// 1. `start`, at once, naming in [`CONTROL`](stream::CONTROL) the subject
///    where the client steers the stream;
/// 2. `chunk`, one per chunk of the model (its `chat.completion.chunk`
///    object, as JSON), as soon as it comes;
/// 3. `idle` (empty) after [`HEARTBEAT`](stream::HEARTBEAT) without a
///    message, so that a client tells a slow model from a dead worker;
/// 4. `end` (empty) after the last chunk, or `error`: an error reply with
///    the `Nats-Service-Error` headers, ending the stream.
///
/// A failure before any chunk (every provider failed) comes as `error`
/// after `start`, so a client can still answer with an error status. A
/// model silent for longer than the worker's LLM timeout ends the stream
/// with `error` 504.
///
/// On the control subject, a message with `CONTROL: cancel` stops the
/// stream at once: the worker drops the model's call, so the model stops
/// generating. A client that sent `WINDOW: N` with its request sends
/// `CONTROL: credit` with `CREDIT: n` (the chunks it has taken so far)
/// from time to time; the worker keeps at most `N` chunks unacknowledged
/// (64 when the request names none) and otherwise stops reading the model,
/// so a slow reader cannot make anything buffer without bound. A client
/// that gives no credit for [`CREDIT_WAIT`](stream::CREDIT_WAIT) is taken
/// to be gone.
pub mod stream {
    use std::time::Duration;

    /// Header marking a stream message: `start`, `chunk`, `idle`, `end`,
    /// `error`.
    pub const STREAM: &str = "Ragwire-Stream";
    /// On `start`: the control subject. On a control message: `cancel` or
    /// `credit`.
    pub const CONTROL: &str = "Ragwire-Control";
    /// On a `credit` control message: the chunks the client has taken.
    pub const CREDIT: &str = "Ragwire-Credit";
    /// On the request: at most this many chunks unacknowledged.
    pub const WINDOW: &str = "Ragwire-Stream-Window";
    /// The window when the request names none.
    pub const DEFAULT_WINDOW: u64 = 64;
    /// The largest window a worker grants.
    pub const MAX_WINDOW: u64 = 1024;
    /// A worker with nothing to send sends `idle` this often.
    pub const HEARTBEAT: Duration = Duration::from_secs(5);
    /// A worker waits this long for credit before dropping the stream.
    pub const CREDIT_WAIT: Duration = Duration::from_secs(30);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_are_the_requests_with_only_their_arguments() {
        let decoded: ChatCompletionRequest =
            serde_json::from_str(r#"{"messages": [{"role": "user", "content": "hi"}]}"#).unwrap();
        assert_eq!(ChatCompletionRequest::user("hi"), decoded);
        let decoded: EmbeddingsRequest = serde_json::from_str(r#"{"input": ["a"]}"#).unwrap();
        assert_eq!(
            EmbeddingsRequest::new(EmbeddingInput::Many(vec!["a".into()])),
            decoded
        );
    }
}
