//! The worker's error enum. Every variant maps to one error reply
//! (`{ok: false, error: {code, kind, message}}`) and says whether a retry can
//! help.

use std::sync::Arc;
use std::time::Duration;

use ragwire_schemas::{ErrorBody, ErrorKind};

/// A backend a worker calls, as errors and logs name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// One named provider of the LLM chain, or the chain as a whole.
    Llm(Option<Arc<str>>),
    /// The embedding service or the local embedding model.
    Embeddings,
    /// The reranker service.
    Reranker,
    /// A Qdrant server.
    Qdrant,
    /// The embedded vector store.
    EmbeddedVectors,
    /// A Bolt graph server.
    Bolt,
    /// The embedded graph store.
    EmbeddedGraph,
    /// NATS JetStream, where ingest jobs live.
    JetStream,
    /// The worker itself: a request's own deadline.
    Worker,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Llm(Some(provider)) => write!(f, "LLM provider {provider}"),
            Backend::Llm(None) => f.write_str("LLM"),
            Backend::Embeddings => f.write_str("embedding service"),
            Backend::Reranker => f.write_str("reranker"),
            Backend::Qdrant => f.write_str("Qdrant"),
            Backend::EmbeddedVectors => f.write_str("embedded vector store"),
            Backend::Bolt => f.write_str("graph store (bolt)"),
            Backend::EmbeddedGraph => f.write_str("embedded graph store"),
            Backend::JetStream => f.write_str("JetStream"),
            Backend::Worker => f.write_str("worker"),
        }
    }
}

/// Everything that can go wrong in the worker, at start-up or per request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The request is malformed or a field is invalid (400).
    #[error("{0}")]
    BadRequest(String),
    /// The caller may not do this, whatever it sends (403): a tenant's
    /// raw graph query.
    #[error("{0}")]
    Forbidden(String),
    /// The named thing does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// The request is larger than the configured limit (413).
    #[error("{what} is {size}, above the limit of {limit}")]
    TooLarge {
        /// What was measured, e.g. "the request size in bytes".
        what: std::borrow::Cow<'static, str>,
        /// Its size.
        size: usize,
        /// The limit it exceeds.
        limit: usize,
    },
    /// Well formed but could not be satisfied (422).
    #[error("{0}")]
    Unprocessable(String),
    /// Could not be satisfied, with structured detail for the reply's
    /// `error.details` (422).
    #[error("{message}")]
    UnprocessableWith {
        /// What could not be done.
        message: String,
        /// The reply's `error.details`.
        details: serde_json::Value,
    },
    /// A backend refused for rate limiting (429).
    #[error("{backend} rate limited the request")]
    RateLimited {
        /// The backend that refused.
        backend: Backend,
        /// Its `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// A backend answered with an error status (502).
    #[error("{backend} answered {status}: {message}")]
    Upstream {
        /// The backend that answered.
        backend: Backend,
        /// Its HTTP status (0 when the exchange broke off, 200 for an
        /// unreadable success).
        status: u16,
        /// Its message, shortened.
        message: String,
        /// Its `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// A backend cannot be reached or is not configured (503).
    #[error("{backend} is unavailable: {message}")]
    Unavailable {
        /// The backend that is missing.
        backend: Backend,
        /// Why, and what setting changes it.
        message: String,
    },
    /// A backend or the whole request ran out of time (504).
    #[error("{backend} did not answer within {} ms", .after.as_millis())]
    Timeout {
        /// The backend waited on.
        backend: Backend,
        /// How long it was waited for.
        after: Duration,
    },
    /// The caller's deadline (`Ragwire-Deadline`) passed before the
    /// request could start: nobody waits for its reply (504).
    #[error("the caller's deadline passed {} ms before the request could start", .late.as_millis())]
    Expired {
        /// How long ago the deadline passed.
        late: Duration,
    },
    /// The subject exists but cannot run in this build or configuration
    /// (501); the message says why.
    #[error("{0}")]
    NotImplemented(String),
    /// A bug or unexpected state in ragwire (500).
    #[error("internal error: {0}")]
    Internal(String),
    /// A setting is invalid; stops start-up.
    #[error("invalid setting {name}: {message}")]
    Config {
        /// The variable (or file key) at fault.
        name: String,
        /// What is wrong with its value.
        message: String,
    },
    /// NATS could not be reached or refused an operation; stops start-up.
    #[error("{0}")]
    Nats(String),
}

impl From<ragwire_common::Error> for Error {
    fn from(e: ragwire_common::Error) -> Self {
        match e {
            ragwire_common::Error::Config { name, message } => Error::Config { name, message },
            ragwire_common::Error::Usage(e) => Error::config("command line", e.to_string()),
            ragwire_common::Error::Nats(message) => Error::Nats(message),
        }
    }
}

/// Whether a failed call is worth repeating, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Repeating gives the same answer.
    Abort,
    /// Transient: try again, after the backend's hint when it gave one.
    After(Option<Duration>),
}

