//! Requests to ragwire's workers over NATS, for every client (the producer,
//! the command line, the tests and the benchmark): the subject under the
//! prefix, the request id header, the timeout and the mapping of transport
//! failures to error replies live here once. [`RagClient::call`] is typed by
//! the subject's [`Endpoint`]; [`RagClient::request`] sends bytes as they
//! are (the producer forwards HTTP bodies so).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::connection::State;
use async_nats::{HeaderMap, Message, RequestErrorKind};
use bytes::Bytes;
use ragwire_schemas::{headers, Endpoint, ErrorBody, ErrorKind, ErrorReply, Subject};
use serde::de::DeserializeOwned;

use crate::connect::{connect_watched, ConnectOptions, Reconnections};
use crate::CallError;

/// Just after a reconnection, workers may not have re-subscribed yet: "no
/// responders" then is asked again for this long before it counts.
const AFTER_RECONNECTION: Duration = Duration::from_secs(5);
/// How long such a request asks again, at most.
const RESUBSCRIBE_WAIT: Duration = Duration::from_secs(3);

/// A client of ragwire's subjects under one prefix. Cheap to clone.
#[derive(Clone)]
pub struct RagClient {
    nats: async_nats::Client,
    prefix: Arc<str>,
    /// The full subjects, by [`Subject::index`], made once: a request then
    /// clones one (a reference count) instead of formatting it.
    subjects: Arc<[async_nats::Subject]>,
    timeout: Duration,
    retry_no_responders: Duration,
    reconnections: Option<Reconnections>,
}

impl RagClient {
    /// Connects to NATS with `options` and returns a client of the subjects
    /// under `prefix`, asking again for a few seconds when no worker answers
    /// just after a reconnection.
    pub async fn connect(options: &ConnectOptions, prefix: &str) -> Result<RagClient, CallError> {
        let (nats, reconnections) = connect_watched(options).await?;
        Ok(RagClient::new(nats, prefix).watching(reconnections))
    }

    /// Requests on `nats` under `prefix`, answered within 30 s.
    pub fn new(nats: async_nats::Client, prefix: &str) -> RagClient {
        let subjects = Subject::ALL
            .iter()
            .map(|s| async_nats::Subject::from(s.subject(prefix)))
            .collect();
        RagClient {
            nats,
            prefix: prefix.into(),
            subjects,
            timeout: Duration::from_secs(30),
            retry_no_responders: Duration::ZERO,
            reconnections: None,
        }
    }

    /// The same client asking again for a few seconds when no worker
    /// answers just after `reconnections` saw the connection come back.
    pub fn watching(mut self, reconnections: Reconnections) -> RagClient {
        self.reconnections = Some(reconnections);
        self
    }

    /// How long a missing responder is forgiven, counted from the first try.
    fn resubscribe_window(&self) -> Duration {
        let reconnected = self
            .reconnections
            .as_ref()
            .and_then(Reconnections::since_last)
            .is_some_and(|ago| ago < AFTER_RECONNECTION);
        if reconnected {
            self.retry_no_responders.max(RESUBSCRIBE_WAIT)
        } else {
            self.retry_no_responders
        }
    }

    /// A client of `prefix` on the same connection, with the same settings.
    pub fn for_prefix(&self, prefix: &str) -> RagClient {
        let mut client = RagClient::new(self.nats.clone(), prefix);
        client.timeout = self.timeout;
        client.retry_no_responders = self.retry_no_responders;
        client.reconnections = self.reconnections.clone();
        client
    }

    /// A client of `tenant`'s subjects (see [`ragwire_schemas::tenant`]) on
    /// the same connection, with the same settings; `self` is a client of
    /// the deployment's own prefix.
    pub fn for_tenant(&self, tenant: &ragwire_schemas::TenantId) -> RagClient {
        self.for_prefix(&tenant.prefix(&self.prefix))
    }

    /// The same client waiting `timeout` for each reply.
    pub fn with_timeout(mut self, timeout: Duration) -> RagClient {
        self.timeout = timeout;
        self
    }

    /// The same client asking again, for up to `window`, while no worker is
    /// subscribed (workers starting or re-subscribing after a reconnection).
    pub fn retry_no_responders(mut self, window: Duration) -> RagClient {
        self.retry_no_responders = window;
        self
    }

    /// The NATS connection.
    pub fn nats(&self) -> &async_nats::Client {
        &self.nats
    }

    /// The subject prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// How long a request waits for its reply.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The full NATS subject of `subject`.
    pub fn subject(&self, subject: Subject) -> String {
        subject.subject(&self.prefix)
    }

    /// The full subject of `subject`, made once.
    pub(crate) fn nats_subject(&self, subject: Subject) -> async_nats::Subject {
        self.subjects[subject.index()].clone()
    }

    /// Whether the connection to NATS is up.
    pub(crate) fn connected(&self) -> bool {
        match &self.reconnections {
            Some(r) => r.is_connected(),
            None => self.nats.connection_state() == State::Connected,
        }
    }

