//! A fake OpenAI-compatible API and reranker on 127.0.0.1, scriptable per
//! test: latency, failures with a status and `Retry-After`, and counters of
//! what it received.

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

/// Counters and settings shared with the server task.
#[derive(Default)]
pub struct FakeState {
    behaviour: Mutex<Behaviour>,
    failures: AtomicUsize,
    /// Chat completion requests received.
    pub chat_calls: AtomicUsize,
    /// Embedding requests received (backend calls, not texts).
    pub embed_calls: AtomicUsize,
    /// Texts received by the embedding endpoint.
    pub embed_texts: AtomicUsize,
    /// Rerank requests received.
    pub rerank_calls: AtomicUsize,
    /// The last chat request body.
    pub last_chat: Mutex<Option<Value>>,
    dim: usize,
}

/// A running fake server.
pub struct FakeOpenAi {
    /// `http://127.0.0.1:PORT/v1`
    pub base_url: String,
    /// `http://127.0.0.1:PORT`
    pub root: String,
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

    pub fn chat_calls(&self) -> usize {
        self.state.chat_calls.load(Ordering::SeqCst)
    }

    pub fn embed_calls(&self) -> usize {
        self.state.embed_calls.load(Ordering::SeqCst)
    }

    pub fn embed_texts(&self) -> usize {
        self.state.embed_texts.load(Ordering::SeqCst)
    }

    pub fn rerank_calls(&self) -> usize {
        self.state.rerank_calls.load(Ordering::SeqCst)
    }
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
    *state.last_chat.lock().unwrap() = Some(body.clone());
    if let Some(failure) = behave(&state).await {
        return failure;
    }
    let model = body["model"].as_str().unwrap_or("fake").to_owned();
    let last_user = body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned();
    let content = if body["response_format"]["type"] == "json_object" {
        json!({"echo": last_user}).to_string()
    } else {
        format!("echo: {last_user}")
    };
    let words = last_user.split_whitespace().count() as u64;
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

#[derive(serde::Deserialize)]
struct EmbeddingsIn {
    model: String,
    input: EmbeddingInput,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
}

#[derive(serde::Serialize)]
struct EmbeddingOut {
    object: &'static str,
    index: usize,
    embedding: Vec<f32>,
}

#[derive(serde::Serialize)]
struct EmbeddingsOut {
    object: &'static str,
    model: String,
    data: Vec<EmbeddingOut>,
}

async fn embeddings(
    State(state): State<Arc<FakeState>>,
    Json(body): Json<EmbeddingsIn>,
) -> Response {
    state.embed_calls.fetch_add(1, Ordering::SeqCst);
    if let Some(failure) = behave(&state).await {
        return failure;
    }
    let texts = match body.input {
        EmbeddingInput::One(s) => vec![s],
        EmbeddingInput::Many(v) => v,
    };
    state.embed_texts.fetch_add(texts.len(), Ordering::SeqCst);
    // Typed output: the fake should cost as little CPU as a fake can.
    let data: Vec<EmbeddingOut> = texts
        .iter()
        .enumerate()
        .map(|(index, t)| EmbeddingOut {
            object: "embedding",
            index,
            embedding: fake_vector(t, state.dim),
        })
        .collect();
    Json(EmbeddingsOut {
        object: "list",
        model: body.model,
        data,
    })
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
        let h = word
            .to_lowercase()
            .bytes()
            .fold(0xcbf29ce484222325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
            });
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
