//! A fake OpenAI-compatible API and reranker on 127.0.0.1, scriptable per
//! test: latency, failures with a status and `Retry-After`, and counters of
//! what it received.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

/// How the fake answers.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Added before every answer.
    pub delay: Duration,
    /// Answer this many requests with `fail_status` before answering normally
    /// (`usize::MAX`: always).
    pub fail_times: usize,
    /// Status of the failures (e.g. 429, 500, 503).
    pub fail_status: u16,
    /// `Retry-After` sent with failures.
    pub retry_after: Option<String>,
}

/// One scripted chat answer for a model.
#[derive(Debug, Clone)]
pub struct Scripted {
    /// Waited before answering.
    pub delay: Duration,
    /// Instead of `delay`, a random wait from a log-normal distribution with
    /// this median and 95th percentile: the long tail of real LLM latency.
    pub long_tail: Option<(Duration, Duration)>,
    /// 200, or an error status.
    pub status: u16,
    /// `Retry-After` of an error.
    pub retry_after: Option<String>,
    /// The message content of a 200. [`ECHO_GRAPH`] makes a graph of the
    /// capitalised words of the last user message.
    pub content: String,
}

/// Content that makes the fake answer with a graph of the capitalised words
/// of the request's last user message, each linked to the next by `NEXT`.
pub const ECHO_GRAPH: &str = "{{echo-graph}}";

impl Scripted {
    /// Answers `content` at once.
    pub fn answer(content: impl Into<String>) -> Scripted {
        Scripted {
            delay: Duration::ZERO,
            long_tail: None,
            status: 200,
            retry_after: None,
            content: content.into(),
        }
    }

    /// Fails with `status`.
    pub fn fail(status: u16) -> Scripted {
        Scripted {
            status,
            ..Scripted::answer("")
        }
    }

    /// The same, after `delay`.
    pub fn after(mut self, delay: Duration) -> Scripted {
        self.delay = delay;
        self
    }

    /// The same, after a log-normal wait with `median` and `p95`.
    pub fn long_tail(mut self, median: Duration, p95: Duration) -> Scripted {
        self.long_tail = Some((median, p95));
        self
    }

    fn wait(&self) -> Duration {
        let Some((median, p95)) = self.long_tail else {
            return self.delay;
        };
        // Box-Muller: a standard normal from two uniforms.
        let (u1, u2): (f64, f64) = (rand::random::<f64>().max(1e-12), rand::random());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        let sigma = (p95.as_secs_f64() / median.as_secs_f64()).ln() / 1.6449;
        Duration::from_secs_f64(median.as_secs_f64() * (sigma * z).exp())
    }

    /// The same, with a `Retry-After`.
    pub fn retry_after(mut self, value: &str) -> Scripted {
        self.retry_after = Some(value.into());
        self
    }
}

/// Counters and settings shared with the server task.
#[derive(Default)]
pub struct FakeState {
    behaviour: Mutex<Behaviour>,
    failures: AtomicUsize,
    /// Chat completion requests received.
    pub chat_calls: AtomicUsize,
    /// Chat completion requests being answered (whole answers; a stream
    /// counts until its answer starts).
    pub chats_in_flight: AtomicUsize,
    /// The most chat completion requests answered at once.
    pub most_chats_in_flight: AtomicUsize,
    /// Embedding requests received (backend calls, not texts).
    pub embed_calls: AtomicUsize,
    /// Texts received by the embedding endpoint.
    pub embed_texts: AtomicUsize,
    /// Embedding requests that asked for base64 vectors.
    pub embed_base64_calls: AtomicUsize,
    /// The `Authorization` header of the last embedding request.
    pub last_embed_auth: Mutex<Option<String>>,
    /// Rerank requests received.
    pub rerank_calls: AtomicUsize,
    /// TCP connections accepted.
    pub connections: AtomicUsize,
    /// The last chat request body.
    pub last_chat: Mutex<Option<Value>>,
    /// Scripted answers per model name, used in order; the last one repeats.
    scripts: Mutex<HashMap<String, VecDeque<Scripted>>>,
    /// Chat request bodies per model name, in arrival order.
    pub chats_by_model: Mutex<HashMap<String, Vec<Value>>>,
    /// Chat requests whose client went away before the answer.
    pub dropped_chats: AtomicUsize,
    /// How chat answers are streamed.
    stream_plan: Mutex<StreamPlan>,
    /// What was seen of the streams.
    pub streams: Mutex<StreamCounts>,
    /// Chat bodies are not kept (a long benchmark would pile them up).
    unrecorded: std::sync::atomic::AtomicBool,
    dim: usize,
}

