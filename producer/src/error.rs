//! The producer's errors, answered in ragwire's error shape with the matching
//! HTTP status, or in OpenAI's on OpenAI's routes.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ragwire_client::CallError;
use ragwire_schemas::{ErrorBody, ErrorKind, ErrorReply};
use serde_json::json;

/// Everything the producer itself can answer with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// An admin route without the admin key; the message is the old
    /// gateway's.
    #[error("{0}")]
    Forbidden(String),
    /// The named thing does not exist; the message names it.
    #[error("{0}")]
    Missing(String),
    /// A field of the request is well formed but not acceptable (the old
    /// gateway's 422).
    #[error("{0}")]
    Unprocessable(String),
    /// The request conflicts with the state of what it names.
    #[error("{0}")]
    Conflict(String),
    /// The tenant registry (its bucket or audit stream on NATS) failed.
    #[error("{0}")]
    Registry(String),
    /// No or unknown API key.
    #[error(
        "missing or unknown API key: send `X-API-Key: <key>` or `Authorization: Bearer <key>`"
    )]
    Unauthorized,
    /// Body over the configured limit.
    #[error("request body is larger than the limit of {0} bytes")]
    TooLarge(usize),
    /// The body could not be read.
    #[error("cannot read the request body: {0}")]
    BadBody(String),
    /// A field of the request is invalid; the message names it.
    #[error("{0}")]
    BadRequest(String),
    /// The body is not declared as JSON.
    #[error("`Content-Type` is {0}; send `application/json`")]
    UnsupportedMediaType(String),
    /// The request's URI is longer than the producer accepts.
    #[error("the request URI is {0} bytes, above the limit of {1}")]
    UriTooLong(usize, usize),
    /// No route has this path.
    #[error("no such route; see docs/api.md for the API")]
    NotFound,
    /// The route does not take this method.
    #[error("this route does not take that method")]
    MethodNotAllowed,
    /// The request's headers are larger than the producer accepts.
    #[error("the request headers are {0} bytes, above the limit of {1}")]
    HeadersTooLarge(usize, usize),
    /// A tenant's quota is used up; `retry_after` seconds until it is not.
    #[error("{message}")]
    RateLimited {
        /// The quota, as named in metrics (`requests_per_minute`, ...).
        quota: &'static str,
        /// What is used up, and when it comes back.
        message: String,
        /// Seconds until a retry can pass.
        retry_after: u64,
    },
    /// Too many requests in flight.
    #[error("the producer is at its concurrency limit; retry later")]
    Overloaded,
    /// Too many streamed replies in flight.
    #[error("the producer is streaming {0} replies, its limit; retry later")]
    Streams(usize),
    /// The request to the workers failed (no worker, no reply in time, NATS
    /// down).
    #[error("{0}")]
    Call(CallError),
}

impl ApiError {
    /// The error reply.
    pub(crate) fn to_body(&self) -> ErrorBody {
        let kind = match self {
            ApiError::Unauthorized => ErrorKind::Unauthorized,
            ApiError::Forbidden(_) => ErrorKind::Forbidden,
            ApiError::Missing(_) => ErrorKind::NotFound,
            ApiError::Unprocessable(_) => ErrorKind::Unprocessable,
            ApiError::Conflict(_) => ErrorKind::Conflict,
            ApiError::Registry(_) => ErrorKind::Unavailable,
            ApiError::TooLarge(_) => ErrorKind::PayloadTooLarge,
            ApiError::BadBody(_) | ApiError::BadRequest(_) => ErrorKind::BadRequest,
            ApiError::UnsupportedMediaType(_) => ErrorKind::UnsupportedMediaType,
            ApiError::UriTooLong(..) => ErrorKind::UriTooLong,
            ApiError::NotFound => ErrorKind::NotFound,
            ApiError::MethodNotAllowed => ErrorKind::MethodNotAllowed,
            ApiError::HeadersTooLarge(..) => ErrorKind::HeadersTooLarge,
            ApiError::Overloaded | ApiError::Streams(_) => ErrorKind::Unavailable,
            ApiError::RateLimited { .. } => ErrorKind::RateLimited,
            ApiError::Call(e) => return e.to_body(),
        };
        ErrorBody::new(kind, self.to_string())
    }
}

impl ApiError {
    /// The response to a request for `path`: in OpenAI's shape on its
    /// routes, in ragwire's elsewhere.
    pub fn respond_at(self, path: &str) -> Response {
        if is_openai(path) {
            openai_api_error(self)
        } else {
            self.into_response()
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.to_body();
        let status = StatusCode::from_u16(body.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // `detail`: where the gateway ragwire replaces put its message.
        let detail = body.message.clone();
        let mut reply = serde_json::to_value(ErrorReply::from(body)).unwrap_or_default();
        reply["detail"] = serde_json::Value::String(detail);
        let mut response = (status, axum::Json(reply)).into_response();
        let headers = response.headers_mut();
        match self {
            ApiError::RateLimited { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            ApiError::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            // Passing states: a client (and an SDK's retry logic) may try
            // again in a moment.
            ApiError::Overloaded
            | ApiError::Streams(_)
            | ApiError::Registry(_)
            | ApiError::Call(CallError::Disconnected) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

/// Whether `path` is one of OpenAI's routes, whose errors take OpenAI's
/// shape.
pub fn is_openai(path: &str) -> bool {
    path.starts_with("/v1/")
}

/// The producer's own error (a missing key, load shedding, an unknown
/// route) in OpenAI's shape, with the headers it has in ragwire's.
pub fn openai_api_error(error: ApiError) -> Response {
    let retry_after = match &error {
        ApiError::RateLimited { retry_after, .. } => Some(retry_after.to_string()),
        _ => None,
    };
    let mut response = openai_error(error.to_body(), retry_after);
    if matches!(error, ApiError::Unauthorized) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// `{"error": {"message", "type", "param", "code"}}`, OpenAI's error body.
pub(crate) fn error_json(error: &ErrorBody) -> serde_json::Value {
    let kind = match error.code {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        c if c >= 500 => "server_error",
        _ => "invalid_request_error",
    };
    json!({"error": {
        "message": error.message,
        "type": kind,
        "param": null,
        "code": error.kind.as_str(),
    }})
}

/// An error response in OpenAI's shape; `Retry-After` on a 429 or 503 (one
/// second when the worker gave no hint).
pub(crate) fn openai_error(error: ErrorBody, retry_after: Option<String>) -> Response {
    let status = StatusCode::from_u16(error.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(error_json(&error))).into_response();
    let retry_after = match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
            Some(retry_after.unwrap_or_else(|| "1".into()))
        }
        _ => retry_after,
    };
    if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}
