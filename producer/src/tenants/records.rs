//! What the tenant bucket holds, one JSON record per key:
//!
//! - `tenant.{tenant_id}`: a [`TenantRecord`];
//! - `key.{key_id}`: a [`KeyRecord`], the key's SHA-256 in place of the key.
//!
//! Nothing is ever deleted from the bucket: a deleted tenant is a record
//! with status `deleted`, a revoked key one with status `revoked`. Times are
//! ISO-8601 UTC with microseconds and a `Z`, as the old gateway wrote them.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use ragwire_schemas::TenantId;
use serde::{Deserialize, Serialize};

/// A tenant's state. Only `active` tenants' keys authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    /// Its keys work.
    Active,
    /// Its keys are refused until it is active again.
    Suspended,
    /// Its keys are refused for good; it cannot become active again.
    Deleted,
}

impl TenantStatus {
    /// The status named `name`, or a message listing the three.
    pub fn parse(name: &str) -> Result<TenantStatus, String> {
        match name {
            "active" => Ok(TenantStatus::Active),
            "suspended" => Ok(TenantStatus::Suspended),
            "deleted" => Ok(TenantStatus::Deleted),
            other => Err(format!(
                "`{}` is not a tenant status: send `active`, `suspended` or `deleted`",
                other.escape_debug()
            )),
        }
    }

    /// The name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
            TenantStatus::Deleted => "deleted",
        }
    }
}

/// A key's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// It works until it expires.
    Active,
    /// It is refused for good.
    Revoked,
}

/// A tenant, at `tenant.{tenant_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantRecord {
    /// Its id.
    pub tenant_id: TenantId,
    /// Its name, 1 to 255 characters.
    pub name: String,
    /// What it is, up to 1000 characters.
    pub description: Option<String>,
    /// Whether its keys work.
    pub status: TenantStatus,
    /// When it was made.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
    /// Its quotas; none set: no limit.
    #[serde(default, skip_serializing_if = "Limits::is_unlimited")]
    pub quotas: Limits,
}

/// A tenant's quotas, each `None` for no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Requests per minute (calendar minutes), all producers together.
    #[serde(default)]
    pub requests_per_minute: Option<u64>,
    /// LLM tokens per day (UTC), prompt and completion, as the model's
    /// `usage` counts them.
    #[serde(default)]
    pub tokens_per_day: Option<u64>,
    /// Requests in flight, all producers together.
    #[serde(default)]
    pub concurrent_requests: Option<u64>,
}

impl Limits {
    /// Whether no quota is set.
    pub fn is_unlimited(&self) -> bool {
        *self == Limits::default()
    }
}

/// A tenant key, at `key.{key_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// A UUID (v4), the key's public name.
    pub key_id: String,
    /// The tenant it authenticates as.
    pub tenant_id: TenantId,
    /// `sk-{tenant_id}`, the part of the key that is not secret.
    pub key_prefix: String,
    /// What it is for: `default` for a tenant's first key, else the name
    /// given or `api-key`.
    pub name: String,
    /// When it was made.
    pub created_at: String,
    /// When it stops working; `null` for never.
    pub expires_at: Option<String>,
    /// When it was last used, as last written (every
    /// `RAGWIRE_TENANTS_LAST_USED_FLUSH_MS` at most); `null` for never.
    #[serde(default)]
    pub last_used_at: Option<String>,
    /// Whether it works.
    pub status: KeyStatus,
    /// Its SHA-256, `sha256:` and 64 hex digits (see `keys`).
    pub hash: String,
}

/// The bucket key of `tenant`'s record.
pub fn tenant_entry(tenant: &TenantId) -> String {
    format!("tenant.{tenant}")
}

/// The bucket key of the key record `key_id`.
pub fn key_entry(key_id: &str) -> String {
    format!("key.{key_id}")
}

/// Now, as microseconds since the Unix epoch.
pub fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

/// `micros` since the epoch as stored: `2026-01-01T00:00:00.000000Z`.
pub fn format_micros(micros: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A stored time as microseconds since the epoch.
pub fn stored_micros(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_micros())
}

/// A time a client sent (ISO-8601 with an offset or `Z`) as microseconds
/// since the epoch; a time without an offset is refused, as it would mean a
/// different instant on every server.
pub fn client_time(text: &str) -> Result<i64, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_micros());
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .any(|f| NaiveDateTime::parse_from_str(text, f).is_ok());
    if naive {
        Err(format!(
            "`{}` has no time zone: add `Z` or an offset, e.g. `2030-01-01T00:00:00Z`",
            text.escape_debug()
        ))
    } else {
        Err(format!(
            "`{}` is not an ISO-8601 date and time, e.g. `2030-01-01T00:00:00Z`",
            text.escape_debug()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_statuses() {
        let t = client_time("2030-01-01T00:00:00Z").unwrap();
        assert_eq!(format_micros(t), "2030-01-01T00:00:00.000000Z");
        assert_eq!(client_time("2030-01-01T02:00:00+02:00").unwrap(), t);
        assert_eq!(stored_micros(&format_micros(t)), Some(t));
        let naive = client_time("2030-01-01T00:00:00").unwrap_err();
        assert!(naive.contains("no time zone"), "{naive}");
        assert!(client_time("soon").unwrap_err().contains("ISO-8601"));
        assert_eq!(
            TenantStatus::parse("suspended"),
            Ok(TenantStatus::Suspended)
        );
        assert!(TenantStatus::parse("paused")
            .unwrap_err()
            .contains("`active`"));
        let json = serde_json::to_value(TenantStatus::Deleted).unwrap();
        assert_eq!(json, "deleted");
    }
}
