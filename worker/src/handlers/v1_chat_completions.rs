//! `rag.v1.chat.completions` (`POST /v1/chat/completions`): OpenAI's chat
//! completion, passed through: the model through the aliases and the
//! provider chain, every other field to the model as it came, the model's
//! reply object back as it came; or, with `stream: true`, its chunks as they
//! come.

use ragwire_schemas::openai::{ChatCompletion, ChatCompletionRequest};
use serde_json::Value;

use super::{IntoReply, Reply, ReplyOf};
use crate::error::Error;
use crate::state::State;
use crate::validate::check_count;

/// The model's answer, whole or as chunks.
pub enum Outcome {
    /// The `chat.completion` object.
    Whole(ChatCompletion),
    /// The `chat.completion.chunk` objects, as they come.
    Stream(crate::backends::llm::Chunks),
}

impl ReplyOf<ChatCompletion> for Outcome {}

impl IntoReply for Outcome {
    async fn into_reply(self) -> Result<Reply, Error> {
        match self {
            Outcome::Whole(completion) => Ok(Reply::Whole(super::openai_object(&completion)?)),
            Outcome::Stream(chunks) => Ok(Reply::Stream(chunks)),
        }
    }
}

/// Checks the messages, then asks the model down the provider chain.
pub async fn handle(state: &State, req: ChatCompletionRequest) -> Result<Outcome, Error> {
    check_count("messages", &req.messages, state.config.limits.max_texts)?;
    let mut body = req.rest;
    body.insert(
        "messages".into(),
        Value::Array(req.messages.into_iter().map(Value::Object).collect()),
    );
    if req.stream {
        Ok(Outcome::Stream(
            state.llm.stream(body, req.model.as_deref()),
        ))
    } else {
        let completion = state.llm.complete_raw(body, req.model.as_deref()).await?;
        Ok(Outcome::Whole(ChatCompletion(completion)))
    }
}
