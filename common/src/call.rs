//! Requests to ragwire's workers over NATS, for every client (the producer,
//! the command line, the tests and the benchmark): the subject under the
//! prefix, the request id header, the timeout and the mapping of transport
//! failures to error replies live here once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::connection::State;
use async_nats::{HeaderMap, Message, RequestErrorKind};
use bytes::Bytes;
use ragwire_schemas::{decode_reply, headers, ErrorBody, ErrorKind, Subject};
use serde::{de::DeserializeOwned, Serialize};

use crate::nats::Reconnections;

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

/// Why a request got no usable reply.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The connection to NATS is down (the client is reconnecting).
    #[error("NATS is unreachable: the connection to the server is down and being re-established; retry shortly")]
    Disconnected,
    /// No worker is subscribed to the subject.
    #[error("no worker is serving {subject}; start ragwire-worker")]
    NoResponders {
        /// The full NATS subject.
        subject: String,
    },
    /// No reply came within the timeout.
    #[error("no reply on {subject} within {} ms", .after.as_millis())]
    TimedOut {
        /// The full NATS subject.
        subject: String,
        /// The timeout.
        after: Duration,
    },
    /// The request is larger than the NATS server accepts.
    #[error("request body is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The server's `max_payload`.
        limit: usize,
    },
    /// NATS failed the request otherwise.
    #[error("NATS request failed: {0}")]
    Nats(String),
    /// The request could not be encoded, or the reply could not be read.
    #[error("{0}")]
    Codec(String),
    /// The worker answered with an error reply.
    #[error("{0}")]
    Reply(ErrorBody),
}

impl CallError {
    /// The error reply a client of the client (an HTTP caller) gets.
    pub fn to_body(&self) -> ErrorBody {
        let kind = match self {
            CallError::NoResponders { .. } | CallError::Nats(_) | CallError::Disconnected => {
                ErrorKind::Unavailable
            }
            CallError::TimedOut { .. } => ErrorKind::Timeout,
            CallError::TooLarge { .. } => ErrorKind::PayloadTooLarge,
            CallError::Codec(_) => ErrorKind::Internal,
            CallError::Reply(body) => return body.clone(),
        };
        ErrorBody::new(kind, self.to_string())
    }
}

impl RagClient {
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
            let mut request = async_nats::Request::new()
                .payload(payload.clone())
                .timeout(Some(self.timeout));
            if let Some(id) = request_id {
                let mut headers = HeaderMap::new();
                headers.insert(headers::REQUEST_ID, id);
                request = request.headers(headers);
            }
            let error = match self.nats.send_request(name.clone(), request).await {
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

    /// Sends `request` as JSON and decodes the success reply as `Rep`; an
    /// error reply is [`CallError::Reply`].
    pub async fn call<Req, Rep>(&self, subject: Subject, request: &Req) -> Result<Rep, CallError>
    where
        Req: Serialize + ?Sized,
        Rep: DeserializeOwned,
    {
        let payload = serde_json::to_vec(request)
            .map_err(|e| CallError::Codec(format!("cannot encode the request: {e}")))?;
        let reply = self.request(subject, payload.into(), None).await?;
        decode_reply(&reply.payload)
            .map_err(|e| {
                CallError::Codec(format!(
                    "unreadable reply on {}: {e}",
                    self.subject(subject)
                ))
            })?
            .map_err(CallError::Reply)
    }
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
