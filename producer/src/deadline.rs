//! The caller's own timeout, read from its headers, so the workers stop
//! when the caller does: `X-Request-Timeout` (seconds) on every route, and
//! on the `/v1/` routes also the timeout the OpenAI SDKs send with every
//! request (`X-Stainless-Timeout` from the Node SDK, `X-Stainless-Read-Timeout`
//! from the Python SDK). The shortest given, and never longer than the
//! producer's own `RAGWIRE_HTTP_TIMEOUT_MS`, is the request's time: the Rust
//! client sends it on as the absolute `Ragwire-Deadline` NATS header.

use std::time::Duration;

use axum::http::HeaderMap;
use ragwire_client::RagClient;

use crate::error::ApiError;

/// The header any HTTP caller may send: seconds, a number above 0.
pub const REQUEST_TIMEOUT: &str = "x-request-timeout";

/// The OpenAI SDKs' timeout headers, in seconds.
const SDK_TIMEOUTS: [&str; 2] = ["x-stainless-timeout", "x-stainless-read-timeout"];

/// Longest timeout a header may state (a day); longer is taken as a day.
const LONGEST: f64 = 86_400.0;

fn seconds(value: &str) -> Option<Duration> {
    let s: f64 = value.trim().parse().ok()?;
    (s.is_finite() && s > 0.0).then(|| Duration::from_secs_f64(s.min(LONGEST)))
}

/// The time the caller says it waits, when it says: the shortest of its
/// headers. A malformed `X-Request-Timeout` is a 400 naming it; the SDKs'
/// headers (read when `sdk`) are taken when they parse, and left when not,
/// since the caller did not write them.
pub fn of(headers: &HeaderMap, sdk: bool) -> Result<Option<Duration>, ApiError> {
    let mut shortest: Option<Duration> = None;
    let mut take = |d: Duration| shortest = Some(shortest.map_or(d, |s| s.min(d)));
    if let Some(value) = headers.get(REQUEST_TIMEOUT) {
        let parsed = value.to_str().ok().and_then(seconds).ok_or_else(|| {
            ApiError::BadRequest(
                "`X-Request-Timeout` must be a number of seconds above 0, e.g. `2.5`".into(),
            )
        })?;
        take(parsed);
    }
    if sdk {
        for name in SDK_TIMEOUTS {
            if let Some(d) = headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(seconds)
            {
                take(d);
            }
        }
    }
    Ok(shortest)
}

/// The client for one request: `rag`, waiting the caller's time when it is
/// shorter than `rag`'s own.
pub fn client(rag: &RagClient, headers: &HeaderMap, sdk: bool) -> Result<RagClient, ApiError> {
    Ok(match of(headers, sdk)? {
        Some(t) if t < rag.timeout() => rag.clone().with_timeout(t),
        _ => rag.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_shortest_timeout_a_caller_states() {
        assert_eq!(of(&headers(&[]), true).unwrap(), None);
        let h = headers(&[("x-request-timeout", "2.5")]);
        assert_eq!(of(&h, false).unwrap(), Some(Duration::from_millis(2500)));
        let h = headers(&[
            ("x-request-timeout", "10"),
            ("x-stainless-timeout", "600"),
            ("x-stainless-read-timeout", "1.5"),
        ]);
        assert_eq!(of(&h, true).unwrap(), Some(Duration::from_millis(1500)));
        // Outside the /v1/ routes the SDKs' headers are not read.
        assert_eq!(of(&h, false).unwrap(), Some(Duration::from_secs(10)));
        // An SDK header that does not parse is left; the caller's own is not.
        let h = headers(&[("x-stainless-timeout", "soon")]);
        assert_eq!(of(&h, true).unwrap(), None);
        for bad in ["0", "-1", "soon", "NaN", "inf", ""] {
            let h = {
                let mut h = HeaderMap::new();
                h.insert("x-request-timeout", bad.parse().unwrap());
                h
            };
            let err = of(&h, true).unwrap_err().to_string();
            assert!(err.contains("X-Request-Timeout"), "{bad}: {err}");
        }
    }
}
