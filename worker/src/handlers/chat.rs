//! `rag.chat`: one chat completion down the LLM provider chain.

use ragwire_schemas::chat::{ChatMeta, ChatReply, ChatRequest};

use crate::backends::llm::ChatCall;
use crate::error::Error;
use crate::state::State;
use crate::validate::check_count;

/// The roles of OpenAI-compatible chat APIs.
const ROLES: [&str; 6] = [
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// Checks the messages and options, then runs one completion down the provider chain.
pub async fn handle(state: &State, req: ChatRequest) -> Result<ChatReply, Error> {
    check_count("messages", &req.messages, state.config.limits.max_texts)?;
    for (i, m) in req.messages.iter().enumerate() {
        if !ROLES.contains(&m.role.as_str()) {
            return Err(Error::bad_request(format!(
                "`messages[{i}].role` is `{}`; expected one of {}",
                m.role,
                ROLES.join(", ")
            )));
        }
    }
    if req.messages.iter().all(|m| m.content.trim().is_empty()) {
        return Err(Error::bad_request(
            "every message's `content` is empty: there is nothing to answer",
        ));
    }
    if !(0.0..=2.0).contains(&req.temperature) {
        return Err(Error::bad_request(format!(
            "`temperature` is {}; expected 0 to 2",
            req.temperature
        )));
    }
    let completion = state
        .llm
        .complete(&ChatCall {
            messages: req.messages,
            model: req.model,
            temperature: req.temperature,
            json_mode: req.json_mode,
            response_format: req.json_mode,
            max_tokens: req.max_tokens,
            verbatim_model: false,
        })
        .await?;
    let data = if req.json_mode {
        serde_json::from_str(strip_fences(&completion.text))
            .unwrap_or(serde_json::Value::String(completion.text))
    } else {
        serde_json::Value::String(completion.text)
    };
    Ok(ChatReply {
        data,
        meta: ChatMeta {
            model: completion.model,
            usage: completion.usage,
            provider: Some(completion.provider),
        },
    })
}

/// Models often wrap JSON in a Markdown code fence even in JSON mode.
pub(crate) fn strip_fences(text: &str) -> &str {
    let t = text.trim();
    let Some(body) = t.strip_prefix("```") else {
        return t;
    };
    let body = body.strip_prefix("json").unwrap_or(body);
    body.strip_suffix("```").unwrap_or(body).trim()
}

impl super::Encode for ChatReply {}

#[cfg(test)]
mod tests {
    #[test]
    fn strip_fences() {
        assert_eq!(super::strip_fences("```json\n{\"a\":1}\n```"), "{\"a\":1}");
        assert_eq!(super::strip_fences(" {\"a\":1} "), "{\"a\":1}");
    }
}
