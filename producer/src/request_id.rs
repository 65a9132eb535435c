//! `X-Request-ID`, and the limits every request meets first.
//!
//! The id is taken from the request when it is up to 128 characters of
//! letters, digits, `-`, `_`, `.` and `:` (anything else could be a header or
//! log injection), or made up; it travels to the worker as a NATS header
//! (see [`crate::forward`]) and comes back on every response, the
//! producer's own errors (401, 404, 413, 414, 415, 431, 503) included.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ragwire_schemas::headers::REQUEST_ID;

use crate::error::ApiError;

/// Longest caller-given id kept; a longer one is replaced.
const MAX_LEN: usize = 128;
/// Longest request URI, in bytes (414 beyond).
pub const MAX_URI: usize = 8 * 1024;
/// Largest request headers, names and values, in bytes (431 beyond).
pub const MAX_HEADERS: usize = 64 * 1024;

/// Whether a caller's id is kept as it is.
fn acceptable(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The outermost middleware: every later layer and handler sees the id in
/// the request's headers.
pub async fn propagate(mut request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(REQUEST_ID)
        .filter(|v| acceptable(v.as_bytes()))
        .cloned();
    let id = given.unwrap_or_else(|| {
        HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).expect("a UUID is a header value")
    });
    request.headers_mut().insert(REQUEST_ID, id.clone());
    let uri = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    let mut response = if uri > MAX_URI {
        ApiError::UriTooLong(uri, MAX_URI).into_response()
    } else if headers > MAX_HEADERS {
        ApiError::HeadersTooLarge(headers, MAX_HEADERS).into_response()
    } else {
        next.run(request).await
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_a_safe_alphabet_are_kept() {
        assert!(acceptable(b"req-42_a.b:c"));
        assert!(acceptable("x".repeat(128).as_bytes()));
        for bad in [&b""[..], b"abc\"<script>", b"a b", b"a/b", &[b'x'; 129]] {
            assert!(!acceptable(bad), "{}", String::from_utf8_lossy(bad));
        }
    }
}
