//! The producer's errors, answered in ragwire's error shape with the matching
//! HTTP status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
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
    /// No worker is subscribed to the subject.
    #[error("no worker is serving {0}; start ragwire-worker")]
    NoResponders(String),
    /// No worker answered within the timeout.
    #[error("no reply on {subject} within {ms} ms")]
    Timeout { subject: String, ms: u64 },
    /// Too many requests in flight.
    #[error("the producer is at its concurrency limit; retry later")]
    Overloaded,
    /// NATS refused or failed the request.
    #[error("NATS request failed: {0}")]
    Nats(String),
}

impl ApiError {
    fn kind(&self) -> ErrorKind {
        match self {
            ApiError::Unauthorized => ErrorKind::Unauthorized,
            ApiError::TooLarge(_) => ErrorKind::PayloadTooLarge,
            ApiError::BadBody(_) => ErrorKind::BadRequest,
            ApiError::NoResponders(_) | ApiError::Overloaded | ApiError::Nats(_) => {
                ErrorKind::Unavailable
            }
            ApiError::Timeout { .. } => ErrorKind::Timeout,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody::new(self.kind(), self.to_string());
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
