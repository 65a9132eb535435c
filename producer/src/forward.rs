//! The HTTP -> NATS bridge: the body goes to the subject as is, the worker's
//! reply comes back as is, with the HTTP status taken from the reply's
//! `Nats-Service-Error-Code` header.

use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ragwire_client::error_code;
use ragwire_schemas::{headers, Subject};

use crate::app::AppState;
use crate::compat::{self, Compat};
use crate::error::ApiError;

/// Sends the body of a POST to the subject's workers and returns their reply.
pub async fn forward(
    state: &AppState,
    subject: Subject,
    request_headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let request_id = crate::request_id::of(request_headers);
    match body {
        Ok(body) => request(state, subject, request_id, body)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::TooLarge(state.max_body).into_response()
        }
        Err(rejection) => ApiError::BadBody(rejection.body_text()).into_response(),
    }
}

async fn request(
    state: &AppState,
    subject: Subject,
    request_id: &str,
    body: Bytes,
) -> Result<Response, ApiError> {
    let reply = state
        .rag
        .request(subject, body.clone(), Some(request_id))
        .await
        .map_err(ApiError::Call)?;
    let status = error_code(&reply)
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(if subject == Subject::JobsSubmit {
            // Queued, not done: the job runs later.
            StatusCode::ACCEPTED
        } else {
            StatusCode::OK
        });
    let payload = if status.is_client_error() || status.is_server_error() {
        compat::with_detail(&reply.payload).unwrap_or(reply.payload)
    } else if state.compat == Compat::Gateway {
        compat::gateway_reply(subject, &body, &reply.payload).unwrap_or(reply.payload)
    } else {
        reply.payload
    };
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        payload,
    )
        .into_response();
    // The worker's hint for a rate-limited or unavailable backend.
    let retry_after = reply
        .headers
        .as_ref()
        .and_then(|h| h.get(headers::RETRY_AFTER))
        .and_then(|v| HeaderValue::from_str(v.as_str()).ok());
    if let Some(value) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    Ok(response)
}
