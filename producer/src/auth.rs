//! API-key authentication: `X-API-Key: K` or `Authorization: Bearer K`.
//!
//! Two kinds of keys:
//!
//! - legacy keys (`RAGWIRE_HTTP_API_KEYS`), each acting as the `default`
//!   tenant, which owns everything written before tenants existed;
//! - tenant keys (`sk-{tenant}-{secret}`) from the tenant registry
//!   ([`crate::tenants`]), each acting as its tenant while the key is
//!   active and unexpired and the tenant is active.
//!
//! Anything else is a 401, the same for every reason, so that a caller
//! learns nothing about which tenants or keys exist. The tenant always
//! comes from the key, never from the request.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ragwire_client::RagClient;
use ragwire_schemas::TenantId;

use crate::error::ApiError;
use crate::tenants::records::Limits;
use crate::tenants::{keys, Registry};

/// The accepted keys. Cheap to clone.
#[derive(Clone, Default)]
pub struct Keys(Arc<Inner>);

#[derive(Default)]
struct Inner {
    /// Legacy keys and the caller each is, made once.
    legacy: HashMap<String, Caller>,
    /// The tenant registry, when this producer reads it.
    registry: Option<Registry>,
    /// Whether requests need a key at all.
    required: bool,
    /// The caller when no key is required.
    anonymous: Caller,
}

/// Who a request authenticated as, put in the request's extensions.
#[derive(Clone)]
pub struct Caller {
    /// A short, non-secret id of the key: for a legacy key `key-` and 8 hex
    /// digits of its FNV-1a hash, for a tenant key its key id (a UUID);
    /// `anonymous` when auth is off.
    pub key_id: Arc<str>,
    /// The tenant the request runs as.
    pub tenant: TenantId,
    /// A client of the tenant's subjects; `None` for `default`, whose are
    /// the deployment's own.
    pub rag: Option<RagClient>,
    /// The tenant's quotas (none for `default`).
    pub limits: Limits,
}

impl Default for Caller {
    fn default() -> Caller {
        Caller {
            key_id: "anonymous".into(),
            tenant: TenantId::default_tenant(),
            rag: None,
            limits: Limits::default(),
        }
    }
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("key_id", &self.key_id)
            .field("tenant", &self.tenant)
            .finish()
    }
}

impl Caller {
    /// The client this caller's requests go through: its tenant's, or
    /// `deployment` (the `default` tenant's) when it has none of its own.
    pub fn rag<'a>(&'a self, deployment: &'a RagClient) -> &'a RagClient {
        self.rag.as_ref().unwrap_or(deployment)
    }
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("legacy", &self.0.legacy.len())
            .field("tenants", &self.0.registry.is_some())
            .field("required", &self.0.required)
            .finish()
    }
}

impl Keys {
    /// Legacy keys only; none turns auth off.
    pub fn new(keys: impl IntoIterator<Item = String>) -> Keys {
        Keys::with_tenants(keys, None, false)
    }

    /// Legacy keys, and tenant keys from `registry`. Auth is on when there
    /// is a legacy key, a registry, or `required` (an admin key is set).
    pub fn with_tenants(
        keys: impl IntoIterator<Item = String>,
        registry: Option<Registry>,
        required: bool,
    ) -> Keys {
        let default = TenantId::default_tenant();
        let legacy: HashMap<String, Caller> = keys
            .into_iter()
            .filter(|k| !k.is_empty())
            .map(|k| {
                let caller = Caller {
                    key_id: key_id(&k).into(),
                    tenant: default.clone(),
                    rag: None,
                    limits: Limits::default(),
                };
                (k, caller)
            })
            .collect();
        let required = required || !legacy.is_empty() || registry.is_some();
        Keys(Arc::new(Inner {
            legacy,
            registry,
            required,
            anonymous: Caller::default(),
        }))
    }

    /// Whether requests need a key.
    pub fn enabled(&self) -> bool {
        self.0.required
    }

