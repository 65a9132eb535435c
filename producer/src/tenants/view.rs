//! A producer's copy of the tenant bucket, kept by a watch on it, and the
//! lookup every request with a tenant key makes: a key found by its hash,
//! then its state, its expiry and its tenant's state checked, all in
//! memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use ragwire_client::RagClient;
use ragwire_schemas::TenantId;

use super::keys::{self, KeyHash};
use super::records::{self, KeyRecord, KeyStatus, Limits, TenantRecord, TenantStatus};

/// How precisely a key's last use is kept, in microseconds.
const USAGE_GRAIN: i64 = 1_000_000;

/// A key's last use on this producer, kept across updates of its record
/// and written to the bucket now and then.
#[derive(Debug, Default)]
pub(crate) struct Usage {
    /// Microseconds since the epoch; 0: not used here.
    pub last_used: AtomicI64,
    /// Used since the last write.
    pub dirty: AtomicBool,
}

/// A tenant as the view holds it.
pub(crate) struct TenantEntry {
    /// The record.
    pub record: TenantRecord,
    /// A client of the tenant's subjects, made once per tenant.
    pub rag: RagClient,
}

/// A key as the view holds it.
pub(crate) struct KeyEntry {
    /// The record.
    pub record: KeyRecord,
    /// Its hash, decoded.
    pub hash: KeyHash,
    /// When it expires, in microseconds since the epoch.
    pub expires: Option<i64>,
    /// Its last use on this producer.
    pub usage: Arc<Usage>,
}

/// Who a tenant key authenticates as.
pub struct Authenticated {
    /// The key's id (a UUID, not secret).
    pub key_id: String,
    /// Its tenant.
    pub tenant: TenantId,
    /// A client of the tenant's subjects.
    pub rag: RagClient,
    /// The tenant's quotas.
    pub limits: Limits,
}

/// The tenants and keys of the bucket, as last seen.
#[derive(Default)]
pub(crate) struct View {
    pub tenants: HashMap<TenantId, TenantEntry>,
    /// Keys by hash: how a request's key is found.
    pub by_hash: HashMap<KeyHash, Arc<KeyEntry>>,
    /// Keys by id: how the admin API and updates find them.
    pub by_id: HashMap<String, Arc<KeyEntry>>,
}

impl View {
    /// The tenant and key a request presenting `key` runs as at `now`
    /// (microseconds), or `None`: unknown key, revoked, expired, or its
    /// tenant not active.
    pub fn authenticate(&self, key: &str, now: i64) -> Option<Authenticated> {
        let hash = keys::hash(key);
        let entry = self.by_hash.get(&hash)?;
        // The map found the entry by its hash already; the comparison in
        // constant time is there so that no later change to the lookup can
        // turn it into a timing oracle.
        if !keys::constant_time_eq(&entry.hash, &hash) {
            return None;
        }
        let record = &entry.record;
        if record.status != KeyStatus::Active || entry.expires.is_some_and(|e| e <= now) {
            return None;
        }
        // A key says whose it is; a record that disagrees is not trusted.
        if keys::tenant_of(key) != Some(record.tenant_id.as_str()) {
            return None;
        }
        let tenant = self.tenants.get(&record.tenant_id)?;
        if tenant.record.status != TenantStatus::Active {
            return None;
        }
        // Kept to the second: a busy key's requests then mostly read the
        // shared counter rather than write it.
        let usage = &entry.usage;
        if now - usage.last_used.load(Ordering::Relaxed) >= USAGE_GRAIN {
            usage.last_used.fetch_max(now, Ordering::Relaxed);
            usage.dirty.store(true, Ordering::Relaxed);
        }
        Some(Authenticated {
            key_id: record.key_id.clone(),
            tenant: record.tenant_id.clone(),
            rag: tenant.rag.clone(),
            limits: tenant.record.quotas,
        })
    }

