//! OpenAI's API: `POST /v1/chat/completions` (whole or streamed as
//! server-sent events), `POST /v1/embeddings`, `GET /v1/models`, with
//! OpenAI's error shape, so OpenAI's SDKs and tools work against ragwire
//! unchanged. Requests go to the caller's tenant's subjects.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, FromRef, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use futures::StreamExt;
use ragwire_client::call::error_body;
use ragwire_client::error_code;
use ragwire_client::stream::{Chunks, Streamed};
use ragwire_client::{CallError, RagClient};
use ragwire_schemas::{headers, ErrorBody, Subject};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::auth::Caller;
use crate::error::{error_json, openai_error, ApiError};
use crate::forward::{json_content_type, Bridge};
use crate::metrics::{Metrics, StreamTimer};

/// How often an idle stream sends an SSE comment, so that proxies keep the
/// connection open while the model thinks.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The bound on streamed replies in flight. Cheap to clone.
#[derive(Clone)]
pub struct Streams {
    /// A permit per stream in flight.
    pub permits: Arc<Semaphore>,
    /// Their number.
    pub max: usize,
}

impl Streams {
    /// At most `max` streams at once.
    pub fn new(max: usize) -> Streams {
        Streams {
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }
}

/// The OpenAI routes, on any state that holds what they need.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Bridge: FromRef<S>,
    Streams: FromRef<S>,
    Metrics: FromRef<S>,
{
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(models))
}

/// `POST /v1/chat/completions`: the request goes to the workers as it
/// came; with `stream: true` the chunks come back as server-sent events.
async fn chat_completions(
    State(state): State<Bridge>,
    State(streams): State<Streams>,
    State(metrics): State<Metrics>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match checked_body(&state, &headers, body) {
        Ok(body) => body,
        Err(error) => return openai_error(error, None),
    };
    let request_id = crate::request_id::of(&headers);
    let rag = match crate::deadline::client(caller.rag(&state.rag), &headers, true) {
        Ok(rag) => rag,
        Err(e) => return openai_error(e.to_body(), None),
    };
    if !wants_stream(&body) {
        return whole(&rag, Subject::V1ChatCompletions, body, request_id).await;
    }
    // Streams outlive their request's slot in the concurrency limit; they
    // have a bound of their own.
    let Ok(permit) = streams.permits.clone().try_acquire_owned() else {
        return openai_error(ApiError::Streams(streams.max).to_body(), None);
    };
    let started = Instant::now();
    let chunks = match rag
        .stream(Subject::V1ChatCompletions, body, Some(request_id))
        .await
    {
        Ok(Streamed::Chunks(chunks)) => chunks,
        Ok(Streamed::Reply(reply)) => return reply_response(reply),
        Err(e) => return call_error(e),
    };
    let timer = metrics.stream_started("/v1/chat/completions", started, permit);
    Sse::new(events(chunks, timer))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response()
}

/// The chunks as SSE events: `data: {chunk}` each, then `data: [DONE]`;
/// a failure mid-stream is a last `data: {"error": {...}}` event.
fn events(
    chunks: Chunks,
    timer: StreamTimer,
) -> impl futures::Stream<Item = Result<Event, Infallible>> {
    let chunks = chunks
        .map(Some)
        .chain(futures::stream::once(async { None }));
    chunks.scan((false, timer), |(failed, _timer), item| {
        if *failed {
            return futures::future::ready(None);
        }
        let event = match item {
            Some(Ok(chunk)) => Event::default().data(String::from_utf8_lossy(&chunk)),
            Some(Err(e)) => {
                *failed = true;
                Event::default().data(error_json(&e.to_body()).to_string())
            }
            None => Event::default().data("[DONE]"),
        };
        futures::future::ready(Some(Ok(event)))
    })
}

/// `POST /v1/embeddings`.
async fn embeddings(
    State(state): State<Bridge>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match checked_body(&state, &headers, body) {
        Ok(body) => {
            let request_id = crate::request_id::of(&headers);
            match crate::deadline::client(caller.rag(&state.rag), &headers, true) {
                Ok(rag) => whole(&rag, Subject::V1Embeddings, body, request_id).await,
                Err(e) => openai_error(e.to_body(), None),
            }
        }
        Err(error) => openai_error(error, None),
    }
}

/// `GET /v1/models`.
async fn models(
    State(state): State<Bridge>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> Response {
    let request_id = crate::request_id::of(&headers);
    let rag = match crate::deadline::client(caller.rag(&state.rag), &headers, true) {
        Ok(rag) => rag,
        Err(e) => return openai_error(e.to_body(), None),
    };
    whole(
        &rag,
        Subject::V1Models,
        Bytes::from_static(b"{}"),
        request_id,
    )
    .await
}

/// The body, or the error that refuses it.
fn checked_body(
    state: &Bridge,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, ErrorBody> {
    json_content_type(headers).map_err(|e| e.to_body())?;
    body.map_err(|rejection| {
        let error = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(state.max_body)
        } else {
            ApiError::BadBody(rejection.body_text())
        };
        error.to_body()
    })
}

/// Whether the request asks for a stream. A body that is not JSON goes to
/// the worker whole, which says what is wrong with it.
fn wants_stream(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Flag {
        #[serde(default)]
        stream: Option<serde_json::Value>,
    }
    serde_json::from_slice::<Flag>(body)
        .ok()
        .and_then(|f| f.stream)
        .is_some_and(|s| s == json!(true) || s == json!("true"))
}

/// One request, one reply.
async fn whole(rag: &RagClient, subject: Subject, body: Bytes, request_id: &str) -> Response {
    match rag.request(subject, body, Some(request_id)).await {
        Ok(reply) => reply_response(reply),
        Err(e) => call_error(e),
    }
}

/// A worker's reply: the OpenAI object as it came, or its error in
/// OpenAI's shape.
fn reply_response(reply: async_nats::Message) -> Response {
    let Some(code) = error_code(&reply) else {
        return (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            reply.payload,
        )
            .into_response();
    };
    let body = error_body(code, &reply.payload);
    let retry_after = reply
        .headers
        .as_ref()
        .and_then(|h| h.get(headers::RETRY_AFTER))
        .map(|v| v.as_str().to_owned());
    openai_error(body, retry_after)
}

fn call_error(error: CallError) -> Response {
    let retry = matches!(
        error,
        CallError::Disconnected | CallError::NoResponders { .. }
    );
    openai_error(error.to_body(), retry.then(|| "1".to_owned()))
}
