//! A streamed reply: `start` with the control subject, the model's chunks
//! under the client's credit window, `idle` heartbeats, then `end` or
//! `error` (the protocol: [`ragwire_schemas::openai::stream`]).

use std::time::Duration;

use async_nats::service::Request;
use async_nats::{HeaderMap, Subject as NatsSubject};
use bytes::Bytes;
use futures::StreamExt;
use ragwire_schemas::headers;
use ragwire_schemas::openai::stream::{
    CONTROL, CREDIT, CREDIT_WAIT, DEFAULT_WINDOW, HEARTBEAT, MAX_WINDOW, STREAM, WINDOW,
};
use tokio::time::Instant;

use super::error_reply::{error_reply, HEADER_ROOM};
use super::shared::Shared;
use crate::error::{Backend, Error};
use crate::handlers::ByteStream;

/// The code a stream ends with when its client cancels it (nginx's "client
/// closed request").
const CANCELLED: u16 = 499;

/// Serves `chunks` to the request's reply subject; the code it ended with.
/// The model is read only while the client has credit, and not at all once
/// the client cancels or goes: dropping `chunks` drops the model's call.
pub(super) async fn serve(
    shared: &Shared,
    request: &Request,
    mut chunks: ByteStream,
    deadline: Instant,
) -> u16 {
    let Some(reply) = request.message.reply.clone() else {
        tracing::info!("stream request had no reply subject; nothing sent");
        return 400;
    };
    let asked = request.message.headers.as_ref();
    let window = asked
        .and_then(|h| h.get(WINDOW))
        .and_then(|v| v.as_str().trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_WINDOW)
        .clamp(1, MAX_WINDOW);
    let request_id = asked
        .and_then(|h| h.get(headers::REQUEST_ID))
        .map(|v| v.as_str().to_owned());
    let out = Out {
        client: &shared.client,
        reply,
        request_id,
        room: shared.max_payload.saturating_sub(HEADER_ROOM),
    };
    // Subscribed before `start` names it, so no control message is missed.
    let control_subject = shared.client.new_inbox();
    let mut control = match shared.client.subscribe(control_subject.clone()).await {
        Ok(control) => control,
        Err(e) => {
            let err = Error::Nats(format!("cannot open the stream's control subject: {e}"));
            return out.error(&err).await;
        }
    };
    let mut start = out.headers("start");
    start.insert(CONTROL, control_subject.as_str());
    if out.send(start, Bytes::new()).await.is_err() {
        return CANCELLED;
    }

    let idle_limit = shared.state.config.llm.timeout;
    let (mut sent, mut taken) = (0u64, 0u64);
    let mut last_chunk = Instant::now();
    let mut last_message = Instant::now();
    let mut waiting_credit_since: Option<Instant> = None;
    loop {
        let has_credit = sent < taken + window;
        if has_credit {
            waiting_credit_since = None;
        } else {
            waiting_credit_since.get_or_insert_with(Instant::now);
        }
        let beat = last_message + HEARTBEAT;
        tokio::select! {
            biased;
            message = control.next() => match message {
                Some(message) => match control_of(&message) {
                    Control::Cancel => return CANCELLED,
                    Control::Credit(n) => taken = taken.max(n.min(sent)),
                    Control::Unknown => {}
                },
                None => return out.error(&Error::Nats("the stream's control subject closed".into())).await,
            },
            chunk = chunks.next(), if has_credit => match chunk {
                Some(Ok(body)) => {
                    if body.len() > out.room {
                        let err = Error::TooLarge { what: "a chunk's size in bytes".into(), size: body.len(), limit: out.room };
                        return out.error(&err).await;
                    }
                    if out.send(out.headers("chunk"), body).await.is_err() {
                        return CANCELLED;
                    }
                    sent += 1;
                    last_chunk = Instant::now();
                    last_message = last_chunk;
                }
                Some(Err(e)) => return out.error(&e).await,
                None => {
                    let _ = out.send(out.headers("end"), Bytes::new()).await;
                    return 200;
                }
            },
            () = tokio::time::sleep_until(beat.min(deadline_for(sent, deadline, last_chunk, idle_limit))) => {
                let now = Instant::now();
                if sent == 0 && now >= deadline {
                    // Before the first chunk the request's deadline holds;
                    // after it, the model's silence between chunks does.
                    let err = Error::Timeout { backend: Backend::Llm(None), after: deadline_len(shared) };
                    return out.error(&err).await;
                }
                if sent > 0 && has_credit && now.duration_since(last_chunk) >= idle_limit {
                    let err = Error::Timeout { backend: Backend::Llm(None), after: idle_limit };
                    return out.error(&err).await;
                }
                if waiting_credit_since.is_some_and(|since| now.duration_since(since) >= CREDIT_WAIT) {
                    tracing::info!(sent, taken, "stream client gave no credit; dropping the stream");
                    return CANCELLED;
                }
                if now >= beat {
                    if out.send(out.headers("idle"), Bytes::new()).await.is_err() {
                        return CANCELLED;
                    }
                    last_message = now;
                }
            }
        }
    }
}

/// When the model's wait runs out: the request's deadline before the
/// first chunk, the idle limit after it.
fn deadline_for(sent: u64, deadline: Instant, last_chunk: Instant, idle: Duration) -> Instant {
    if sent == 0 {
        deadline
    } else {
        last_chunk + idle
    }
}

fn deadline_len(shared: &Shared) -> Duration {
    shared.state.config.limits.request_timeout
}

enum Control {
    Cancel,
    Credit(u64),
    Unknown,
}

fn control_of(message: &async_nats::Message) -> Control {
    let headers = message.headers.as_ref();
    match headers.and_then(|h| h.get(CONTROL)).map(|v| v.as_str()) {
        Some("cancel") => Control::Cancel,
        Some("credit") => headers
            .and_then(|h| h.get(CREDIT))
            .and_then(|v| v.as_str().trim().parse().ok())
            .map_or(Control::Unknown, Control::Credit),
        _ => Control::Unknown,
    }
}

/// Where a stream's messages go.
struct Out<'a> {
    client: &'a async_nats::Client,
    reply: NatsSubject,
    request_id: Option<String>,
    room: usize,
}

impl Out<'_> {
    fn headers(&self, kind: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(STREAM, kind);
        if let Some(id) = &self.request_id {
            headers.insert(headers::REQUEST_ID, id.as_str());
        }
        headers
    }

    async fn send(&self, headers: HeaderMap, body: Bytes) -> Result<(), ()> {
        self.client
            .publish_with_headers(self.reply.clone(), headers, body)
            .await
            .map_err(|e| tracing::warn!(error = %e, "could not send a stream message"))
    }

    /// Ends the stream with `err`; its code.
    async fn error(&self, err: &Error) -> u16 {
        let mut headers = self.headers("error");
        let (body, code) = error_reply(err, &mut headers);
        if code >= 500 {
            let backend = err.backend().map(|b| b.to_string());
            tracing::warn!(code, backend = backend.as_deref().unwrap_or("-"), error = %err, "stream failed");
        }
        let _ = self.send(headers, body).await;
        code
    }
}
