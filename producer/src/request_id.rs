//! `X-Request-ID`: taken from the request (up to 128 characters) or made
//! up, carried to the worker as a NATS header by [`crate::forward`], and
//! returned on every response, the producer's own errors (401, 404, 413,
//! 503) included.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use ragwire_schemas::headers::REQUEST_ID;

/// Longest caller-given id kept; a longer one is replaced.
const MAX_LEN: usize = 128;

/// The outermost middleware: every later layer and handler sees the id in
/// the request's headers.
pub async fn propagate(mut request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(REQUEST_ID)
        .filter(|v| !v.is_empty() && v.len() <= MAX_LEN && v.to_str().is_ok())
        .cloned();
    let id = given.unwrap_or_else(|| {
        HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).expect("a UUID is a header value")
    });
    request.headers_mut().insert(REQUEST_ID, id.clone());
    let mut response = next.run(request).await;
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

/// The id [`propagate`] put in `headers`.
pub fn of(headers: &axum::http::HeaderMap) -> &str {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}