/// A running fake server.
pub struct FakeOpenAi {
    /// `http://127.0.0.1:PORT/v1`
    pub base_url: String,
    /// `http://127.0.0.1:PORT`
    pub root: String,
    /// What the fake has been asked, and how it behaves.
    pub state: Arc<FakeState>,
    stop: CancellationToken,
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl FakeOpenAi {
    /// Starts a fake with 8-dimensional embeddings and instant answers.
    pub async fn start() -> FakeOpenAi {
        FakeOpenAi::start_with(Behaviour::default(), 8).await
    }

    /// Starts a fake with the given behaviour and embedding dimension.
    pub async fn start_with(behaviour: Behaviour, dim: usize) -> FakeOpenAi {
        let state = Arc::new(FakeState {
            behaviour: Mutex::new(behaviour.clone()),
            failures: AtomicUsize::new(behaviour.fail_times),
            dim,
            ..FakeState::default()
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/embeddings", post(embeddings))
            .route("/rerank", post(rerank_tei))
            .route("/seed/rerank", post(rerank_seed))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake");
        let addr: SocketAddr = listener.local_addr().expect("fake address");
        let stop = CancellationToken::new();
        let token = stop.clone();
        // Small answers go out at once, as from a real model server.
        let counted = state.clone();
        let listener = axum::serve::ListenerExt::tap_io(listener, move |tcp| {
            counted.connections.fetch_add(1, Ordering::Relaxed);
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(token.cancelled_owned())
                .await;
        });
        FakeOpenAi {
            base_url: format!("http://{addr}/v1"),
            root: format!("http://{addr}"),
            state,
            stop,
        }
    }

    /// Changes the behaviour from now on (and resets the failure count).
    pub fn set(&self, behaviour: Behaviour) {
        self.state
            .failures
            .store(behaviour.fail_times, Ordering::SeqCst);
        *self.state.behaviour.lock().unwrap() = behaviour;
    }

    /// Chat completion calls so far.
    pub fn chat_calls(&self) -> usize {
        self.state.chat_calls.load(Ordering::SeqCst)
    }

    /// The most chat completion calls answered at once since the last
    /// call (which starts the count again).
    pub fn most_chats_at_once(&self) -> usize {
        self.state.most_chats_in_flight.swap(0, Ordering::SeqCst)
    }

    /// Embedding calls so far.
    pub fn embed_calls(&self) -> usize {
        self.state.embed_calls.load(Ordering::SeqCst)
    }

    /// Texts embedded so far, over all calls.
    pub fn embed_texts(&self) -> usize {
        self.state.embed_texts.load(Ordering::SeqCst)
    }

    /// Embedding calls that asked for base64 vectors.
    pub fn embed_base64_calls(&self) -> usize {
        self.state.embed_base64_calls.load(Ordering::SeqCst)
    }

    /// The `Authorization` header of the last embedding request, if any.
    pub fn last_embed_auth(&self) -> Option<String> {
        self.state
            .last_embed_auth
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Rerank calls so far.
    pub fn rerank_calls(&self) -> usize {
        self.state.rerank_calls.load(Ordering::SeqCst)
    }

    /// Scripts the chat answers for `model`.
    pub fn script(&self, model: &str, answers: Vec<Scripted>) {
        self.state
            .scripts
            .lock()
            .unwrap()
            .insert(model.to_owned(), answers.into());
    }

    /// The chat request bodies `model` received.
    pub fn chats_for(&self, model: &str) -> Vec<Value> {
        self.state
            .chats_by_model
            .lock()
            .unwrap()
            .get(model)
            .cloned()
            .unwrap_or_default()
    }

    /// Stops keeping chat request bodies (`chats_for`, `last_chat`).
    pub fn stop_recording(&self) {
        self.state.unrecorded.store(true, Ordering::Relaxed);
    }

    /// Streams chat answers by `plan` from now on.
    pub fn stream_plan(&self, plan: StreamPlan) {
        *self.state.stream_plan.lock().unwrap() = plan;
    }

    /// (started, finished, dropped, chunks) of the streams so far, and when
    /// the last one was dropped.
    pub fn streams(&self) -> (usize, usize, usize, usize, Option<std::time::Instant>) {
        let c = self.state.streams.lock().unwrap();
        (c.started, c.finished, c.dropped, c.chunks, c.dropped_at)
    }

    /// Chat requests whose client hung up before the answer.
    pub fn dropped_chats(&self) -> usize {
        self.state.dropped_chats.load(Ordering::SeqCst)
    }
}

/// Counts a chat request as dropped unless it was answered.
/// A chat being answered, counted until dropped.
struct Busy<'a>(&'a FakeState);

impl<'a> Busy<'a> {
    fn enter(state: &'a FakeState) -> Busy<'a> {
        let now = state.chats_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.most_chats_in_flight.fetch_max(now, Ordering::SeqCst);
        Busy(state)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.chats_in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Answering<'a> {
    state: &'a FakeState,
    answered: bool,
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.state.dropped_chats.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A graph of the capitalised words of `text`: `Word` nodes, each linked to
/// the next by `NEXT`.
fn echo_graph(text: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    for w in text.split(|c: char| !c.is_alphanumeric()) {
        if w.starts_with(char::is_uppercase) && w != "Text" && !words.iter().any(|x| x == w) {
            words.push(w.to_owned());
        }
    }
    let nodes: Vec<Value> = words
        .iter()
        .map(|w| json!({"id": w, "type": "Word"}))
        .collect();
    let edges: Vec<Value> = words
        .windows(2)
        .map(|p| json!({"src": p[0], "dst": p[1], "type": "NEXT"}))
        .collect();
    json!({"nodes": nodes, "edges": edges}).to_string()
}

/// The next scripted answer for `model`, if it has a script: its content,
/// or its failure.
async fn scripted(
    state: &FakeState,
    model: &str,
    last_user: &str,
) -> Option<Result<String, Response>> {
    let step = {
        let mut scripts = state.scripts.lock().unwrap();
        let queue = scripts.get_mut(model)?;
        if queue.len() > 1 {
            queue.pop_front()
        } else {
            queue.front().cloned()
        }
    }?;
    let wait = step.wait();
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    if step.status != 200 {
        let status = StatusCode::from_u16(step.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut headers = HeaderMap::new();
        if let Some(ra) = &step.retry_after {
            headers.insert("retry-after", HeaderValue::from_str(ra).unwrap());
        }
        let body = json!({"error": {"message": format!("scripted failure {}", step.status), "type": "fake"}});
        return Some(Err((status, headers, Json(body)).into_response()));
    }
    Some(Ok(if step.content == ECHO_GRAPH {
        echo_graph(last_user)
    } else {
        step.content
    }))
}

/// Applies delay and scripted failure; `Some(response)` means fail.
async fn behave(state: &FakeState) -> Option<Response> {
    let behaviour = state.behaviour.lock().unwrap().clone();
    if !behaviour.delay.is_zero() {
        tokio::time::sleep(behaviour.delay).await;
    }
    let fail = state
        .failures
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match n {
            0 => None,
            usize::MAX => Some(usize::MAX),
            n => Some(n - 1),
        })
        .is_ok();
    if !fail {
        return None;
    }
    let status =
        StatusCode::from_u16(behaviour.fail_status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut headers = HeaderMap::new();
    if let Some(ra) = &behaviour.retry_after {
        headers.insert("retry-after", HeaderValue::from_str(ra).unwrap());
    }
    let body = json!({"error": {"message": format!("scripted failure {}", status.as_u16()), "type": "fake"}});
    Some((status, headers, Json(body)).into_response())
}

async fn chat(State(state): State<Arc<FakeState>>, Json(body): Json<Value>) -> Response {
    state.chat_calls.fetch_add(1, Ordering::SeqCst);
    let _busy = Busy::enter(&state);
    let model = body["model"].as_str().unwrap_or("fake").to_owned();
    if !state.unrecorded.load(Ordering::Relaxed) {
        *state.last_chat.lock().unwrap() = Some(body.clone());
        state
            .chats_by_model
            .lock()
            .unwrap()
            .entry(model.clone())
            .or_default()
            .push(body.clone());
    }
    let last_user = body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned();
    let mut answering = Answering {
        state: &state,
        answered: false,
    };
    let words = last_user.split_whitespace().count() as u64;
    let content = match scripted(&state, &model, &last_user).await {
        Some(Ok(content)) => content,
        Some(Err(failure)) => {
            answering.answered = true;
            return failure;
        }
        None => {
            answering.answered = true;
            if let Some(failure) = behave(&state).await {
                return failure;
            }
            if body["response_format"]["type"] == "json_object" {
                json!({"echo": last_user}).to_string()
            } else {
                format!("echo: {last_user}")
            }
        }
    };
    answering.answered = true;
    if body["stream"] == true {
        let usage = body["stream_options"]["include_usage"] == true;
        return stream(state.clone(), model, content, usage);
    }
    Json(json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": words, "completion_tokens": words + 1, "total_tokens": 2 * words + 1}
    }))
    .into_response()
}

/// How the fake streams a chat answer (`stream: true`).
#[derive(Debug, Clone, Default)]
pub struct StreamPlan {
    /// Chunks of content; 0: one per word of the answer.
    pub chunks: usize,
    /// Waited before each chunk.
    pub gap: Duration,
    /// Break the connection after this many chunks.
    pub break_after: Option<usize>,
}

/// What the fake saw of its streams.
#[derive(Debug, Default)]
pub struct StreamCounts {
    /// Streams begun.
    pub started: usize,
    /// Streams sent to their end.
    pub finished: usize,
    /// Streams whose client went away before their end.
    pub dropped: usize,
    /// When the last client went away.
    pub dropped_at: Option<std::time::Instant>,
    /// Chunks sent, over all streams.
    pub chunks: usize,
}

/// The answer as SSE `chat.completion.chunk` events (and a last one with
/// the usage when asked), then `[DONE]`.
fn stream(state: Arc<FakeState>, model: String, content: String, usage: bool) -> Response {
    let plan = state.stream_plan.lock().unwrap().clone();
    let pieces: Vec<String> = if plan.chunks == 0 {
        content.split_inclusive(' ').map(str::to_owned).collect()
    } else {
        (0..plan.chunks).map(|i| format!("{i} ")).collect()
    };
    state.streams.lock().unwrap().started += 1;
    let pieces_count = pieces.len();
    let usage_chunk = json!({
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
        "choices": [],
        "usage": {"prompt_tokens": 1, "completion_tokens": pieces_count, "total_tokens": pieces_count + 1}
    });
    let chunk = move |delta: Value, finish: Value| {
        let chunk = json!({
            "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
        });
        bytes::Bytes::from(format!("data: {chunk}\n\n"))
    };
    let guard = StreamGuard {
        state: state.clone(),
        finished: false,
    };
    let events = futures::stream::unfold(
        (guard, pieces.into_iter().enumerate(), false),
        move |(mut guard, mut pieces, done)| {
            let (plan, chunk, usage_chunk) = (plan.clone(), chunk.clone(), usage_chunk.clone());
            async move {
                if done {
                    return None;
                }
                if !plan.gap.is_zero() {
                    tokio::time::sleep(plan.gap).await;
                }
                let event = match pieces.next() {
                    Some((i, _)) if plan.break_after == Some(i) => {
                        guard.finished = true;
                        return Some((
                            Err(std::io::Error::other("the fake broke the stream")),
                            (guard, pieces, true),
                        ));
                    }
                    Some((i, piece)) => {
                        guard.state.streams.lock().unwrap().chunks += 1;
                        let role = if i == 0 {
                            json!({"role": "assistant", "content": piece})
                        } else {
                            json!({"content": piece})
                        };
                        return Some((Ok(chunk(role, Value::Null)), (guard, pieces, false)));
                    }
                    None => {
                        guard.finished = true;
                        guard.state.streams.lock().unwrap().finished += 1;
                        let last = chunk(json!({}), json!("stop"));
                        let mut out = last.to_vec();
                        if usage {
                            out.extend_from_slice(format!("data: {usage_chunk}\n\n").as_bytes());
                        }
                        out.extend_from_slice(b"data: [DONE]\n\n");
                        Ok(bytes::Bytes::from(out))
                    }
                };
                Some((event, (guard, pieces, true)))
            }
        },
    );
    (
        [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
        axum::body::Body::from_stream(events),
    )
        .into_response()
}

/// Counts a stream as dropped unless it was sent to its end.
struct StreamGuard {
    state: Arc<FakeState>,
    finished: bool,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if !self.finished {
            let mut counts = self.state.streams.lock().unwrap();
            counts.dropped += 1;
            counts.dropped_at = Some(std::time::Instant::now());
        }
    }
}

#[derive(serde::Deserialize)]
struct EmbeddingsIn {
    model: String,
    input: EmbeddingInput,
    #[serde(default)]
    encoding_format: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
}

async fn embeddings(
    State(state): State<Arc<FakeState>>,
    headers: axum::http::HeaderMap,
    Json(body): Json<EmbeddingsIn>,
) -> Response {
    state.embed_calls.fetch_add(1, Ordering::SeqCst);
    *state
        .last_embed_auth
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(failure) = behave(&state).await {
        return failure;
    }
    let texts = match body.input {
        EmbeddingInput::One(s) => vec![s],
        EmbeddingInput::Many(v) => v,
    };
    state.embed_texts.fetch_add(texts.len(), Ordering::SeqCst);
    let base64 = match body.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            let error = json!({"error": {"message": format!("unknown encoding_format {other}")}});
            return (StatusCode::BAD_REQUEST, Json(error)).into_response();
        }
    };
    if base64 {
        state.embed_base64_calls.fetch_add(1, Ordering::SeqCst);
    }
    // Written by hand: a remote model server's CPU is not ragwire's, so the
    // fake should cost as little of it as a fake can.
    let mut out = String::with_capacity(64 + texts.len() * (state.dim * 6 + 48));
    out.push_str(r#"{"object":"list","model":"#);
    out.push_str(&serde_json::to_string(&body.model).unwrap_or_default());
    out.push_str(r#","data":["#);
    for (index, text) in texts.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(r#"{"object":"embedding","index":"#);
        out.push_str(&index.to_string());
        out.push_str(r#","embedding":"#);
        let vector = fake_vector(text, state.dim);
        if base64 {
            // Base64 needs no JSON escaping.
            out.push('"');
            out.push_str(&ragwire_schemas::embed::f32s_to_base64(&vector));
            out.push('"');
        } else {
            out.push_str(&serde_json::to_string(&vector).unwrap_or_default());
        }
        out.push('}');
    }
    out.push_str("]}");
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        out,
    )
        .into_response()
}

/// A deterministic, L2-normalised bag-of-words vector: texts that share words
/// point the same way.
pub fn fake_vector(text: &str, dim: usize) -> Vec<f32> {
    let dim = dim.max(1);
    let mut v = vec![0f32; dim];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        // FNV-1a of the lower-cased word, without allocating it.
        let mut h = 0xcbf29ce484222325u64;
        let mut utf8 = [0u8; 4];
        for c in word.chars().flat_map(char::to_lowercase) {
            for b in c.encode_utf8(&mut utf8).bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
            }
        }
        v[(h % dim as u64) as usize] += 1.0;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm == 0.0 {
        v[0] = 1.0;
        return v;
    }
    v.iter().map(|x| x / norm).collect()
}

/// Fraction of query words found in the document.
pub fn overlap_score(query: &str, doc: &str) -> f32 {
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let q = words(query);
    let d = words(doc);
    if q.is_empty() {
        return 0.0;
    }
    q.iter().filter(|w| d.contains(w)).count() as f32 / q.len() as f32
}

fn scores(query: &str, docs: &[Value]) -> Vec<Value> {
    docs.iter()
        .enumerate()
        .map(|(i, d)| json!({"index": i, "score": overlap_score(query, d.as_str().unwrap_or_default())}))
        .collect()
}

async fn rerank_tei(State(state): State<Arc<FakeState>>, Json(body): Json<Value>) -> Response {
    state.rerank_calls.fetch_add(1, Ordering::SeqCst);
    if let Some(failure) = behave(&state).await {
        return failure;
    }
    let docs = body["texts"].as_array().cloned().unwrap_or_default();
    Json(Value::Array(scores(
        body["query"].as_str().unwrap_or_default(),
        &docs,
    )))
    .into_response()
}

async fn rerank_seed(State(state): State<Arc<FakeState>>, Json(body): Json<Value>) -> Response {
    state.rerank_calls.fetch_add(1, Ordering::SeqCst);
    if let Some(failure) = behave(&state).await {
        return failure;
    }
    let docs = body["documents"].as_array().cloned().unwrap_or_default();
    let mut results = scores(body["query"].as_str().unwrap_or_default(), &docs);
    results.sort_by(|a, b| {
        b["score"]
            .as_f64()
            .partial_cmp(&a["score"].as_f64())
            .unwrap()
    });
    results.truncate(body["top_n"].as_u64().unwrap_or(6) as usize);
    Json(json!({"results": results})).into_response()
}
