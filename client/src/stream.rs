//! Streamed replies (`stream: true` on `v1.chat.completions`): the client
//! side of the protocol in [`ragwire_schemas::openai::stream`]. The client
//! grants the worker a window of chunks and gives credit as it takes them,
//! so nothing between the model and the reader buffers without bound; a
//! stream dropped before its end cancels the worker's call.

use std::time::Duration;

use async_nats::{HeaderMap, Message, StatusCode};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use ragwire_schemas::openai::stream::{CONTROL, CREDIT, DEFAULT_WINDOW, HEARTBEAT, STREAM, WINDOW};
use ragwire_schemas::{decode_reply, headers, ErrorBody, ErrorKind, Subject};

use crate::call::RagClient;
use crate::CallError;

/// Chunks of a streamed reply, each the JSON of one chunk as it came.
pub type Chunks = BoxStream<'static, Result<Bytes, CallError>>;

/// What a streamed request got.
pub enum Streamed {
    /// One message: the request was not streamed, or failed before its
    /// first chunk (an error reply, see [`crate::call::error_code`]).
    Reply(Message),
    /// The chunks; the first has come already.
    Chunks(Chunks),
}

/// Credit is given every this many chunks taken.
const CREDIT_EVERY: u64 = 16;
/// A worker silent this long (no chunk, no heartbeat) is gone.
const SILENCE: Duration = Duration::from_secs(HEARTBEAT.as_secs() * 3);

impl RagClient {
    /// Sends `payload` on `subject` asking for a streamed reply, and waits
    /// for the first chunk (within the client's timeout). Dropping the
    /// stream before its end cancels the worker's call.
    pub async fn stream(
        &self,
        subject: Subject,
        payload: Bytes,
        request_id: Option<&str>,
    ) -> Result<Streamed, CallError> {
        if !self.connected() {
            return Err(CallError::Disconnected);
        }
        let nats = self.nats().clone();
        let inbox = nats.new_inbox();
        let mut replies = nats
            .subscribe(inbox.clone())
            .await
            .map_err(|e| CallError::Nats(e.to_string()))?;
        let mut request_headers = HeaderMap::new();
        request_headers.insert(WINDOW, DEFAULT_WINDOW.to_string().as_str());
        // No deadline: a stream lasts as long as the model writes, beyond
        // the wait for its first chunk. Its wait before it starts counts.
        let now = std::time::SystemTime::now();
        request_headers.insert(
            headers::SENT_AT,
            headers::epoch_millis(now).to_string().as_str(),
        );
        if let Some(id) = request_id {
            request_headers.insert(headers::REQUEST_ID, id);
        }
        let name = self.nats_subject(subject);
        let span = crate::trace::send_span(name.as_str());
        crate::trace::inject_from(span.as_ref(), &mut request_headers);
        crate::trace::within(
            span,
            nats.publish_with_reply_and_headers(name.clone(), inbox, request_headers, payload),
        )
        .await
        .map_err(|e| CallError::Nats(e.to_string()))?;
        let timed_out = || CallError::TimedOut {
            subject: name.to_string(),
            after: self.timeout(),
        };
        let first = tokio::time::timeout(self.timeout(), replies.next())
            .await
            .map_err(|_| timed_out())?
            .ok_or_else(|| CallError::Nats("the reply subscription closed".into()))?;
        if first.status == Some(StatusCode::NO_RESPONDERS) {
            return Err(CallError::NoResponders {
                subject: name.to_string(),
            });
        }
        if kind(&first) != Some("start") {
            return Ok(Streamed::Reply(first));
        }
        let control = first
            .headers
            .as_ref()
            .and_then(|h| h.get(CONTROL))
            .map(|v| v.as_str().to_owned())
            .ok_or_else(|| {
                CallError::Codec("a stream started without its control subject".into())
            })?;
        let mut reader = Reader {
            nats,
            replies,
            control,
            taken: 0,
            finished: false,
        };
        // The first chunk (or the error before it) decides what the caller
        // answers; it may take as long as the model's first token.
        let first = loop {
            let message = tokio::time::timeout(self.timeout(), reader.replies.next())
                .await
                .map_err(|_| timed_out())?
                .ok_or_else(|| CallError::Nats("the reply subscription closed".into()))?;
            match kind(&message) {
                Some("idle") => continue,
                Some("error") => {
                    reader.finished = true;
                    return Ok(Streamed::Reply(message));
                }
                Some("end") => {
                    reader.finished = true;
                    return Ok(Streamed::Chunks(futures::stream::empty().boxed()));
                }
                Some("chunk") => break message.payload,
                _ => {}
            }
        };
        reader.taken = 1;
        let rest = futures::stream::unfold(reader, |mut reader| async move {
            let item = reader.next().await?;
            Some((item, reader))
        });
        Ok(Streamed::Chunks(
            futures::stream::once(async { Ok(first) })
                .chain(rest)
                .boxed(),
        ))
    }
}

/// The `Ragwire-Stream` header of a message.
fn kind(message: &Message) -> Option<&str> {
    message
        .headers
        .as_ref()
        .and_then(|h| h.get(STREAM))
        .map(|v| v.as_str())
}

/// Reads a started stream; cancels it when dropped before its end.
struct Reader {
    nats: async_nats::Client,
    replies: async_nats::Subscriber,
    control: String,
    taken: u64,
    finished: bool,
}

impl Reader {
    async fn next(&mut self) -> Option<Result<Bytes, CallError>> {
        if self.finished {
            return None;
        }
        loop {
            let message = match tokio::time::timeout(SILENCE, self.replies.next()).await {
                Ok(Some(message)) => message,
                Ok(None) => {
                    return self.fail(CallError::Nats("the reply subscription closed".into()))
                }
                Err(_) => {
                    let error = ErrorBody::new(
                        ErrorKind::Unavailable,
                        format!(
                            "the worker stopped answering mid-stream (nothing for {} s)",
                            SILENCE.as_secs()
                        ),
                    );
                    return self.fail(CallError::Reply(error));
                }
            };
            match kind(&message) {
                Some("chunk") => {
                    self.taken += 1;
                    if self.taken.is_multiple_of(CREDIT_EVERY) {
                        let mut credit = HeaderMap::new();
                        credit.insert(CONTROL, "credit");
                        credit.insert(CREDIT, self.taken.to_string().as_str());
                        let _ = self
                            .nats
                            .publish_with_headers(self.control.clone(), credit, Bytes::new())
                            .await;
                    }
                    return Some(Ok(message.payload));
                }
                Some("end") => {
                    self.finished = true;
                    return None;
                }
                Some("error") => {
                    let error = match decode_reply::<serde_json::Value>(&message.payload) {
                        Ok(Err(body)) => body,
                        _ => ErrorBody::new(ErrorKind::Internal, "the stream failed"),
                    };
                    return self.fail(CallError::Reply(error));
                }
                _ => continue,
            }
        }
    }

    fn fail(&mut self, error: CallError) -> Option<Result<Bytes, CallError>> {
        self.finished = true;
        Some(Err(error))
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Dropped mid-stream (the HTTP client went away): stop the model.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (nats, control) = (self.nats.clone(), std::mem::take(&mut self.control));
        runtime.spawn(async move {
            let mut cancel = HeaderMap::new();
            cancel.insert(CONTROL, "cancel");
            let _ = nats
                .publish_with_headers(control, cancel, Bytes::new())
                .await;
        });
    }
}