    /// The tenant registry, when this producer reads it.
    pub fn registry(&self) -> Option<&Registry> {
        self.0.registry.as_ref()
    }

    /// The caller for these headers, or `Unauthorized`.
    pub fn check(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        if !self.0.required {
            return Ok(self.0.anonymous.clone());
        }
        let presented = presented(headers).ok_or(ApiError::Unauthorized)?;
        // Legacy keys first: the `default` tenant's path is as before
        // tenants, and a legacy key of the tenant keys' shape still works.
        if let Some(caller) = self.0.legacy.get(presented) {
            return Ok(caller.clone());
        }
        let registry = self.0.registry.as_ref().ok_or(ApiError::Unauthorized)?;
        if keys::tenant_of(presented).is_none() {
            return Err(ApiError::Unauthorized);
        }
        let who = registry
            .authenticate(presented)
            .ok_or(ApiError::Unauthorized)?;
        Ok(Caller {
            key_id: who.key_id.into(),
            tenant: who.tenant,
            rag: Some(who.rag),
            limits: who.limits,
        })
    }
}

/// The key the request presents: a non-empty `X-API-Key`, else the
/// credential of `Authorization: Bearer` (any case of the scheme).
fn presented(headers: &HeaderMap) -> Option<&str> {
    headers
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
}

fn key_id(key: &str) -> String {
    let hash = key.bytes().fold(0x811c9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x01000193)
    });
    format!("key-{hash:08x}")
}

/// Middleware for the protected routes: the caller found by its key, then
/// its tenant's quotas checked (and its request counted) when this producer
/// reads the tenant registry. A request let through holds its place among
/// its tenant's requests in flight until its reply's body ends.
pub async fn require_key(State(keys): State<Keys>, mut request: Request, next: Next) -> Response {
    let caller = match keys.check(request.headers()) {
        Ok(caller) => caller,
        Err(e) => return e.respond_at(request.uri().path()),
    };
    let Some(quotas) = keys.registry().map(|r| r.quotas().clone()) else {
        request.extensions_mut().insert(caller);
        return next.run(request).await;
    };
    let llm = crate::tenants::quota::uses_llm(request.uri().path());
    let admission = match quotas.admit(&caller.tenant, &caller.limits, llm).await {
        Ok(admission) => admission,
        Err(e) => return e.respond_at(request.uri().path()),
    };
    request.extensions_mut().insert(caller);
    let response = next.run(request).await;
    if !admission.holds() {
        return response;
    }
    response.map(|body| {
        axum::body::Body::new(http_body_util::BodyExt::map_frame(body, move |frame| {
            // The admission lives as long as the body: to its last chunk,
            // or until the client goes away.
            let _ = &admission;
            frame
        }))
    })
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
        let caller = keys.check(&h).unwrap();
        assert_eq!(&*caller.key_id, key_id("secret"));
        assert!(caller.tenant.is_default() && caller.rag.is_none());
        h.insert("authorization", "Bearer wrong".parse().unwrap());
        assert!(keys.check(&h).is_err());
        h.insert("authorization", "BEARER secret".parse().unwrap());
        h.insert("x-api-key", "".parse().unwrap());
        assert!(
            keys.check(&h).is_ok(),
            "an empty X-API-Key counts as absent"
        );
        assert!(Keys::new([]).check(&HeaderMap::new()).is_ok());
        // A tenant-shaped key without a registry is just unknown; an admin
        // key alone turns auth on.
        let mut h = HeaderMap::new();
        h.insert("x-api-key", "sk-abc-def".parse().unwrap());
        assert!(keys.check(&h).is_err());
        assert!(Keys::with_tenants([], None, true).check(&h).is_err());
        let legacy = Keys::new(["sk-abc-def".to_owned()]);
        assert!(legacy.check(&h).is_ok(), "legacy keys of any shape work");
    }
}
