//! Error replies: a JSON body and the `Nats-Service-Error` headers, on
//! every subject, whole or streamed.

use async_nats::HeaderMap;
use bytes::Bytes;
use ragwire_schemas::{headers, ErrorReply};

use crate::error::{Error, Retry};

/// The body of the error reply of `err`, and its code; its headers go into
/// `headers`.
pub(super) fn error_reply(err: &Error, headers: &mut HeaderMap) -> (Bytes, u16) {
    let error = err.to_body();
    headers.insert(
        headers::SERVICE_ERROR,
        header_value(&error.message).as_str(),
    );
    headers.insert(headers::SERVICE_ERROR_CODE, error.code.to_string().as_str());
    if let Retry::After(hint) = err.retry() {
        // Whole seconds, at least one: what HTTP's `Retry-After` can say.
        let seconds = hint.map_or(1, |d| d.as_secs_f64().ceil().max(1.0) as u64);
        headers.insert(headers::RETRY_AFTER, seconds.to_string().as_str());
    }
    let code = error.code;
    let body = serde_json::to_vec(&ErrorReply::from(error)).unwrap_or_default();
    (Bytes::from(body), code)
}

/// Bytes kept free in a reply for its headers (request id, error headers).
pub(super) const HEADER_ROOM: usize = 1024;

/// Header values are one line of visible text.
pub(super) fn header_value(message: &str) -> String {
    let line: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(256)
        .collect();
    line
}
