//! The audit trail of the admin API: one JSON message per change made, in
//! the stream `{PREFIX}_AUDIT` on subject `{prefix}.audit.{tenant_id}`
//! (`-` for none), read back newest first through `GET /admin/audit`.
//! Only what happened is recorded: a request that changed nothing (an
//! unknown tenant, a key already revoked) leaves no entry.

use std::collections::VecDeque;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::{self, stream};
use futures::StreamExt;
use ragwire_schemas::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::records;
use crate::config::TenantsConfig;
use crate::error::ApiError;

/// How long audit entries are kept.
const KEEP: Duration = Duration::from_secs(400 * 24 * 3600);

/// Most entries kept; the oldest go first beyond.
const MAX_ENTRIES: i64 = 1_000_000;

/// How long a read waits for the next entry before it stops.
const READ_WAIT: Duration = Duration::from_secs(5);

/// One admin action.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Who did it: `admin`, the holder of the admin key.
    pub actor: String,
    /// What: `create_tenant`, `update_tenant_status`, `delete_tenant`,
    /// `create_api_key`, `revoke_api_key`, `set_quotas`.
    pub action: String,
    /// The tenant it concerned.
    pub tenant_id: Option<TenantId>,
    /// The particulars: key ids, statuses before and after (never a key).
    pub details: Value,
    /// When.
    pub created_at: String,
}

/// The audit stream of one prefix.
#[derive(Clone)]
pub struct Audit {
    js: jetstream::Context,
    stream: String,
    subjects: String,
}

impl Audit {
    /// Opens the audit stream of `prefix`, created when missing.
    pub async fn open(
        js: &jetstream::Context,
        prefix: &str,
        config: &TenantsConfig,
    ) -> Result<Audit, ApiError> {
        let name = config.audit_stream(prefix);
        let subjects = format!("{prefix}.audit");
        let stream = js
            .get_or_create_stream(stream::Config {
                name: name.clone(),
                description: Some("ragwire admin API audit trail".into()),
                subjects: vec![format!("{subjects}.>")],
                max_age: KEEP,
                max_messages: MAX_ENTRIES,
                discard: stream::DiscardPolicy::Old,
                deny_delete: true,
                deny_purge: true,
                allow_direct: true,
                num_replicas: config.replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| {
                ApiError::Registry(format!("cannot create the audit stream {name}: {e}"))
            })?;
        let replicas = stream.cached_info().config.num_replicas;
        if replicas != config.replicas {
            tracing::warn!(
                stream = %name,
                replicas,
                wanted = config.replicas,
                "the audit stream exists with another replica count than \
                 RAGWIRE_TENANTS_REPLICAS"
            );
        }
        Ok(Audit {
            js: js.clone(),
            stream: name,
            subjects,
        })
    }

    /// The stream's name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    fn subject(&self, tenant: Option<&TenantId>) -> String {
        match tenant {
            Some(t) => format!("{}.{t}", self.subjects),
            None => format!("{}.-", self.subjects),
        }
    }

    /// Records that `actor` did `action` to `tenant`. The change is made by
    /// then: a failure to record it is logged, not answered as the
    /// change's failure.
    pub async fn record(
        &self,
        actor: &str,
        action: &str,
        tenant: Option<&TenantId>,
        details: Value,
    ) {
        let entry = AuditEntry {
            actor: actor.to_owned(),
            action: action.to_owned(),
            tenant_id: tenant.cloned(),
            details,
            created_at: records::format_micros(records::now_micros()),
        };
        let payload = serde_json::to_vec(&entry).unwrap_or_default().into();
        let sent = match self.js.publish(self.subject(tenant), payload).await {
            Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = sent {
            tracing::error!(action, stream = %self.stream, "cannot record an admin action: {e}");
        }
    }

    /// The last `limit` entries, of `tenant` only when given, newest first,
    /// each with its sequence number (`seq`).
    pub async fn read(
        &self,
        tenant: Option<&TenantId>,
        limit: usize,
    ) -> Result<Vec<Value>, ApiError> {
        let limit = limit.max(1);
        let failed = |e: &dyn std::fmt::Display| {
            ApiError::Registry(format!("cannot read the audit stream {}: {e}", self.stream))
        };
        let mut stream = self
            .js
            .get_stream(&self.stream)
            .await
            .map_err(|e| failed(&e))?;
        let (filter, deliver) = match tenant {
            // One subject: read all of it, keep the last ones (the admin
            // actions on one tenant are few).
            Some(_) => {
                let subject = self.subject(tenant);
                match stream.get_last_raw_message_by_subject(&subject).await {
                    Ok(_) => (subject, DeliverPolicy::All),
                    Err(e)
                        if e.kind()
                            == async_nats::jetstream::stream::LastRawMessageErrorKind::NoMessageFound =>
                    {
                        return Ok(Vec::new())
                    }
                    Err(e) => return Err(failed(&e)),
                }
            }
            None => {
                let state = &stream.info().await.map_err(|e| failed(&e))?.state;
                if state.messages == 0 {
                    return Ok(Vec::new());
                }
                let start = state
                    .last_sequence
                    .saturating_sub(limit as u64 - 1)
                    .max(state.first_sequence);
                (
                    String::new(),
                    DeliverPolicy::ByStartSequence {
                        start_sequence: start,
                    },
                )
            }
        };
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: filter,
                deliver_policy: deliver,
                ..Default::default()
            })
            .await
            .map_err(|e| failed(&e))?;
        let mut messages = consumer.messages().await.map_err(|e| failed(&e))?;
        let mut last: VecDeque<Value> = VecDeque::with_capacity(limit);
        while let Ok(Some(message)) = tokio::time::timeout(READ_WAIT, messages.next()).await {
            let message = message.map_err(|e| failed(&e))?;
            let info = message.info().map_err(|e| failed(&e))?;
            let (seq, pending) = (info.stream_sequence, info.pending);
            if let Ok(mut entry) = serde_json::from_slice::<Value>(&message.payload) {
                entry["seq"] = Value::from(seq);
                if last.len() == limit {
                    last.pop_front();
                }
                last.push_back(entry);
            }
            if pending == 0 {
                break;
            }
        }
        Ok(last.into_iter().rev().collect())
    }
}
