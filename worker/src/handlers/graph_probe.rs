//! `rag.graph.probe`: one chat call to a model, to check whether it answers
//! in JSON (as graph extraction needs) and how.

use std::time::Duration;

use ragwire_schemas::chat::ChatMessage;
use ragwire_schemas::graph::{ProbeReply, ProbeRequest};

use crate::backends::llm::ChatCall;
use crate::error::{Backend, Error};
use crate::state::State;
use crate::validate::check_text;

const DEFAULT_PROMPT: &str =
    "Return a JSON object with the keys \"nodes\" and \"edges\" describing: Ada Lovelace worked with Charles Babbage.";

/// Asks the model once and tells whether it answered with JSON.
pub async fn handle(state: &State, req: ProbeRequest) -> Result<ProbeReply, Error> {
    check_text("model", &req.model)?;
    let temperature = req.temperature.unwrap_or(0.0);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(Error::bad_request(format!(
            "`temperature` is {temperature}; expected 0 to 2"
        )));
    }
    let timeout = match req.timeout {
        None => None,
        Some(t) if t.is_finite() && t > 0.0 && t <= 600.0 => Some(Duration::from_secs_f64(t)),
        Some(t) => {
            return Err(Error::bad_request(format!(
                "`timeout` is {t}; expected 0 to 600 seconds"
            )))
        }
    };
    let messages = req
        .messages
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| vec![ChatMessage::new("user", DEFAULT_PROMPT)]);
    let call = ChatCall {
        messages,
        model: Some(req.model),
        temperature,
        json_mode: req.strict_json,
        response_format: req.strict_json,
        max_tokens: None,
        verbatim_model: true,
    };
    let completion = match timeout {
        Some(limit) => tokio::time::timeout(limit, state.llm.complete(&call))
            .await
            .map_err(|_| Error::Timeout {
                backend: Backend::Llm(None),
                after: limit,
            })??,
        None => state.llm.complete(&call).await?,
    };
    let provider = Some(completion.provider);
    Ok(
        match serde_json::from_str::<serde_json::Value>(super::chat::strip_fences(&completion.text))
        {
            Ok(data @ serde_json::Value::Object(_)) => ProbeReply {
                mode: "json".into(),
                provider,
                data: Some(data),
                text: None,
                error: None,
            },
            Ok(_) | Err(_) => ProbeReply {
                mode: "text".into(),
                provider,
                data: None,
                error: req
                    .strict_json
                    .then(|| "the reply is not a JSON object".to_owned()),
                text: Some(completion.text),
            },
        },
    )
}

impl super::Encode for ProbeReply {}
