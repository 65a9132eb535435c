//! `rag.chat`: one chat completion on an OpenAI-compatible LLM.

use serde::{Deserialize, Serialize};

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `developer`, `user` or `assistant`.
    pub role: String,
    /// The message text.
    pub content: String,
}

/// Request of `rag.chat` (`POST /chat`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The conversation, oldest first. Must not be empty.
    pub messages: Vec<ChatMessage>,
    /// A model alias from the worker's configuration (e.g. `rag-answer`) or a
    /// model name; unknown names fall back to the default alias.
    #[serde(default)]
    pub model: Option<String>,
    /// Sampling temperature, 0 to 2.
    #[serde(default = "default_temperature")]
    pub temperature: f32,
    /// Ask for a JSON object; `data` is then the parsed object when it parses.
    #[serde(default)]
    pub json_mode: bool,
    /// Upper bound on generated tokens.
    #[serde(default)]
    pub max_tokens: Option<u32>,
}

fn default_temperature() -> f32 {
    0.2
}

/// Token counts reported by the backend.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

/// Where the answer came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMeta {
    /// The model name the backend used.
    pub model: String,
    /// Token usage, when the backend reports it.
    pub usage: Option<Usage>,
    /// Which configured provider answered (its name).
    #[serde(default)]
    pub provider: Option<String>,
}

/// Reply of `rag.chat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatReply {
    /// The parsed JSON when `json_mode` was set and the answer parses, else the
    /// answer text as a string.
    pub data: serde_json::Value,
    pub meta: ChatMeta,
}
