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

use async_openai::config::Config as _;
use bytes::Bytes;
use futures::StreamExt;
use ragwire_common::settings::parse;
use ragwire_common::usage::{Counter, Meter};
use ragwire_schemas::JsonMap;

use super::upstream::{self, OpenAiClient};
use crate::error::{Backend, Error};
use crate::retry::RetryPolicy;

/// The chat LLM: a chain of OpenAI-compatible providers and model aliases.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "LLM")]
pub struct LlmConfig {
    /// Base URL of the first OpenAI-compatible provider (LiteLLM, vLLM,
    /// Ollama, OpenAI), `/v1` included.
    #[arg(id = "llm.base_url", long = "llm-base-url", env = "RAGWIRE_LLM_BASE_URL",
          default_value = "http://127.0.0.1:4000/v1", value_parser = parse::http_url)]
    pub base_url: String,
    /// Key of the first provider.
    #[arg(id = "llm.api_key", long = "llm-api-key", env = "RAGWIRE_LLM_API_KEY")]
    pub api_key: Option<String>,
    /// Further providers, tried in order when one fails: base URLs,
    /// comma-separated.
    #[arg(id = "llm.fallback_urls", long = "llm-fallback-urls", env = "RAGWIRE_LLM_FALLBACK_URLS",
          value_delimiter = ',', value_parser = parse::http_url)]
    pub fallback_urls: Vec<String>,
    /// Keys of the fallback providers, in the same order.
    #[arg(
        id = "llm.fallback_api_keys",
        long = "llm-fallback-api-keys",
        env = "RAGWIRE_LLM_FALLBACK_API_KEYS",
        value_delimiter = ','
    )]
    pub fallback_api_keys: Vec<String>,
    /// Names of the fallback providers, in the same order, as replies and
    /// logs show them (default `fallback-1`, `fallback-2`, ...).
    #[arg(id = "llm.fallback_names", long = "llm-fallback-names",
          env = "RAGWIRE_LLM_FALLBACK_NAMES", value_delimiter = ',', value_parser = parse::token)]
    pub fallback_names: Vec<String>,
    /// Model aliases, `alias=model`, comma-separated; `provider:alias=model`
    /// maps an alias on one provider only (`primary` or a fallback's name).
    #[arg(id = "llm.aliases", long = "llm-aliases", env = "RAGWIRE_LLM_ALIASES",
          value_delimiter = ',', value_parser = parse::pair)]
    pub aliases: Vec<(String, String)>,
    /// Alias used when a request names no model or an unknown one.
    #[arg(
        id = "llm.default_alias",
        long = "llm-default-alias",
        env = "RAGWIRE_LLM_DEFAULT_ALIAS",
        default_value = "rag-answer"
    )]
    pub default_alias: String,
    /// Per LLM attempt, in milliseconds.
    #[arg(id = "llm.timeout_ms", long = "llm-timeout-ms", env = "RAGWIRE_LLM_TIMEOUT_MS",
          default_value = "60000", value_parser = parse::timeout)]
    pub timeout: Duration,
}

ragwire_common::default_from_declarations!(LlmConfig);

/// The name of the first provider of the chain.
pub const PRIMARY: &str = "primary";

/// One OpenAI-compatible endpoint of the provider chain.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Name shown in replies and logs.
    pub name: String,
    /// Base URL, `/v1` included.
    pub base_url: String,
    /// Its key.
    pub api_key: Option<String>,
    /// Aliases on this provider only (alias -> model name there).
    pub aliases: BTreeMap<String, String>,
}

