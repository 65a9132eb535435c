//! The HTTP -> NATS bridge: the body goes to the subject as is, the worker's
//! reply comes back as is, with the HTTP status taken from the reply's
//! `Nats-Service-Error-Code` header.

use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ragwire_schemas::{headers, Subject};

use crate::app::AppState;
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
    let nats_subject = subject.subject(&state.prefix);
    let mut nats_headers = async_nats::HeaderMap::new();
    nats_headers.insert(headers::REQUEST_ID, request_id);
    let request = async_nats::Request::new()
        .payload(body)
        .headers(nats_headers)
        .timeout(Some(state.timeout));
    let reply = state
        .nats
        .send_request(nats_subject.clone(), request)
        .await
        .map_err(|e| match e.kind() {
            async_nats::RequestErrorKind::TimedOut => ApiError::Timeout {
                subject: nats_subject.clone(),
                ms: state.timeout.as_millis() as u64,
            },
            async_nats::RequestErrorKind::NoResponders => {
                ApiError::NoResponders(nats_subject.clone())
            }
            async_nats::RequestErrorKind::MaxPayloadExceeded => {
                ApiError::TooLarge(state.nats.server_info().max_payload)
            }
            _ => ApiError::Nats(e.to_string()),
        })?;
    let status = reply
        .headers
        .as_ref()
        .and_then(|h| h.get(headers::SERVICE_ERROR_CODE))
        .and_then(|code| code.as_str().parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(if subject == Subject::JobsSubmit {
            // Queued, not done: the job runs later.
            StatusCode::ACCEPTED
        } else {
            StatusCode::OK
        });
    Ok((
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        reply.payload,
    )
        .into_response())
}
