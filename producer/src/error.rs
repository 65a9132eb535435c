//! The producer's errors, answered in ragwire's error shape with the matching
//! HTTP status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ragwire_client::CallError;
use ragwire_schemas::{ErrorBody, ErrorKind, ErrorReply};

/// Everything the producer itself can answer with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
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
            ApiError::TooLarge(_) => ErrorKind::PayloadTooLarge,
            ApiError::BadBody(_) => ErrorKind::BadRequest,
            ApiError::UnsupportedMediaType(_) => ErrorKind::UnsupportedMediaType,
            ApiError::UriTooLong(..) => ErrorKind::UriTooLong,
            ApiError::NotFound => ErrorKind::NotFound,
            ApiError::MethodNotAllowed => ErrorKind::MethodNotAllowed,
            ApiError::HeadersTooLarge(..) => ErrorKind::HeadersTooLarge,
            ApiError::Overloaded | ApiError::Streams(_) => ErrorKind::Unavailable,
            ApiError::Call(e) => return e.to_body(),
        };
        ErrorBody::new(kind, self.to_string())
    }
}

impl ApiError {
    /// The response to a request for `path`: in OpenAI's shape on its
    /// routes, in ragwire's elsewhere.
    pub fn respond_at(self, path: &str) -> Response {
        if crate::openai::is_openai(path) {
            crate::openai::api_error(self)
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
            ApiError::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            // Passing states: a client (and an SDK's retry logic) may try
            // again in a moment.
            ApiError::Overloaded
            | ApiError::Streams(_)
            | ApiError::Call(CallError::Disconnected) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}