impl Error {
    /// A 400 error.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Error::BadRequest(message.into())
    }

    /// A 503 of JetStream, with what could not be done.
    pub fn jetstream(what: &str, e: impl std::fmt::Display) -> Self {
        Error::Unavailable {
            backend: Backend::JetStream,
            message: format!("{what}: {e}"),
        }
    }

    /// A start-up error naming the setting.
    pub fn config(name: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            name: name.into(),
            message: message.into(),
        }
    }

    /// The error class.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::BadRequest(_) => ErrorKind::BadRequest,
            Error::Forbidden(_) => ErrorKind::Forbidden,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::TooLarge { .. } => ErrorKind::PayloadTooLarge,
            Error::Unprocessable(_) | Error::UnprocessableWith { .. } => ErrorKind::Unprocessable,
            Error::RateLimited { .. } => ErrorKind::RateLimited,
            Error::Upstream { .. } => ErrorKind::Upstream,
            Error::Unavailable { .. } | Error::Nats(_) => ErrorKind::Unavailable,
            Error::Timeout { .. } | Error::Expired { .. } => ErrorKind::Timeout,
            Error::NotImplemented(_) => ErrorKind::NotImplemented,
            Error::Internal(_) | Error::Config { .. } => ErrorKind::Internal,
        }
    }

    /// The backend at fault, for errors that come from one.
    pub fn backend(&self) -> Option<&Backend> {
        match self {
            Error::RateLimited { backend, .. }
            | Error::Upstream { backend, .. }
            | Error::Unavailable { backend, .. }
            | Error::Timeout { backend, .. } => Some(backend),
            _ => None,
        }
    }

    /// Whether a retry on the same backend can help. Timeouts are not retried
    /// there: the time is better spent on the next provider.
    pub fn retry(&self) -> Retry {
        match self {
            Error::RateLimited { retry_after, .. } => Retry::After(*retry_after),
            Error::Upstream {
                status,
                retry_after,
                ..
            } if *status >= 500 => Retry::After(*retry_after),
            Error::Unavailable { .. } => Retry::After(None),
            _ => Retry::Abort,
        }
    }

    /// The body of the error reply.
    pub fn to_body(&self) -> ErrorBody {
        let mut body = ErrorBody::new(self.kind(), reply_message(&self.to_string()));
        if let Error::UnprocessableWith { details, .. } = self {
            body.details = Some(details.clone());
        }
        body
    }
}

/// Longest quoted value a reply's message repeats whole.
const MAX_QUOTED: usize = 64;
/// Characters kept of a longer quoted value.
const QUOTED_EXCERPT: usize = 48;
/// Longest message of an error reply, in characters.
pub const MAX_MESSAGE: usize = 1024;

/// `message` as an error reply carries it: a quoted value (in backticks or
/// double quotes, as messages quote what the client sent) longer than 64
/// characters is cut to an excerpt and its length, control characters are
/// escaped, and the whole is at most [`MAX_MESSAGE`] characters. A client
/// that sends a megabyte of bad text gets a short answer, not its text back.
pub fn reply_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE));
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '`' && c != '"' {
            push_escaped(&mut out, c);
            continue;
        }
        // A quoted span: up to the same quote (a `\"` inside a
        // double-quoted value, as serde prints strings, does not close it).
        let mut inner = String::new();
        let mut closed = false;
        while let Some(d) = chars.next() {
            if d == c {
                closed = true;
                break;
            }
            inner.push(d);
            if d == '\\' && c == '"' {
                if let Some(e) = chars.next() {
                    inner.push(e);
                }
            }
        }
        let length = inner.chars().count();
        out.push(c);
        if length > MAX_QUOTED {
            inner
                .chars()
                .take(QUOTED_EXCERPT)
                .for_each(|d| push_escaped(&mut out, d));
            out.push('…');
        } else {
            inner.chars().for_each(|d| push_escaped(&mut out, d));
        }
        if closed {
            out.push(c);
        }
        if length > MAX_QUOTED {
            out.push_str(&format!(" ({length} characters)"));
        }
    }
    if out.chars().count() > MAX_MESSAGE {
        out = out.chars().take(MAX_MESSAGE - 1).collect();
        out.push('…');
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    if c.is_control() {
        out.extend(c.escape_default());
    } else {
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_messages_quote_excerpts_of_long_values() {
        let long = "x".repeat(900_000);
        let m = reply_message(&format!(
            "`collection` is `{long}`; expected 1 to 64 letters"
        ));
        assert!(m.len() < 200, "{m}");
        assert!(m.starts_with("`collection` is `xxxx"), "{m}");
        assert!(
            m.ends_with("…` (900000 characters); expected 1 to 64 letters"),
            "{m}"
        );
        let m = reply_message(&format!(
            r#"invalid type: string "{long}\"q", expected f32"#
        ));
        assert!(m.ends_with("(900003 characters), expected f32"), "{m}");
        assert_eq!(reply_message("`role` is `a\nb`"), "`role` is `a\\nb`");
        assert_eq!(reply_message("short `value` stays"), "short `value` stays");
        assert_eq!(
            reply_message(&"y ".repeat(5000)).chars().count(),
            MAX_MESSAGE
        );
        assert_eq!(reply_message("unclosed `quote"), "unclosed `quote");
    }

    #[test]
    fn codes_and_retry() {
        let e = Error::Upstream {
            backend: Backend::Llm(None),
            status: 503,
            message: "busy".into(),
            retry_after: Some(Duration::from_secs(1)),
        };
        assert_eq!(e.to_body().code, 502);
        assert_eq!(e.retry(), Retry::After(Some(Duration::from_secs(1))));
        let e = Error::Upstream {
            backend: Backend::Llm(None),
            status: 400,
            message: "bad".into(),
            retry_after: None,
        };
        assert_eq!(e.retry(), Retry::Abort);
        assert_eq!(Error::bad_request("x").to_body().code, 400);
        assert_eq!(
            Error::TooLarge {
                what: "body".into(),
                size: 2,
                limit: 1
            }
            .to_body()
            .code,
            413
        );
        assert_eq!(
            Error::NotImplemented("rag.search: later".into())
                .to_body()
                .code,
            501
        );
    }
}
