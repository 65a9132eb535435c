//! Tenants: who owns data, and where their requests travel on NATS.
//!
//! Every request runs as one tenant. The tenant is never a field of a
//! request: over HTTP it comes from the API key, over NATS from the subject,
//! which a NATS server can confine a user to (one user per tenant, allowed
//! to publish under its tenant's prefix only):
//!
//! - the `default` tenant's subjects are the prefix's own, as before tenants
//!   existed: `rag.search`, `rag.jobs.events.{job_id}`;
//! - tenant `acme01`'s are under `{prefix}.t.acme01`: `rag.t.acme01.search`,
//!   `rag.t.acme01.jobs.events.{job_id}`.
//!
//! So a client of a tenant is a client of the prefix
//! [`TenantId::prefix`] gives, and nothing else changes for it.

use std::fmt;
use std::sync::Arc;

/// The token between the prefix and a tenant id in a tenant's subjects.
pub const TENANT_TOKEN: &str = "t";

/// The name of the tenant that owns everything written without one (legacy
/// keys, the prefix's own subjects, data from before tenants existed).
pub const DEFAULT_TENANT: &str = "default";

/// Longest tenant id, in bytes.
pub const MAX_TENANT_LEN: usize = 32;

/// A tenant's id: `default`, or 1 to 32 lowercase ASCII letters and digits
/// (the old gateway's ids are 8 of them). Safe as a NATS subject token, a
/// payload value and a key in a key-value bucket. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

impl TenantId {
    /// The `default` tenant.
    pub fn default_tenant() -> TenantId {
        TenantId(DEFAULT_TENANT.into())
    }

    /// `id` checked: `default`, or 1 to 32 lowercase letters and digits.
    pub fn parse(id: &str) -> Result<TenantId, String> {
        let ok = !id.is_empty()
            && id.len() <= MAX_TENANT_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if ok {
            Ok(TenantId(id.into()))
        } else {
            Err(format!(
                "`{}` is not a tenant id: 1 to {MAX_TENANT_LEN} lowercase letters and digits",
                id.escape_debug()
            ))
        }
    }

    /// Whether this is the `default` tenant.
    pub fn is_default(&self) -> bool {
        &*self.0 == DEFAULT_TENANT
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The subject prefix of this tenant's requests under the deployment's
    /// `prefix`: `prefix` itself for `default`, else `{prefix}.t.{id}`.
    pub fn prefix(&self, prefix: &str) -> String {
        if self.is_default() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{TENANT_TOKEN}.{}", self.0)
        }
    }

    /// The tenant of a request that arrived on `subject` under `prefix`:
    /// `default` on the prefix's own subjects, the id after `{prefix}.t.`
    /// on a tenant's. `None` when the subject is neither, or names an id
    /// that is not one.
    pub fn of_subject(subject: &str, prefix: &str) -> Option<TenantId> {
        let rest = subject.strip_prefix(prefix)?.strip_prefix('.')?;
        match rest
            .strip_prefix(TENANT_TOKEN)
            .and_then(|r| r.strip_prefix('.'))
        {
            Some(tenanted) => {
                let (id, _) = tenanted.split_once('.')?;
                TenantId::parse(id).ok().filter(|t| !t.is_default())
            }
            None => Some(TenantId::default_tenant()),
        }
    }
}

impl Default for TenantId {
    fn default() -> TenantId {
        TenantId::default_tenant()
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0)
    }
}

impl serde::Serialize for TenantId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for TenantId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<TenantId, D::Error> {
        let id = String::deserialize(d)?;
        TenantId::parse(&id).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_subjects() {
        for bad in ["", "ACME", "a-b", "a.b", "a b", "*", ">", &"a".repeat(33)] {
            assert!(TenantId::parse(bad).is_err(), "{bad}");
        }
        let acme = TenantId::parse("acme01").unwrap();
        assert_eq!(acme.prefix("rag"), "rag.t.acme01");
        assert_eq!(TenantId::default().prefix("svc.rag"), "svc.rag");
        assert_eq!(
            TenantId::of_subject("rag.t.acme01.graph.query", "rag"),
            Some(acme)
        );
        assert_eq!(
            TenantId::of_subject("rag.search", "rag"),
            Some(TenantId::default())
        );
        // `default` has the prefix's own subjects, not a tenant's.
        assert_eq!(TenantId::of_subject("rag.t.default.search", "rag"), None);
        assert_eq!(TenantId::of_subject("rag.t.A.search", "rag"), None);
        assert_eq!(TenantId::of_subject("other.search", "rag"), None);
        assert_eq!(TenantId::of_subject("ragx.search", "rag"), None);
        let json: TenantId = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(json.as_str(), "abc");
        assert!(serde_json::from_str::<TenantId>("\"a.b\"").is_err());
    }
}
