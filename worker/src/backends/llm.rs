//! Chat completions over a chain of OpenAI-compatible providers.
//!
//! Each provider gets retries for transient failures ([`RetryPolicy`]); when
//! it still fails, the next provider in the chain is tried. Model aliases map
//! the names clients use (`rag-answer`, `graph-extractor`) to real models.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ragwire_schemas::chat::{ChatMessage, Usage};
use serde::Deserialize;
use serde_json::json;

use super::openai::{self, OpenAiClient};
use crate::config::{ms, Config};
use crate::error::Error;
use crate::retry::RetryPolicy;

/// System hint added in JSON mode (some servers require the word "JSON").
const JSON_HINT: &str = "Respond with a single valid JSON object and nothing else.";

/// The chat LLM: a provider chain with aliases. Cheap to clone.
#[derive(Clone)]
pub struct Llm {
    inner: Arc<Inner>,
}

struct Inner {
    providers: Vec<Provider>,
    aliases: BTreeMap<String, String>,
    default_alias: String,
    timeout: Duration,
    retry: RetryPolicy,
}

struct Provider {
    name: String,
    client: OpenAiClient,
    aliases: BTreeMap<String, String>,
}

/// One chat call.
#[derive(Debug, Clone)]
pub struct ChatCall {
    pub messages: Vec<ChatMessage>,
    /// Alias or model name; `None` means the default alias.
    pub model: Option<String>,
    pub temperature: f32,
    /// Ask for one JSON object (a system hint).
    pub json_mode: bool,
    /// With `json_mode`, also send `response_format: json_object`, which
    /// some servers do not support.
    pub response_format: bool,
    pub max_tokens: Option<u32>,
}

/// A chat answer.
#[derive(Debug, Clone)]
pub struct Completion {
    pub text: String,
    /// The model name the backend reports.
    pub model: String,
    pub usage: Option<Usage>,
    /// The provider that answered.
    pub provider: String,
}

// Only the fields ragwire reads: servers differ in the rest.
#[derive(Deserialize)]
struct RawCompletion {
    #[serde(default)]
    model: String,
    #[serde(default)]
    choices: Vec<RawChoice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct RawChoice {
    message: RawMessage,
}

#[derive(Deserialize)]
struct RawMessage {
    #[serde(default)]
    content: Option<String>,
}

impl Llm {
    /// Builds the chain from the configuration.
    pub fn new(config: &Config, http: reqwest::Client) -> Llm {
        let providers = config
            .providers()
            .into_iter()
            .map(|p| Provider {
                client: openai::client(&p.base_url, p.api_key.as_deref(), http.clone()),
                name: p.name,
                aliases: p.aliases,
            })
            .collect();
        Llm {
            inner: Arc::new(Inner {
                providers,
                aliases: config.llm.aliases.clone(),
                default_alias: config.llm.default_alias.clone(),
                timeout: ms(config.llm.timeout_ms),
                retry: RetryPolicy::from_config(&config.llm),
            }),
        }
    }

    /// The alias a request's model name resolves to: a known alias or model
    /// stays; anything else (or none) becomes the default alias.
    pub fn resolve_alias(&self, requested: Option<&str>) -> String {
        let inner = &self.inner;
        match requested {
            Some(name)
                if inner.aliases.contains_key(name)
                    || inner.aliases.values().any(|m| m == name)
                    || inner.providers.iter().any(|p| p.aliases.contains_key(name)) =>
            {
                name.to_owned()
            }
            _ => inner.default_alias.clone(),
        }
    }

    /// Runs one chat call down the provider chain.
    pub async fn complete(&self, call: &ChatCall) -> Result<Completion, Error> {
        let alias = self.resolve_alias(call.model.as_deref());
        let mut last_error = None;
        for provider in &self.inner.providers {
            let model = provider
                .aliases
                .get(&alias)
                .or_else(|| self.inner.aliases.get(&alias))
                .cloned()
                .unwrap_or_else(|| alias.clone());
            let result = self
                .inner
                .retry
                .run(|| self.attempt(provider, &model, call))
                .await;
            match result {
                Ok(completion) => return Ok(completion),
                Err(err) => {
                    tracing::warn!(provider = %provider.name, model = %model, error = %err, "LLM provider failed");
                    last_error = Some(err);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| Error::Unavailable {
            backend: "llm".into(),
            message: "no provider configured".into(),
        }))
    }

    /// One call, no retries and no fallback: on the first provider that
    /// defines the alias, else the primary. For callers that run their own
    /// chain (graph extraction hedges across aliases).
    pub async fn complete_once(&self, call: &ChatCall) -> Result<Completion, Error> {
        let alias = call
            .model
            .clone()
            .unwrap_or_else(|| self.inner.default_alias.clone());
        let inner = &self.inner;
        let provider = inner
            .providers
            .iter()
            .find(|p| p.aliases.contains_key(&alias))
            .or_else(|| inner.providers.first())
            .ok_or_else(|| Error::Unavailable {
                backend: "llm".into(),
                message: "no provider configured".into(),
            })?;
        let model = provider
            .aliases
            .get(&alias)
            .or_else(|| inner.aliases.get(&alias))
            .cloned()
            .unwrap_or(alias);
        self.attempt(provider, &model, call).await
    }

    async fn attempt(
        &self,
        provider: &Provider,
        model: &str,
        call: &ChatCall,
    ) -> Result<Completion, Error> {
        let backend = format!("LLM provider {}", provider.name);
        let mut messages: Vec<serde_json::Value> = Vec::with_capacity(call.messages.len() + 1);
        if call.json_mode {
            messages.push(json!({"role": "system", "content": JSON_HINT}));
        }
        messages.extend(
            call.messages
                .iter()
                .map(|m| json!({"role": m.role, "content": m.content})),
        );
        let mut body = json!({
            "model": model,
            "messages": messages,
            "temperature": call.temperature,
            "stream": false,
        });
        if call.json_mode && call.response_format {
            body["response_format"] = json!({"type": "json_object"});
        }
        if let Some(max) = call.max_tokens {
            body["max_tokens"] = json!(max);
        }
        let chat = provider.client.chat();
        let raw = tokio::time::timeout(
            self.inner.timeout,
            chat.create_byot::<_, RawCompletion>(body),
        )
        .await
        .map_err(|_| Error::Timeout {
            backend: backend.clone(),
            after: self.inner.timeout,
        })?
        .map_err(|e| openai::map_error(&backend, e))?;
        let text = raw
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .ok_or_else(|| Error::Upstream {
                backend: backend.clone(),
                status: 200,
                message: "reply has no message content".into(),
                retry_after: None,
            })?;
        Ok(Completion {
            text,
            model: if raw.model.is_empty() {
                model.to_owned()
            } else {
                raw.model
            },
            usage: raw.usage,
            provider: provider.name.clone(),
        })
    }
}
