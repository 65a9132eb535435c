//! The crate's error enum.

use std::time::Duration;

use ragwire_schemas::{ErrorBody, ErrorKind};

/// Why a connection or a request got no usable reply.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// A connection option is invalid.
    #[error("invalid connect option {option}: {message}")]
    Options {
        /// The [`ConnectOptions`](crate::ConnectOptions) field at fault.
        option: &'static str,
        /// What is wrong with its value.
        message: String,
    },
    /// No NATS server answered when connecting.
    #[error("cannot connect to NATS at {url}: {why}")]
    Unreachable {
        /// The server URL(s) tried.
        url: String,
        /// Why the connection failed.
        why: String,
    },
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
            CallError::NoResponders { .. }
            | CallError::Nats(_)
            | CallError::Disconnected
            | CallError::Unreachable { .. } => ErrorKind::Unavailable,
            CallError::TimedOut { .. } => ErrorKind::Timeout,
            CallError::TooLarge { .. } => ErrorKind::PayloadTooLarge,
            CallError::Codec(_) | CallError::Options { .. } => ErrorKind::Internal,
            CallError::Reply(body) => return body.clone(),
        };
        ErrorBody::new(kind, self.to_string())
    }
}