impl LlmConfig {
    /// The chain: the primary provider, then the fallbacks in order.
    pub fn providers(&self) -> Vec<ProviderConfig> {
        let primary = ProviderConfig {
            name: PRIMARY.into(),
            base_url: self.base_url.clone(),
            api_key: self.api_key.clone(),
            aliases: BTreeMap::new(),
        };
        let fallbacks = self
            .fallback_urls
            .iter()
            .enumerate()
            .map(|(i, url)| ProviderConfig {
                name: self
                    .fallback_names
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("fallback-{}", i + 1)),
                base_url: url.clone(),
                api_key: self.fallback_api_keys.get(i).cloned(),
                aliases: BTreeMap::new(),
            });
        let mut chain: Vec<ProviderConfig> = std::iter::once(primary).chain(fallbacks).collect();
        for (alias, model) in &self.aliases {
            if let Some((provider, alias)) = alias.split_once(':') {
                if let Some(p) = chain.iter_mut().find(|p| p.name == provider) {
                    p.aliases.insert(alias.to_owned(), model.clone());
                }
            }
        }
        chain
    }

    /// The aliases of every provider (those not qualified by a provider).
    pub fn shared_aliases(&self) -> BTreeMap<String, String> {
        self.aliases
            .iter()
            .filter(|(alias, _)| !alias.contains(':'))
            .cloned()
            .collect()
    }

    /// Fails when a provider-qualified alias names no provider.
    pub fn validate(&self) -> Result<(), Error> {
        let providers = self.providers();
        for (alias, model) in &self.aliases {
            if let Some((provider, _)) = alias.split_once(':') {
                if !providers.iter().any(|p| p.name == provider) {
                    return Err(Error::config(
                        "RAGWIRE_LLM_ALIASES",
                        format!("`{alias}={model}` names provider `{provider}`, which is not in the chain"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// System hint added in JSON mode (some servers require the word "JSON").
const JSON_HINT: &str = "Respond with a single valid JSON object and nothing else.";

/// The chat LLM: a provider chain with aliases. Cheap to clone.
#[derive(Clone)]
pub struct Llm {
    inner: Arc<Inner>,
    /// Where the tenant's tokens are counted.
    meter: Option<Meter>,
}

struct Inner {
    providers: Vec<Provider>,
    entry_points: Vec<String>,
    aliases: BTreeMap<String, String>,
    default_alias: String,
    timeout: Duration,
    retry: RetryPolicy,
}

struct Provider {
    name: String,
    client: OpenAiClient,
    /// Where streamed completions are asked for, with `client`'s headers.
    stream_url: String,
    stream_headers: reqwest::header::HeaderMap,
    http: reqwest::Client,
    aliases: BTreeMap<String, String>,
}

impl Provider {
    /// This provider, as errors name it.
    fn backend(&self) -> Backend {
        Backend::Llm(Some(self.name.clone().into()))
    }
}

/// A model's chunks, as they come: each the JSON of one
/// `chat.completion.chunk`, checked to be JSON but not taken apart.
pub type Chunks = futures::stream::BoxStream<'static, Result<Bytes, Error>>;

/// A chunk as it came.
type RawChunk = Box<serde_json::value::RawValue>;

fn chunk_bytes(chunk: RawChunk) -> Bytes {
    Bytes::from(String::from(Box::<str>::from(chunk)))
}

/// How long the end of a model's body is waited for after `[DONE]`, so
/// that its connection goes back to the pool.
const BODY_END: Duration = Duration::from_secs(1);

/// The chunks of a model's server-sent events, read as they are asked for
/// (the caller's pace is the model connection's back-pressure); the
/// stream ends at `[DONE]`, after reading the body to its end.
fn sse_chunks(
    response: reqwest::Response,
    backend: Backend,
) -> futures::stream::BoxStream<'static, Result<RawChunk, Error>> {
    use eventsource_stream::Eventsource;
    let events = response.bytes_stream().eventsource();
    // The state: the events and the backend, until the stream has ended.
    futures::stream::unfold(Some((events, backend)), |state| async move {
        let (mut events, backend) = state?;
        loop {
            let event = match events.next().await {
                Some(Ok(event)) => event,
                Some(Err(e)) => {
                    let error = Error::Upstream {
                        backend,
                        status: 0,
                        message: format!("the stream broke: {}", upstream::error_chain(&e)),
                        retry_after: None,
                    };
                    return Some((Err(error), None));
                }
                None => return None,
            };
            if event.data == "[DONE]" {
                let _ = tokio::time::timeout(BODY_END, async {
                    while events.next().await.is_some() {}
                })
                .await;
                return None;
            }
            if event.event == "keepalive" {
                continue;
            }
            return Some(match serde_json::from_str::<RawChunk>(&event.data) {
                Ok(chunk) => (Ok(chunk), Some((events, backend))),
                Err(e) => {
                    let error = Error::Upstream {
                        backend: backend.clone(),
                        status: 200,
                        message: format!(
                            "unreadable chunk ({e}): {}",
                            upstream::truncate(&event.data, 200)
                        ),
                        retry_after: None,
                    };
                    (Err(error), Some((events, backend)))
                }
            });
        }
    })
    .boxed()
}

/// The `usage` of a streamed chunk.
#[derive(Deserialize)]
struct UsageChunk {
    #[serde(default)]
    usage: serde_json::Value,
    #[serde(default)]
    choices: Vec<serde_json::Value>,
}

/// The tokens of an OpenAI `usage` object: `total_tokens`, or prompt and
/// completion tokens added up; 0 when it has neither.
fn tokens_of(usage: &serde_json::Value) -> u64 {
    let field = |name: &str| usage.get(name).and_then(serde_json::Value::as_u64);
    field("total_tokens").unwrap_or_else(|| {
        field("prompt_tokens").unwrap_or(0) + field("completion_tokens").unwrap_or(0)
    })
}

/// One chat call.
#[derive(Debug, Clone)]
pub struct ChatCall {
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Alias or model name; `None` means the default alias.
    pub model: Option<String>,
    /// Sampling temperature, 0 to 2.
    pub temperature: f32,
    /// Ask for one JSON object (a system hint).
    pub json_mode: bool,
    /// With `json_mode`, also send `response_format: json_object`, which
    /// some servers do not support.
    pub response_format: bool,
    /// Most tokens to generate.
    pub max_tokens: Option<u32>,
    /// Send `model` as it is when no alias table maps it, rather than
    /// falling back to the default alias (a probe of a named model).
    pub verbatim_model: bool,
}

/// A chat answer.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The answer's text.
    pub text: String,
    /// The model name the backend reports.
    pub model: String,
    /// Token counts, when the backend reports them.
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
    /// Builds the chain from the configuration; `entry_points` are model
    /// names every request may use (the extraction chain's aliases).
    pub fn new(
        config: &LlmConfig,
        entry_points: &[String],
        retry: RetryPolicy,
        http: reqwest::Client,
    ) -> Llm {
        let mut entry_points: Vec<String> = entry_points
            .iter()
            .map(|e| e.trim().to_owned())
            .chain([config.default_alias.clone()])
            .filter(|e| !e.is_empty())
            .collect();
        entry_points.sort();
        entry_points.dedup();
        let providers = config
            .providers()
            .into_iter()
            .map(|p| {
                let openai = upstream::config(&p.base_url, p.api_key.as_deref());
                let mut stream_headers = openai.headers();
                // The key never shows in a header's debug output.
                if let Some(key) = stream_headers.get_mut(reqwest::header::AUTHORIZATION) {
                    key.set_sensitive(true);
                }
                Provider {
                    stream_url: openai.url("/chat/completions"),
                    stream_headers,
                    client: upstream::client(openai, http.clone()),
                    http: http.clone(),
                    name: p.name,
                    aliases: p.aliases,
                }
            })
            .collect();
        Llm {
            inner: Arc::new(Inner {
                providers,
                aliases: config.shared_aliases(),
                entry_points,
                default_alias: config.default_alias.clone(),
                timeout: config.timeout,
                retry,
            }),
            meter: None,
        }
    }

    /// The same chain, counting the tokens of its answers (their `usage`)
    /// on `meter`.
    pub fn metered(&self, meter: Option<Meter>) -> Llm {
        Llm {
            inner: self.inner.clone(),
            meter,
        }
    }

    fn count(&self, tokens: u64) {
        if let Some(meter) = &self.meter {
            meter.add(Counter::Tokens, tokens);
        }
    }

    /// The alias a request's model name resolves to: a known alias or model
    /// stays; anything else (or none) becomes the default alias.
    pub fn resolve_alias(&self, requested: Option<&str>) -> String {
        let inner = &self.inner;
        match requested.map(str::trim) {
            Some(name)
                if inner.entry_points.iter().any(|e| e == name)
                    || inner.aliases.contains_key(name)
                    || inner.aliases.values().any(|m| m == name)
                    || inner.providers.iter().any(|p| p.aliases.contains_key(name)) =>
            {
                name.to_owned()
            }
            _ => inner.default_alias.clone(),
        }
    }

    /// The names a request may use whatever the alias tables say: the
    /// default alias and the extraction chain's, sorted.
    pub fn entry_points(&self) -> &[String] {
        &self.inner.entry_points
    }

    /// Every model name a request may use: the entry points, the aliases
    /// and the models they map to, sorted.
    pub fn model_names(&self) -> Vec<String> {
        let inner = &self.inner;
        let mut names: Vec<String> = inner
            .entry_points
            .iter()
            .chain(inner.aliases.keys())
            .chain(inner.aliases.values())
            .chain(inner.providers.iter().flat_map(|p| p.aliases.keys()))
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The model `alias` names on `provider`.
    fn model_on(&self, provider: &Provider, alias: &str) -> String {
        provider
            .aliases
            .get(alias)
            .or_else(|| self.inner.aliases.get(alias))
            .cloned()
            .unwrap_or_else(|| alias.to_owned())
    }

    /// Runs `call` on each provider in turn, each with the retry policy,
    /// until one succeeds; `call` gets the model the alias names there.
    async fn down_the_chain<'a, T, F, Fut>(&'a self, alias: &str, call: F) -> Result<T, Error>
    where
        F: Fn(&'a Provider, String) -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        let mut last_error = None;
        for provider in &self.inner.providers {
            let model = self.model_on(provider, alias);
            let result = self.inner.retry.run(|| call(provider, model.clone())).await;
            match result {
                Ok(done) => return Ok(done),
                Err(err) => {
                    tracing::warn!(provider = %provider.name, model = %model, error = %err, "LLM provider failed");
                    last_error = Some(err);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| Error::Unavailable {
            backend: Backend::Llm(None),
            message: "no provider configured".into(),
        }))
    }

    /// Runs one chat call down the provider chain.
    pub async fn complete(&self, call: &ChatCall) -> Result<Completion, Error> {
        let alias = match (&call.model, call.verbatim_model) {
            // A name asked for by name goes as it is when no table maps it.
            (Some(name), true) => name.trim().to_owned(),
            _ => self.resolve_alias(call.model.as_deref()),
        };
        self.down_the_chain(&alias, |provider, model| {
            self.attempt(provider, model, call)
        })
        .await
    }

    /// An OpenAI chat completion request as it came (`body` without its
    /// `model`), down the provider chain: the model's reply object as it
    /// came.
    pub async fn complete_raw(
        &self,
        body: JsonMap,
        model: Option<&str>,
    ) -> Result<serde_json::Value, Error> {
        let alias = self.resolve_alias(model);
        self.down_the_chain(&alias, |provider, model| {
            let mut body = body.clone();
            body.insert("model".into(), json!(model));
            body.insert("stream".into(), json!(false));
            async move {
                let backend = provider.backend();
                let chat = provider.client.chat();
                let call = tokio::time::timeout(
                    self.inner.timeout,
                    chat.create_byot::<_, serde_json::Value>(body),
                );
                let reply: serde_json::Value = crate::waiting::on(backend.clone(), call)
                    .await
                    .map_err(|_| Error::Timeout {
                        backend: backend.clone(),
                        after: self.inner.timeout,
                    })?
                    .map_err(|e| upstream::map_error(&backend, e))?;
                self.count(tokens_of(&reply["usage"]));
                Ok(reply)
            }
        })
        .await
    }

    /// An OpenAI chat completion request (`body` without its `model`),
    /// streamed: the model's chunks as they come. The chain moves on to the
    /// next provider (and retries) while no chunk has come; after the first,
    /// a failure ends the stream with its error. Lazy: nothing is sent until
    /// the stream is polled, and dropping it drops the model's call.
    pub fn stream(&self, body: JsonMap, model: Option<&str>) -> Chunks {
        let llm = self.clone();
        let alias = self.resolve_alias(model);
        let mut body = body;
        // Tokens are counted from the model's usage chunk: asked for when
        // metering, and then kept from a client that did not ask for it.
        let asked = body
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(serde_json::Value::as_bool)
            == Some(true);
        let hide_usage = self.meter.as_ref().is_some_and(Meter::counting) && !asked;
        if hide_usage {
            let options = body.entry("stream_options").or_insert_with(|| json!({}));
            if let Some(options) = options.as_object_mut() {
                options.insert("include_usage".into(), json!(true));
            }
        }
        let opened = async move {
            llm.down_the_chain(&alias, |provider, model| {
                let mut body = body.clone();
                body.insert("model".into(), json!(model));
                body.insert("stream".into(), json!(true));
                llm.open_stream(provider, body, hide_usage)
            })
            .await
        };
        futures::stream::once(opened)
            .flat_map(|opened| match opened {
                Ok((first, rest)) => futures::stream::once(async { Ok(first) })
                    .chain(rest)
                    .boxed(),
                Err(e) => futures::stream::once(async { Err(e) }).boxed(),
            })
            .boxed()
    }

    /// Opens a stream on `provider` and waits for its first chunk;
    /// `hide_usage`: the usage chunk is counted and not passed on.
    async fn open_stream(
        &self,
        provider: &Provider,
        body: JsonMap,
        hide_usage: bool,
    ) -> Result<(Bytes, Chunks), Error> {
        let backend = provider.backend();
        let timeout = self.inner.timeout;
        let timed_out = |backend: &Backend| Error::Timeout {
            backend: backend.clone(),
            after: timeout,
        };
        // Read here, chunk by chunk as the stream is polled: `async-openai`'s
        // streams read the model from a task of their own into an unbounded
        // queue, which would read on while the client gives no credit, and
        // stop at `[DONE]` without waiting for the body's end (which can
        // cost the connection).
        let request = provider
            .http
            .post(&provider.stream_url)
            .headers(provider.stream_headers.clone())
            .json(&body);
        let response = crate::waiting::on(
            backend.clone(),
            tokio::time::timeout(timeout, async {
                let response = request
                    .send()
                    .await
                    .map_err(|e| upstream::transport_error(&backend, &e))?;
                upstream::check_status(response)
                    .await
                    .map_err(|e| upstream::status_error(&backend, e))
            }),
        )
        .await
        .map_err(|_| timed_out(&backend))??;
        let mut stream = sse_chunks(response, backend.clone());
        let first = crate::waiting::on(
            backend.clone(),
            tokio::time::timeout(timeout, stream.next()),
        )
        .await
        .map_err(|_| timed_out(&backend))?;
        let meter = self.meter.clone();
        // `None`: a usage chunk the client did not ask for.
        let count = move |chunk: RawChunk| -> Option<Bytes> {
            // The usage chunk (asked for by `stream_options.include_usage`)
            // is the only one that names `total_tokens`.
            if let Some(meter) = &meter {
                if chunk.get().contains("\"total_tokens\"") {
                    if let Ok(usage) = serde_json::from_str::<UsageChunk>(chunk.get()) {
                        meter.add(Counter::Tokens, tokens_of(&usage.usage));
                        if hide_usage && usage.choices.is_empty() {
                            return None;
                        }
                    }
                }
            }
            Some(chunk_bytes(chunk))
        };
        match first {
            Some(Ok(chunk)) => {
                let first = count(chunk).unwrap_or_else(|| Bytes::from_static(b"{}"));
                let rest = stream.filter_map(move |chunk| {
                    futures::future::ready(match chunk {
                        Ok(chunk) => count(chunk).map(Ok),
                        Err(e) => Some(Err(e)),
                    })
                });
                Ok((first, rest.boxed()))
            }
            Some(Err(e)) => Err(e),
            None => Err(Error::Upstream {
                backend,
                status: 200,
                message: "the stream ended before its first chunk".into(),
                retry_after: None,
            }),
        }
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
                backend: Backend::Llm(None),
                message: "no provider configured".into(),
            })?;
        let model = provider
            .aliases
            .get(&alias)
            .or_else(|| inner.aliases.get(&alias))
            .cloned()
            .unwrap_or(alias);
        self.attempt(provider, model, call).await
    }

    async fn attempt(
        &self,
        provider: &Provider,
        model: String,
        call: &ChatCall,
    ) -> Result<Completion, Error> {
        let backend = provider.backend();
        let mut messages: Vec<serde_json::Value> = Vec::with_capacity(call.messages.len() + 1);
        if call.json_mode {
            messages.push(json!({"role": "system", "content": JSON_HINT}));
        }
        messages.extend(call.messages.iter().map(|m| {
            // The message's other fields (`name`, `tool_call_id`, ...) go as
            // they came.
            let mut message = m.extra.clone();
            message.insert("role".into(), json!(m.role));
            message.insert("content".into(), json!(m.content));
            serde_json::Value::Object(message)
        }));
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
        let call = tokio::time::timeout(
            self.inner.timeout,
            chat.create_byot::<_, RawCompletion>(body),
        );
        let raw = crate::waiting::on(backend.clone(), call)
            .await
            .map_err(|_| Error::Timeout {
                backend: backend.clone(),
                after: self.inner.timeout,
            })?
            .map_err(|e| upstream::map_error(&backend, e))?;
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
        if let Some(usage) = &raw.usage {
            self.count(
                usage
                    .total_tokens
                    .max(usage.prompt_tokens + usage.completion_tokens),
            );
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A model's reply whose body comes in `pieces`, then maybe an error.
    fn reply(pieces: &[&'static str], broken: bool) -> reqwest::Response {
        let mut items: Vec<Result<Bytes, std::io::Error>> = pieces
            .iter()
            .map(|p| Ok(Bytes::from_static(p.as_bytes())))
            .collect();
        if broken {
            items.push(Err(std::io::Error::other("connection reset")));
        }
        let body = reqwest::Body::wrap_stream(futures::stream::iter(items));
        reqwest::Response::from(axum::http::Response::new(body))
    }

    async fn read(response: reqwest::Response) -> Vec<Result<String, Error>> {
        sse_chunks(response, Backend::Llm(Some("primary".into())))
            .map(|c| c.map(|c| c.get().to_owned()))
            .collect()
            .await
    }

    #[tokio::test]
    async fn chunks_come_as_sent_until_done_keepalives_skipped() {
        let got = read(reply(
            &[
                "data: {\"a\":1}\n\nevent: keepalive\ndata: {}\n\n",
                "data: {\"b\"",
                ":2}\n\ndata: [DONE]\n\n",
                "data: {\"after\":true}\n\n",
            ],
            false,
        ))
        .await;
        let got: Vec<String> = got.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            got,
            [r#"{"a":1}"#, r#"{"b":2}"#],
            "split events joined, nothing after [DONE]"
        );
    }

    #[tokio::test]
    async fn an_unreadable_chunk_is_an_upstream_error_and_the_rest_still_comes() {
        let got = read(reply(
            &["data: {\"a\":1}\n\ndata: not json\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n"],
            false,
        ))
        .await;
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0].as_deref().unwrap(), r#"{"a":1}"#);
        match &got[1] {
            Err(
                e @ Error::Upstream {
                    status: 200,
                    message,
                    ..
                },
            ) => {
                assert!(message.contains("unreadable chunk"), "{message}");
                assert!(message.contains("not json"), "{message}");
                assert_eq!(e.to_body().code, 502);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(got[2].as_deref().unwrap(), r#"{"b":2}"#);
    }

    #[tokio::test]
    async fn a_broken_body_ends_the_stream_with_an_upstream_error() {
        let got = read(reply(&["data: {\"a\":1}\n\n"], true)).await;
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].as_deref().unwrap(), r#"{"a":1}"#);
        match &got[1] {
            Err(Error::Upstream {
                status: 0, message, ..
            }) => {
                assert!(message.contains("the stream broke"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}
