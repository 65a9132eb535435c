//! The one error shape every subject replies with:
//! `{"ok": false, "error": {"code", "kind", "message"}}`.

use serde::{Deserialize, Serialize};

/// What went wrong, as a stable machine-readable name. Each kind has one
/// HTTP-like status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// 400: the request is malformed or a field is invalid.
    BadRequest,
    /// 401: no or unknown credentials.
    Unauthorized,
    /// 403: credentials known but not allowed.
    Forbidden,
    /// 404: the named thing does not exist.
    NotFound,
    /// 405: the HTTP route does not take this method (HTTP only).
    MethodNotAllowed,
    /// 409: the request conflicts with the current state (e.g. replaying a
    /// job that has not failed).
    Conflict,
    /// 413: the request is larger than the configured limit.
    PayloadTooLarge,
    /// 414: the request's URI is too long (HTTP only).
    UriTooLong,
    /// 415: the request body is not declared as JSON (HTTP only).
    UnsupportedMediaType,
    /// 422: the request is well formed but could not be satisfied.
    Unprocessable,
    /// 429: too many requests, try again later.
    RateLimited,
    /// 431: the request's headers are too large (HTTP only).
    HeadersTooLarge,
    /// 500: a bug or an unexpected state in ragwire itself.
    Internal,
    /// 501: the subject cannot run in this worker's configuration (Cypher
    /// on the embedded graph store); the message names the setting that
    /// changes it.
    NotImplemented,
    /// 502: a backend answered with an error.
    Upstream,
    /// 503: a backend (or any worker) is unavailable or overloaded, or the
    /// subject needs what this worker lacks (jobs without JetStream).
    Unavailable,
    /// 504: a backend (or the worker) did not answer in time.
    Timeout,
}

impl ErrorKind {
    /// The serialized name, e.g. `bad_request`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::Conflict => "conflict",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::UriTooLong => "uri_too_long",
            ErrorKind::UnsupportedMediaType => "unsupported_media_type",
            ErrorKind::HeadersTooLarge => "headers_too_large",
            ErrorKind::Unprocessable => "unprocessable",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Internal => "internal",
            ErrorKind::NotImplemented => "not_implemented",
            ErrorKind::Upstream => "upstream",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
        }
    }

    /// The HTTP-like status code of this kind.
    pub fn code(self) -> u16 {
        match self {
            ErrorKind::BadRequest => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::Conflict => 409,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::UriTooLong => 414,
            ErrorKind::UnsupportedMediaType => 415,
            ErrorKind::HeadersTooLarge => 431,
            ErrorKind::Unprocessable => 422,
            ErrorKind::RateLimited => 429,
            ErrorKind::Internal => 500,
            ErrorKind::NotImplemented => 501,
            ErrorKind::Upstream => 502,
            ErrorKind::Unavailable => 503,
            ErrorKind::Timeout => 504,
        }
    }
}

/// The body of an error reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ErrorBody {
    /// HTTP-like status code (400, 404, 413, 422, 429, 502, 503, 504, ...);
    /// over HTTP, the response status.
    pub code: u16,
    /// Stable name of the error class, e.g. `bad_request`.
    pub kind: ErrorKind,
    /// Human-readable explanation; names the offending field for bad input.
    pub message: String,
    /// Structured detail for some errors (`graph.extract`'s 422 carries its
    /// `attempts`, at most 50); left out when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl ErrorBody {
    /// An error of `kind` with its standard code.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ErrorBody {
            code: kind.code(),
            kind,
            message: message.into(),
            details: None,
        }
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.kind.as_str(), self.message)
    }
}

impl std::error::Error for ErrorBody {}

/// `{"ok": false, "error": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct ErrorReply {
    /// Always `false`.
    #[cfg_attr(feature = "json-schema", schemars(extend("const" = false)))]
    pub ok: bool,
    /// What went wrong.
    pub error: ErrorBody,
}

impl From<ErrorBody> for ErrorReply {
    fn from(error: ErrorBody) -> Self {
        ErrorReply { ok: false, error }
    }
}
