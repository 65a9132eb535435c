//! The HTTP -> NATS bridge: the body goes to the subject as is, the worker's
//! reply comes back as is, with the HTTP status taken from the reply's
//! `Nats-Service-Error-Code` header.

use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ragwire_client::{error_code, RagClient};
use ragwire_schemas::{headers, Subject};

use crate::auth::Caller;
use crate::compat::{self, Compat};
use crate::error::ApiError;

/// What forwarding a request needs: the workers and how to answer. Cheap to
/// clone.
#[derive(Clone)]
pub struct Bridge {
    /// Requests to the workers, waiting as long as `RAGWIRE_HTTP_TIMEOUT_MS`.
    pub rag: RagClient,
    /// Which reply shapes to speak.
    pub compat: Compat,
    /// Largest accepted body, in bytes.
    pub max_body: usize,
}

/// Sends the body of a POST to the subject's workers, on the subjects of
/// the caller's tenant, and returns their reply.
pub async fn forward(
    state: &Bridge,
    caller: &Caller,
    subject: Subject,
    request_headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let request_id = crate::request_id::of(request_headers);
    let rag = match crate::deadline::client(caller.rag(&state.rag), request_headers, false) {
        Ok(rag) => rag,
        Err(e) => return e.into_response(),
    };
    match body {
        Ok(body) => request(state, &rag, subject, request_id, body)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::TooLarge(state.max_body).into_response()
        }
        Err(rejection) => ApiError::BadBody(rejection.body_text()).into_response(),
    }
}

async fn request(
    state: &Bridge,
    rag: &RagClient,
    subject: Subject,
    request_id: &str,
    body: Bytes,
) -> Result<Response, ApiError> {
    let reply = rag
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

/// Routes that take a JSON body want it declared as such: `application/json`
/// (parameters allowed) or a `+json` type. A body of another type, or of
/// none, is refused, since a browser sends those cross-site without asking
/// first (form posts), which would let any web page drive an open producer.
pub(crate) fn json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let essence = given
        .as_deref()
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("application/json") => Ok(()),
        Some(t) if t.ends_with("+json") && t.contains('/') => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType(match given {
            Some(v) => format!("`{v}`"),
            None => "missing".into(),
        })),
    }
}
