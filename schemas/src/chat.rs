//! `rag.chat`: one chat completion on an OpenAI-compatible LLM.

use serde::{Deserialize, Serialize};

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ChatMessage {
    /// `system`, `developer`, `user`, `assistant`, `tool` or `function`.
    pub role: String,
    /// The message text; may be empty (an assistant turn that only called
    /// a tool).
    #[serde(default)]
    pub content: String,
    /// Any other fields of the message (`name`, `tool_call_id`, ...), passed
    /// to the model as they are.
    #[serde(flatten)]
    pub extra: crate::JsonMap,
}

impl ChatMessage {
    /// A message of `role` with `content` and no other fields.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: content.into(),
            extra: crate::JsonMap::new(),
        }
    }
}

/// Request of `rag.chat` (`POST /chat`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ChatRequest {
    /// The conversation, oldest first. Must not be empty; at most
    /// `RAGWIRE_LIMITS_MAX_TEXTS` (2048) messages.
    pub messages: Vec<ChatMessage>,
    /// A model alias from the worker's configuration (e.g. `rag-answer`) or a
    /// model name. A known alias or model is kept; an unknown name, or none
    /// (the default), falls back to `RAGWIRE_LLM_DEFAULT_ALIAS` (`rag-answer`).
    #[serde(default)]
    pub model: Option<String>,
    /// Sampling temperature, 0 to 2. Default 0.2.
    #[serde(default = "default_temperature", deserialize_with = "crate::lax::f32")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::f32")
    )]
    pub temperature: f32,
    /// Ask for a JSON object: sets `response_format: json_object` and adds a
    /// system hint; `data` is then the parsed object (code fences stripped)
    /// when it parses, else the text. Default `false`.
    #[serde(default, deserialize_with = "crate::lax::bool")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::bool")
    )]
    pub json_mode: bool,
    /// Upper bound on generated tokens. Default: none.
    #[serde(default, deserialize_with = "crate::lax::opt_u32")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::opt_u32")
    )]
    pub max_tokens: Option<u32>,
}

impl ChatRequest {
    /// A chat of `messages` with every other field at its default.
    pub fn new(messages: Vec<ChatMessage>) -> ChatRequest {
        ChatRequest {
            messages,
            model: None,
            temperature: default_temperature(),
            json_mode: false,
            max_tokens: None,
        }
    }

    /// A chat of one user message, `content`, with every other field at
    /// its default.
    pub fn user(content: impl Into<String>) -> ChatRequest {
        ChatRequest::new(vec![ChatMessage::new("user", content)])
    }
}

fn default_temperature() -> f32 {
    0.2
}

/// Token counts reported by the backend.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
    /// Prompt and generated tokens together.
    pub total_tokens: u64,
}

/// Where the answer came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ChatMeta {
    /// The model name the backend used.
    pub model: String,
    /// Token usage, when the backend reports it.
    pub usage: Option<Usage>,
    /// Which configured provider answered (its name, e.g. `primary`).
    #[serde(default)]
    pub provider: Option<String>,
}

/// Reply of `rag.chat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ChatReply {
    /// The parsed JSON when `json_mode` was set and the answer parses, else the
    /// answer text as a string.
    pub data: serde_json::Value,
    /// The model and provider that answered, and the token usage.
    pub meta: ChatMeta,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_is_the_request_with_only_a_user_message() {
        let decoded: ChatRequest =
            serde_json::from_str(r#"{"messages": [{"role": "user", "content": "hi"}]}"#).unwrap();
        assert_eq!(ChatRequest::user("hi"), decoded);
    }
}
