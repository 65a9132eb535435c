//! One request and its reply: size limit, deadline and panic guard around
//! the handler, the reply or error reply sent, the outcome counted and
//! logged.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use async_nats::service::Request;
use async_nats::HeaderMap;
use bytes::Bytes;
use futures::FutureExt;
use ragwire_schemas::{headers, ErrorReply, Subject};

use super::error_reply::{error_reply, header_value, HEADER_ROOM};
use super::shared::Shared;
use super::stream;
use crate::error::{Backend, Error};
use crate::handlers::{dispatch, Reply};
use crate::state::State;
use crate::waiting;

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