    /// Sends `payload` as is and returns the reply message as is, an error
    /// reply included (see [`error_code`]). While the connection is down it
    /// fails at once: the client would hold the request until its timeout.
    pub async fn request(
        &self,
        subject: Subject,
        payload: Bytes,
        request_id: Option<&str>,
    ) -> Result<Message, CallError> {
        let name = &self.subjects[subject.index()];
        let mut started = None;
        loop {
            if !self.connected() {
                return Err(CallError::Disconnected);
            }
            // The deadline travels with the request, so a worker neither
            // starts nor goes on with work whose reply nobody waits for.
            let now = std::time::SystemTime::now();
            let mut request_headers = HeaderMap::new();
            request_headers.insert(
                headers::DEADLINE,
                headers::epoch_millis(now + self.timeout)
                    .to_string()
                    .as_str(),
            );
            request_headers.insert(
                headers::SENT_AT,
                headers::epoch_millis(now).to_string().as_str(),
            );
            if let Some(id) = request_id {
                request_headers.insert(headers::REQUEST_ID, id);
            }
            let span = crate::trace::send_span(name.as_str());
            crate::trace::inject_from(span.as_ref(), &mut request_headers);
            let request = async_nats::Request::new()
                .payload(payload.clone())
                .timeout(Some(self.timeout))
                .headers(request_headers);
            let sent = crate::trace::within(span, self.nats.send_request(name.clone(), request));
            let error = match sent.await {
                Ok(reply) => return Ok(reply),
                Err(e) => e,
            };
            match error.kind() {
                RequestErrorKind::NoResponders
                    if started.get_or_insert_with(Instant::now).elapsed()
                        < self.resubscribe_window() =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                RequestErrorKind::NoResponders => {
                    return Err(CallError::NoResponders {
                        subject: name.to_string(),
                    })
                }
                RequestErrorKind::TimedOut => {
                    return Err(CallError::TimedOut {
                        subject: name.to_string(),
                        after: self.timeout,
                    })
                }
                RequestErrorKind::MaxPayloadExceeded => {
                    return Err(CallError::TooLarge {
                        limit: self.nats.server_info().max_payload,
                    })
                }
                _ => return Err(CallError::Nats(error.to_string())),
            }
        }
    }

    /// Sends `request` on `E`'s subject as JSON and decodes the success
    /// reply as `E`'s reply; an error reply is [`CallError::Reply`].
    pub async fn call<E: Endpoint>(&self, request: &E::Request) -> Result<E::Reply, CallError> {
        let payload = serde_json::to_vec(request)
            .map_err(|e| CallError::Codec(format!("cannot encode the request: {e}")))?;
        let reply = self.request(E::SUBJECT, payload.into(), None).await?;
        decode(&reply).map_err(|e| match e {
            CallError::Codec(e) => CallError::Codec(format!(
                "unreadable reply on {}: {e}",
                self.subject(E::SUBJECT)
            )),
            other => other,
        })
    }
}

/// A reply message as `R`, or its error. A success is the reply's fields
/// (next to `ok: true`, or the OpenAI object as it is on the `v1`
/// subjects); an error reply carries its code in a header.
fn decode<R: DeserializeOwned>(reply: &Message) -> Result<R, CallError> {
    match error_code(reply) {
        None => serde_json::from_slice(&reply.payload).map_err(|e| CallError::Codec(e.to_string())),
        Some(code) => Err(CallError::Reply(error_body(code, &reply.payload))),
    }
}

/// The error of an error reply with `code`: its body, or the payload as the
/// message when the body is not an error reply.
pub fn error_body(code: u16, payload: &[u8]) -> ErrorBody {
    serde_json::from_slice::<ErrorReply>(payload)
        .map(|r| r.error)
        .unwrap_or_else(|_| {
            let kind = if code >= 500 {
                ErrorKind::Internal
            } else {
                ErrorKind::BadRequest
            };
            let mut body = ErrorBody::new(kind, String::from_utf8_lossy(payload));
            body.code = code;
            body
        })
}

/// The error code of an error reply (its `Nats-Service-Error-Code` header);
/// `None` for a success.
pub fn error_code(message: &Message) -> Option<u16> {
    message
        .headers
        .as_ref()?
        .get(headers::SERVICE_ERROR_CODE)?
        .as_str()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use ragwire_schemas::endpoint::{Embed, V1Models};
    use ragwire_schemas::Endpoint;

    use super::*;

    fn message(payload: &str, code: Option<&str>) -> Message {
        let headers = code.map(|code| {
            let mut headers = HeaderMap::new();
            headers.insert(headers::SERVICE_ERROR_CODE, code);
            headers
        });
        Message {
            subject: "rag.x".into(),
            reply: None,
            payload: Bytes::copy_from_slice(payload.as_bytes()),
            headers,
            status: None,
            description: None,
            length: payload.len(),
        }
    }

    #[test]
    fn replies_decode_as_their_endpoint_says() {
        let ok = message(r#"{"ok": true, "vectors": [[1.0, 0.0]], "dim": 2}"#, None);
        let reply: <Embed as Endpoint>::Reply = decode(&ok).unwrap();
        assert_eq!(reply.dim, 2);
        // The OpenAI subjects answer without the envelope.
        let models = message(r#"{"object": "list", "data": []}"#, None);
        let reply: <V1Models as Endpoint>::Reply = decode(&models).unwrap();
        assert!(reply.data.is_empty());
        let error =
            r#"{"ok": false, "error": {"code": 504, "kind": "timeout", "message": "slow"}}"#;
        match decode::<<Embed as Endpoint>::Reply>(&message(error, Some("504"))) {
            Err(CallError::Reply(body)) => {
                assert_eq!((body.code, body.message.as_str()), (504, "slow"))
            }
            other => panic!("an error reply, not {other:?}"),
        }
        match decode::<<Embed as Endpoint>::Reply>(&message("not json", Some("503"))) {
            Err(CallError::Reply(body)) => {
                assert_eq!((body.code, body.message.as_str()), (503, "not json"))
            }
            other => panic!("an error reply, not {other:?}"),
        }
        assert!(matches!(
            decode::<<Embed as Endpoint>::Reply>(&message(r#"{"ok": true}"#, None)),
            Err(CallError::Codec(_))
        ));
    }
}