    /// Applies the bucket entry `key` (`None`: deleted) to the view.
    pub fn apply(&mut self, key: &str, value: Option<&[u8]>, base: &RagClient) {
        if let Some(id) = key.strip_prefix("tenant.") {
            let Ok(tenant) = TenantId::parse(id) else {
                return;
            };
            let record = value.and_then(|v| match serde_json::from_slice::<TenantRecord>(v) {
                Ok(r) if r.tenant_id == tenant => Some(r),
                Ok(_) | Err(_) => {
                    // Dropped, so that a record this producer cannot read
                    // authenticates nothing.
                    tracing::warn!(entry = key, "unreadable tenant record ignored");
                    None
                }
            });
            match record {
                Some(record) => match self.tenants.get_mut(&tenant) {
                    Some(entry) => entry.record = record,
                    None => {
                        let rag = base.for_tenant(&tenant);
                        self.tenants.insert(tenant, TenantEntry { record, rag });
                    }
                },
                None => {
                    self.tenants.remove(&tenant);
                }
            }
        } else if let Some(key_id) = key.strip_prefix("key.") {
            let old = self.by_id.remove(key_id);
            if let Some(old) = &old {
                self.by_hash.remove(&old.hash);
            }
            let Some(value) = value else { return };
            let record = match serde_json::from_slice::<KeyRecord>(value) {
                Ok(r) if r.key_id == key_id => r,
                Ok(_) | Err(_) => {
                    tracing::warn!(entry = key, "unreadable key record ignored");
                    return;
                }
            };
            let Some(hash) = keys::parse_hash(&record.hash) else {
                tracing::warn!(entry = key, "key record without a readable hash ignored");
                return;
            };
            let expires = match record.expires_at.as_deref().map(records::stored_micros) {
                None => None,
                Some(Some(t)) => Some(t),
                Some(None) => {
                    tracing::warn!(entry = key, "key record with an unreadable expiry ignored");
                    return;
                }
            };
            let usage = old.map(|o| o.usage.clone()).unwrap_or_default();
            let entry = Arc::new(KeyEntry {
                record,
                hash,
                expires,
                usage,
            });
            self.by_hash.insert(hash, entry.clone());
            self.by_id.insert(key_id.to_owned(), entry);
        }
    }

    /// The key record `key_id` with its last use as this producer knows it
    /// (the later of the bucket's and its own).
    pub fn key(&self, key_id: &str) -> Option<KeyRecord> {
        let entry = self.by_id.get(key_id)?;
        let mut record = entry.record.clone();
        let here = entry.usage.last_used.load(Ordering::Relaxed);
        let stored = record
            .last_used_at
            .as_deref()
            .and_then(records::stored_micros)
            .unwrap_or(0);
        if here > stored {
            record.last_used_at = Some(records::format_micros(here));
        }
        Some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant_json(id: &str, status: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "tenant_id": id, "name": "n", "description": null, "status": status,
            "created_at": "2026-01-01T00:00:00.000000Z",
            "updated_at": "2026-01-01T00:00:00.000000Z",
        }))
        .unwrap()
    }

    fn key_json(key_id: &str, tenant: &str, key: &str, expires: Option<&str>) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "key_id": key_id, "tenant_id": tenant, "key_prefix": format!("sk-{tenant}"),
            "name": "default", "created_at": "2026-01-01T00:00:00.000000Z",
            "expires_at": expires, "status": "active",
            "hash": keys::hash_text(&keys::hash(key)),
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn keys_authenticate_while_they_and_their_tenant_are_good() {
        let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
        // A client that never connects: the view only makes subjects with it.
        let nats = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(url)
            .await
            .unwrap();
        let base = RagClient::new(nats, "rag");
        let mut view = View::default();
        let key = "sk-acme0001-secretsecret";
        let now = records::now_micros();
        view.apply(
            "tenant.acme0001",
            Some(&tenant_json("acme0001", "active")),
            &base,
        );
        view.apply(
            "key.k1",
            Some(&key_json("k1", "acme0001", key, None)),
            &base,
        );
        let who = view.authenticate(key, now).unwrap();
        assert_eq!(
            (who.key_id.as_str(), who.tenant.as_str()),
            ("k1", "acme0001")
        );
        assert_eq!(who.rag.prefix(), "rag.t.acme0001");
        assert!(view.authenticate("sk-acme0001-other", now).is_none());
        assert!(view.key("k1").unwrap().last_used_at.is_some());

        view.apply(
            "tenant.acme0001",
            Some(&tenant_json("acme0001", "suspended")),
            &base,
        );
        assert!(view.authenticate(key, now).is_none());
        view.apply(
            "tenant.acme0001",
            Some(&tenant_json("acme0001", "active")),
            &base,
        );
        assert!(view.authenticate(key, now).is_some());
        view.apply("tenant.acme0001", None, &base);
        assert!(view.authenticate(key, now).is_none());
        view.apply(
            "tenant.acme0001",
            Some(&tenant_json("acme0001", "active")),
            &base,
        );

        // Expiry is exact.
        let expires = records::format_micros(now + 1);
        view.apply(
            "key.k1",
            Some(&key_json("k1", "acme0001", key, Some(&expires))),
            &base,
        );
        assert!(view.authenticate(key, now).is_some());
        assert!(view.authenticate(key, now + 1).is_none());
        // A record under another tenant than the key names.
        view.apply(
            "key.k1",
            Some(&key_json("k1", "other001", key, None)),
            &base,
        );
        view.apply(
            "tenant.other001",
            Some(&tenant_json("other001", "active")),
            &base,
        );
        assert!(view.authenticate(key, now).is_none());
        // Unreadable records authenticate nothing.
        view.apply("key.k1", Some(b"{"), &base);
        assert!(view.by_hash.is_empty() && view.by_id.is_empty());
    }
}
