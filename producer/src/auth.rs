//! API-key authentication: `X-API-Key: K` or `Authorization: Bearer K`.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;

use crate::error::ApiError;

/// The accepted keys. Empty means authentication is off.
#[derive(Debug, Clone, Default)]
pub struct Keys(Arc<HashSet<String>>);

/// Who a request authenticated as, put in the request's extensions.
#[derive(Debug, Clone)]
pub struct Caller {
    /// A short, non-secret id of the key (`key-` and 8 hex digits of its
    /// FNV-1a hash), or `anonymous` when auth is off.
    pub key_id: String,
}

impl Keys {
    /// The accepted keys; none turns auth off.
    pub fn new(keys: impl IntoIterator<Item = String>) -> Keys {
        Keys(Arc::new(
            keys.into_iter().filter(|k| !k.is_empty()).collect(),
        ))
    }

    /// Whether any key is configured.
    pub fn enabled(&self) -> bool {
        !self.0.is_empty()
    }

    /// The caller for these headers, or `Unauthorized`.
    pub fn check(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        if !self.enabled() {
            return Ok(Caller {
                key_id: "anonymous".into(),
            });
        }
        // An empty `X-API-Key` counts as absent; the scheme's case does not
        // matter (`Bearer`, `bearer`, `BEARER`).
        let presented = headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .or_else(|| {
                headers
                    .get(axum::http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| {
                        v.get(..7)
                            .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
                            .map(|_| v[7..].trim())
                    })
            })
            .ok_or(ApiError::Unauthorized)?;
        if self.0.contains(presented) {
            Ok(Caller {
                key_id: key_id(presented),
            })
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}

fn key_id(key: &str) -> String {
    let hash = key.bytes().fold(0x811c9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x01000193)
    });
    format!("key-{hash:08x}")
}

/// Middleware for the protected routes.
pub async fn require_key(State(keys): State<Keys>, mut request: Request, next: Next) -> Response {
    match keys.check(request.headers()) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(e) => e.respond_at(request.uri().path()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_forms() {
        let keys = Keys::new(["secret".to_owned()]);
        let mut h = HeaderMap::new();
        assert!(keys.check(&h).is_err());
        h.insert("x-api-key", "secret".parse().unwrap());
        assert!(keys.check(&h).is_ok());
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer secret".parse().unwrap());
        assert_eq!(keys.check(&h).unwrap().key_id, key_id("secret"));
        h.insert("authorization", "Bearer wrong".parse().unwrap());
        assert!(keys.check(&h).is_err());
        h.insert("authorization", "BEARER secret".parse().unwrap());
        h.insert("x-api-key", "".parse().unwrap());
        assert!(
            keys.check(&h).is_ok(),
            "an empty X-API-Key counts as absent"
        );
        assert!(Keys::new([]).check(&HeaderMap::new()).is_ok());
    }
}
