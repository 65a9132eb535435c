//! One request and its reply: size limit, deadline and panic guard around
//! the handler; errors answered with a JSON body and the
//! `Nats-Service-Error` headers; per-endpoint counters for `$SRV.STATS`.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_nats::service::Request;
use async_nats::HeaderMap;
use bytes::Bytes;
use futures::FutureExt;
use ragwire_schemas::{headers, ErrorReply, Subject};
use serde::Serialize;

use super::{stream, Shared};
use crate::error::{Backend, Error, Retry};
use crate::handlers::{dispatch, Reply};
use crate::state::State;
use crate::waiting;

/// Per-endpoint counters reported in `$SRV.STATS` under `data`: the
/// micro-service library counts only requests, these add errors by code.
#[derive(Debug, Default, Clone, Serialize)]
struct EndpointCounters {
    ok: u64,
    errors: u64,
    errors_by_code: HashMap<u16, u64>,
}

/// The counters of every endpoint of a worker. Cheap to clone.
#[derive(Clone, Default)]
pub(super) struct Counters(Arc<Mutex<HashMap<&'static str, EndpointCounters>>>);

impl Counters {
    fn count(&self, subject: Subject, code: u16) {
        let mut counters = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let c = counters.entry(subject.endpoint_name()).or_default();
        if code == 200 {
            c.ok += 1;
        } else {
            c.errors += 1;
            *c.errors_by_code.entry(code).or_default() += 1;
        }
    }

    /// The `data` of `endpoint` in `$SRV.STATS`.
    pub(super) fn stats(&self, endpoint: &str) -> serde_json::Value {
        let counters = self.0.lock().unwrap_or_else(|p| p.into_inner());
        serde_json::to_value(counters.get(endpoint).cloned().unwrap_or_default())
            .unwrap_or_default()
    }
}

pub(super) async fn respond(shared: &Shared, subject: Subject, request: Request) {
    let (state, max_payload) = (&shared.state, shared.max_payload);
    let started = Instant::now();
    let request_id = request
        .message
        .headers
        .as_ref()
        .and_then(|h| h.get(headers::REQUEST_ID))
        .map(|v| v.as_str().to_owned());
    let result = match run(state, subject, &request.message.payload).await {
        Ok(Reply::Stream(chunks)) => {
            let deadline = started + state.config.limits.request_timeout;
            // Boxed: a stream's state stays out of every request's future,
            // which is moved at each request.
            let code = Box::pin(stream::serve(shared, &request, chunks, deadline.into())).await;
            shared.counters.count(subject, code);
            let request_id = request_id.as_deref().unwrap_or("-");
            let seconds = started.elapsed().as_secs_f64();
            tracing::debug!(%subject, request_id, seconds, code, "stream ended");
            return;
        }
        Ok(Reply::Whole(body)) => Ok(body),
        Err(e) => Err(e),
    };
    let mut reply_headers = HeaderMap::new();
    if let Some(id) = &request_id {
        reply_headers.insert(headers::REQUEST_ID, id.as_str());
    }
    // The server's limit counts headers too; keep room for the error headers.
    let room = max_payload.saturating_sub(HEADER_ROOM);
    let result = result.and_then(|body| {
        if max_payload > 0 && body.len() > room {
            Err(Error::TooLarge {
                what: "the reply size in bytes".into(),
                size: body.len(),
                limit: room,
            })
        } else {
            Ok(body)
        }
    });
    let (body, code, backend) = match result {
        Ok(body) => (body, 200, None),
        Err(err) => {
            let (body, code) = error_reply(&err, &mut reply_headers);
            (body, code, err.backend().map(ToString::to_string))
        }
    };
    shared.counters.count(subject, code);
    let latency_ms = started.elapsed().as_secs_f64() * 1e3;
    let request_id = request_id.as_deref().unwrap_or("-");
    match code {
        200 => tracing::debug!(%subject, request_id, latency_ms, code, "handled"),
        c if c >= 500 => {
            let backend = backend.as_deref().unwrap_or("-");
            tracing::warn!(%subject, request_id, latency_ms, code, backend, "failed")
        }
        _ => tracing::info!(%subject, request_id, latency_ms, code, "rejected"),
    }
    if request.message.reply.is_none() {
        tracing::info!(%subject, request_id, "request had no reply subject; nothing sent");
        return;
    }
    if let Err(e) = request.respond_with_headers(Ok(body), reply_headers).await {
        tracing::warn!(%subject, request_id, error = %e, "could not send reply");
        // Still answer, so the caller does not wait for its timeout.
        let error = Error::Internal(format!("the reply could not be sent: {e}")).to_body();
        let mut fallback = HeaderMap::new();
        fallback.insert(
            headers::SERVICE_ERROR,
            header_value(&error.message).as_str(),
        );
        fallback.insert(headers::SERVICE_ERROR_CODE, "500");
        let body = serde_json::to_vec(&ErrorReply::from(error)).unwrap_or_default();
        let _ = request
            .respond_with_headers(Ok(body.into()), fallback)
            .await;
    }
}

/// The body of the error reply of `err`, and its code; its headers go into
/// `headers`.
pub(super) fn error_reply(err: &Error, headers: &mut HeaderMap) -> (Bytes, u16) {
    let error = err.to_body();
    headers.insert(
        headers::SERVICE_ERROR,
        header_value(&error.message).as_str(),
    );
    headers.insert(headers::SERVICE_ERROR_CODE, error.code.to_string().as_str());
    if let Retry::After(hint) = err.retry() {
        // Whole seconds, at least one: what HTTP's `Retry-After` can say.
        let seconds = hint.map_or(1, |d| d.as_secs_f64().ceil().max(1.0) as u64);
        headers.insert(headers::RETRY_AFTER, seconds.to_string().as_str());
    }
    let code = error.code;
    let body = serde_json::to_vec(&ErrorReply::from(error)).unwrap_or_default();
    (Bytes::from(body), code)
}

/// Bytes kept free in a reply for its headers (request id, error headers).
pub(super) const HEADER_ROOM: usize = 1024;

/// Size limit, deadline and panic guard around one handler call.
async fn run(state: &State, subject: Subject, payload: &Bytes) -> Result<Reply, Error> {
    let limit = state.config.limits.max_request_bytes;
    if payload.len() > limit {
        return Err(Error::TooLarge {
            what: "the request size in bytes".into(),
            size: payload.len(),
            limit,
        });
    }
    let deadline = state.config.limits.request_timeout;
    let work = AssertUnwindSafe(dispatch(state, subject, payload)).catch_unwind();
    match waiting::until(deadline, work).await {
        Ok(Ok(result)) => result,
        Ok(Err(_panic)) => {
            tracing::error!(%subject, "handler panicked");
            Err(Error::Internal(format!(
                "the {subject} handler failed unexpectedly"
            )))
        }
        // The backend being waited on is the one that ran out the clock.
        Err(waited_on) => Err(Error::Timeout {
            backend: waited_on.unwrap_or(Backend::Worker),
            after: deadline,
        }),
    }
}

/// Header values are one line of visible text.
fn header_value(message: &str) -> String {
    let line: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(256)
        .collect();
    line
}
