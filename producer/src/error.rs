//! The producer's errors, answered in ragwire's error shape with the matching
//! HTTP status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ragwire_common::CallError;
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
    /// Too many requests in flight.
    #[error("the producer is at its concurrency limit; retry later")]
    Overloaded,
    /// The request to the workers failed (no worker, no reply in time, NATS
    /// down).
    #[error("{0}")]
    Call(CallError),
}

impl ApiError {
    /// The error reply.
    fn to_body(&self) -> ErrorBody {
        let kind = match self {
            ApiError::Unauthorized => ErrorKind::Unauthorized,
            ApiError::TooLarge(_) => ErrorKind::PayloadTooLarge,
            ApiError::BadBody(_) => ErrorKind::BadRequest,
            ApiError::Overloaded => ErrorKind::Unavailable,
            ApiError::Call(e) => return e.to_body(),
        };
        ErrorBody::new(kind, self.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.to_body();
        let status = StatusCode::from_u16(body.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(ErrorReply::from(body))).into_response();
        if matches!(self, ApiError::Unauthorized) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
