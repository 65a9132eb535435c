//! The tenant registry: the bucket `{prefix}_tenants` (created when
//! missing, replicated as `RAGWIRE_TENANTS_REPLICAS` says), this producer's
//! view of it, kept current by a watch (a change reaches every producer in
//! milliseconds, not at the next poll), and the writes of the admin API,
//! each a compare-and-swap on the record it changes.
//!
//! Last uses of keys are kept in memory and written every
//! `RAGWIRE_TENANTS_LAST_USED_FLUSH_MS`, for the keys used since.
//!
//! The registry also opens the usage bucket, where this producer counts
//! requests and checks quotas ([`super::quota`]).

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation};
use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use futures::StreamExt;
use ragwire_client::RagClient;
use ragwire_schemas::TenantId;
use tokio::sync::watch;

use ragwire_common::usage::{Ledger, UsageBucket};
use ragwire_schemas::collections::ListRequest;
use ragwire_schemas::endpoint::CollectionsList;

use super::audit::Audit;
use super::keys;
use super::quota::Quotas;
use super::records::{self, KeyRecord, KeyStatus, Limits, TenantRecord, TenantStatus};
use super::view::{Authenticated, View};
use crate::config::TenantsConfig;
use crate::error::ApiError;

/// How long a write waits for this producer's view to show it, so that the
/// admin API's reply holds here at once.
const SHOWN_WITHIN: Duration = Duration::from_secs(2);

/// Attempts of a compare-and-swap before it gives up.
const CAS_ATTEMPTS: usize = 8;

/// The tenant registry. Cheap to clone; its watch and its writer of last
/// uses stop when the last clone is dropped.
#[derive(Clone)]
pub struct Registry {
    shared: Arc<Shared>,
    _tasks: Arc<Tasks>,
}

struct Shared {
    kv: kv::Store,
    bucket: String,
    view: RwLock<View>,
    /// The last revision of the bucket the view has applied.
    applied: watch::Sender<u64>,
    /// The deployment's client, from which tenants' clients are made.
    base: RagClient,
    audit: Audit,
    quotas: Quotas,
    /// Each tenant's stored points as last counted, and when the count
    /// started (`None`: never).
    points: std::sync::Mutex<PointCounts>,
}

/// The registry's background tasks, stopped when dropped.
struct Tasks(Vec<tokio::task::AbortHandle>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl Registry {
    /// Opens (creating when missing) the bucket and the audit stream of
    /// `rag`'s prefix, loads the bucket into the view and starts watching it.
    /// `rag` is the deployment's client, with the producer's timeout.
    pub async fn open(rag: &RagClient, config: &TenantsConfig) -> Result<Registry, ApiError> {
        let prefix = rag.prefix().to_owned();
        let js = jetstream::new(rag.nats().clone());
        let bucket = config.bucket(&prefix);
        // The bucket's stream is made as a key-value bucket's is (see the
        // worker's job bucket): `create_key_value` asks for account details
        // that servers before 2.10 do not give.
        let stream_config = stream::Config {
            name: format!("KV_{bucket}"),
            description: Some("ragwire tenants and key hashes".into()),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            max_bytes: 64 << 20,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            num_replicas: config.replicas,
            ..Default::default()
        };
        let stream = js
            .get_or_create_stream(stream_config)
            .await
            .map_err(|e| internal(format!("cannot create the tenant bucket {bucket}: {e}")))?;
        warn_replicas(&stream, config.replicas);
        let kv = js
            .get_key_value(bucket.as_str())
            .await
            .map_err(|e| internal(format!("cannot open the tenant bucket {bucket}: {e}")))?;
        let audit = Audit::open(&js, &prefix, config).await?;
        let usage = UsageBucket::open(rag.nats(), &prefix, config.replicas)
            .await
            .map_err(|e| internal(e.to_string()))?;
        let ledger = Ledger::start(usage.clone(), config.usage_flush);
        let quotas = Quotas::start(usage, ledger).await;
        let (applied, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            kv,
            bucket,
            view: RwLock::new(View::default()),
            applied,
            base: rag.clone(),
            audit,
            quotas,
            points: Default::default(),
        });
        let (loaded_tx, loaded) = tokio::sync::oneshot::channel();
        let watcher = tokio::spawn(watch_bucket(shared.clone(), loaded_tx));
        let flusher = tokio::spawn(flush_every(shared.clone(), config.last_used_flush));
        let tasks = Tasks(vec![watcher.abort_handle(), flusher.abort_handle()]);
        let loaded = tokio::time::timeout(Duration::from_secs(30), loaded).await;
        if !matches!(loaded, Ok(Ok(()))) {
            return Err(internal(format!(
                "cannot read the tenant bucket {}",
                shared.bucket
            )));
        }
        Ok(Registry {
            shared,
            _tasks: Arc::new(tasks),
        })
    }

    /// Who the tenant key `key` authenticates as now, or `None`.
    pub fn authenticate(&self, key: &str) -> Option<Authenticated> {
        let now = records::now_micros();
        self.view().authenticate(key, now)
    }

    /// The audit trail.
    pub fn audit(&self) -> &Audit {
        &self.shared.audit
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.shared.bucket
    }

    fn view(&self) -> std::sync::RwLockReadGuard<'_, View> {
        self.shared
            .view
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every tenant, newest first.
    pub fn tenants(&self) -> Vec<TenantRecord> {
        let mut tenants: Vec<TenantRecord> = self
            .view()
            .tenants
            .values()
            .map(|t| t.record.clone())
            .collect();
        tenants.sort_by(|a, b| (&b.created_at, &b.tenant_id).cmp(&(&a.created_at, &a.tenant_id)));
        tenants
    }

    /// A tenant and its keys (every status, oldest first), as this producer
    /// sees them.
    pub fn tenant(&self, tenant: &TenantId) -> Option<(TenantRecord, Vec<KeyRecord>)> {
        let view = self.view();
        let record = view.tenants.get(tenant)?.record.clone();
        let mut keys: Vec<KeyRecord> = view
            .by_id
            .values()
            .filter(|k| &k.record.tenant_id == tenant)
            .filter_map(|k| view.key(&k.record.key_id))
            .collect();
        keys.sort_by(|a, b| (&a.created_at, &a.key_id).cmp(&(&b.created_at, &b.key_id)));
        Some((record, keys))
    }

    /// Makes a tenant, active, with its first key (named `default`, no
    /// expiry); returns both and the key itself, shown this once.
    pub async fn create_tenant(
        &self,
        name: String,
        description: Option<String>,
    ) -> Result<(TenantRecord, KeyRecord, String), ApiError> {
        let now = records::format_micros(records::now_micros());
        // Ids are random: a collision is tried again, as the old gateway did.
        for _ in 0..5 {
            let tenant = keys::new_tenant_id().map_err(internal)?;
            if self.exists(&records::tenant_entry(&tenant)).await? {
                continue;
            }
            let (key, plaintext) = self.new_key(&tenant, "default".into(), None, &now)?;
            // The key first: until its tenant's record exists it
            // authenticates nothing, so the tenant appears with its key.
            self.create(&records::key_entry(&key.key_id), &key).await?;
            let record = TenantRecord {
                tenant_id: tenant.clone(),
                name: name.clone(),
                description: description.clone(),
                status: TenantStatus::Active,
                created_at: now.clone(),
                updated_at: now.clone(),
                quotas: Limits::default(),
            };
            let created = self.create(&records::tenant_entry(&tenant), &record).await;
            if created.is_err() {
                // Nobody holds this key: it goes, lest it show among
                // another tenant's.
                let _ = self.shared.kv.delete(records::key_entry(&key.key_id)).await;
            }
            match created {
                Ok(revision) => {
                    self.shown(revision).await;
                    return Ok((record, key, plaintext));
                }
                Err(Created::Exists) => continue,
                Err(Created::Failed(e)) => return Err(e),
            }
        }
        Err(internal("no free tenant id in 5 attempts"))
    }

    /// Sets `tenant`'s status; returns the status before and the record
    /// after, or `None` for an unknown tenant. A deleted tenant stays
    /// deleted (409): its data is going, and its old keys must not come
    /// back.
    pub async fn set_status(
        &self,
        tenant: &TenantId,
        status: TenantStatus,
    ) -> Result<Option<(TenantStatus, TenantRecord)>, ApiError> {
        let entry = records::tenant_entry(tenant);
        for _ in 0..CAS_ATTEMPTS {
            let Some((mut record, revision)) = self.read::<TenantRecord>(&entry).await? else {
                return Ok(None);
            };
            let before = record.status;
            if before == status {
                return Ok(Some((before, record)));
            }
            if before == TenantStatus::Deleted {
                return Err(ApiError::Conflict(format!(
                    "Tenant {tenant} is deleted, and a deleted tenant cannot be made {}: \
                     create a new tenant",
                    status.as_str()
                )));
            }
            record.status = status;
            record.updated_at = records::format_micros(records::now_micros());
            match self.update(&entry, &record, revision).await? {
                Some(revision) => {
                    self.shown(revision).await;
                    return Ok(Some((before, record)));
                }
                None => continue,
            }
        }
        Err(internal(format!("{entry} kept changing; try again")))
    }

    /// Sets `tenant`'s quotas; the record after, or `None` for an unknown
    /// tenant. A deleted tenant's quotas do not change (409).
    pub async fn set_quotas(
        &self,
        tenant: &TenantId,
        quotas: Limits,
    ) -> Result<Option<TenantRecord>, ApiError> {
        let entry = records::tenant_entry(tenant);
        for _ in 0..CAS_ATTEMPTS {
            let Some((mut record, revision)) = self.read::<TenantRecord>(&entry).await? else {
                return Ok(None);
            };
            if record.status == TenantStatus::Deleted {
                return Err(ApiError::Conflict(format!(
                    "Tenant {tenant} is deleted: its quotas do not change"
                )));
            }
            if record.quotas == quotas {
                return Ok(Some(record));
            }
            record.quotas = quotas;
            record.updated_at = records::format_micros(records::now_micros());
            match self.update(&entry, &record, revision).await? {
                Some(revision) => {
                    self.shown(revision).await;
                    return Ok(Some(record));
                }
                None => continue,
            }
        }
        Err(internal(format!("{entry} kept changing; try again")))
    }

    /// The quotas and usage counts of every tenant.
    pub fn quotas(&self) -> &Quotas {
        &self.shared.quotas
    }

    /// Each tenant's stored points (`default` included), as last counted;
    /// a count older than a minute is started again in the background, so
    /// that a scrape never waits for the workers.
    pub fn stored_points(&self) -> Vec<(TenantId, u64)> {
        let mut points = self.shared.points.lock().unwrap_or_else(|p| p.into_inner());
        if points.0.is_none_or(|at| at.elapsed() >= POINTS_EVERY) {
            points.0 = Some(std::time::Instant::now());
            let shared = self.shared.clone();
            tokio::spawn(async move {
                let counted = count_points(&shared).await;
                shared.points.lock().unwrap_or_else(|p| p.into_inner()).1 = counted;
            });
        }
        points.1.clone()
    }

    /// Makes a key of `tenant` named `name`, expiring at `expires_at` (a
    /// stored time) if given; `None` for an unknown tenant. A deleted
    /// tenant gets no new key (409).
    pub async fn create_key(
        &self,
        tenant: &TenantId,
        name: String,
        expires_at: Option<String>,
    ) -> Result<Option<(KeyRecord, String)>, ApiError> {
        let Some((record, _)) = self
            .read::<TenantRecord>(&records::tenant_entry(tenant))
            .await?
        else {
            return Ok(None);
        };
        if record.status == TenantStatus::Deleted {
            return Err(ApiError::Conflict(format!(
                "Tenant {tenant} is deleted: it gets no new keys"
            )));
        }
        let now = records::format_micros(records::now_micros());
        let (key, plaintext) = self.new_key(tenant, name, expires_at, &now)?;
        let revision = self
            .create(&records::key_entry(&key.key_id), &key)
            .await
            .map_err(|e| match e {
                Created::Exists => internal("a new key id is taken"),
                Created::Failed(e) => e,
            })?;
        self.shown(revision).await;
        Ok(Some((key, plaintext)))
    }

    /// Revokes `tenant`'s key `key_id`: `None` when the tenant has no such
    /// key, else whether it was active until now.
    pub async fn revoke_key(
        &self,
        tenant: &TenantId,
        key_id: &str,
    ) -> Result<Option<bool>, ApiError> {
        let entry = records::key_entry(key_id);
        for _ in 0..CAS_ATTEMPTS {
            let Some((mut record, revision)) = self.read::<KeyRecord>(&entry).await? else {
                return Ok(None);
            };
            if &record.tenant_id != tenant {
                return Ok(None);
            }
            if record.status == KeyStatus::Revoked {
                return Ok(Some(false));
            }
            record.status = KeyStatus::Revoked;
            match self.update(&entry, &record, revision).await? {
                Some(revision) => {
                    self.shown(revision).await;
                    return Ok(Some(true));
                }
                None => continue,
            }
        }
        Err(internal(format!("{entry} kept changing; try again")))
    }

    /// Writes the last uses of the keys used since the last write.
    pub async fn flush_last_used(&self) {
        flush(&self.shared).await;
    }

    fn new_key(
        &self,
        tenant: &TenantId,
        name: String,
        expires_at: Option<String>,
        now: &str,
    ) -> Result<(KeyRecord, String), ApiError> {
        let key = keys::generate(tenant).map_err(internal)?;
        let record = KeyRecord {
            key_id: uuid::Uuid::new_v4().to_string(),
            tenant_id: tenant.clone(),
            key_prefix: format!("{}{tenant}", keys::KEY_START),
            name,
            created_at: now.to_owned(),
            expires_at,
            last_used_at: None,
            status: KeyStatus::Active,
            hash: keys::hash_text(&key.hash),
        };
        Ok((record, key.plaintext))
    }

    async fn exists(&self, entry: &str) -> Result<bool, ApiError> {
        let value = self
            .shared
            .kv
            .entry(entry)
            .await
            .map_err(|e| bucket_error(&self.shared.bucket, e))?;
        Ok(value.is_some_and(|e| e.operation == Operation::Put))
    }

    /// The record at `entry` and its revision, `None` when there is none.
    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        entry: &str,
    ) -> Result<Option<(T, u64)>, ApiError> {
        let value = self
            .shared
            .kv
            .entry(entry)
            .await
            .map_err(|e| bucket_error(&self.shared.bucket, e))?;
        match value {
            Some(e) if e.operation == Operation::Put => {
                let record = serde_json::from_slice(&e.value)
                    .map_err(|err| internal(format!("the record {entry} is unreadable: {err}")))?;
                Ok(Some((record, e.revision)))
            }
            _ => Ok(None),
        }
    }

    async fn create<T: serde::Serialize>(&self, entry: &str, record: &T) -> Result<u64, Created> {
        let value = Bytes::from(serde_json::to_vec(record).unwrap_or_default());
        self.shared
            .kv
            .create(entry, value)
            .await
            .map_err(|e| match e.kind() {
                kv::CreateErrorKind::AlreadyExists => Created::Exists,
                _ => Created::Failed(bucket_error(&self.shared.bucket, e)),
            })
    }

    /// Writes `record` at `entry` if it is still at `revision`: the new
    /// revision, or `None` when another write came first.
    async fn update<T: serde::Serialize>(
        &self,
        entry: &str,
        record: &T,
        revision: u64,
    ) -> Result<Option<u64>, ApiError> {
        update(&self.shared, entry, record, revision).await
    }

    /// Waits (a moment at most) until this producer's view shows
    /// `revision`.
    async fn shown(&self, revision: u64) {
        let mut applied = self.shared.applied.subscribe();
        let _ = tokio::time::timeout(SHOWN_WITHIN, applied.wait_for(|r| *r >= revision)).await;
    }
}

/// Why a create failed.
enum Created {
    /// The entry exists.
    Exists,
    /// Anything else.
    Failed(ApiError),
}

impl From<Created> for ApiError {
    fn from(e: Created) -> ApiError {
        match e {
            Created::Exists => internal("the entry exists"),
            Created::Failed(e) => e,
        }
    }
}

async fn update<T: serde::Serialize>(
    shared: &Shared,
    entry: &str,
    record: &T,
    revision: u64,
) -> Result<Option<u64>, ApiError> {
    let value = Bytes::from(serde_json::to_vec(record).unwrap_or_default());
    match shared.kv.update(entry, value, revision).await {
        Ok(revision) => Ok(Some(revision)),
        Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(None),
        Err(e) => Err(bucket_error(&shared.bucket, e)),
    }
}

fn internal(message: impl Into<String>) -> ApiError {
    ApiError::Registry(message.into())
}

fn bucket_error(bucket: &str, error: impl std::fmt::Display) -> ApiError {
    internal(format!("the tenant bucket {bucket} failed: {error}"))
}

fn warn_replicas(stream: &stream::Stream, wanted: usize) {
    let info = stream.cached_info();
    if info.config.num_replicas != wanted {
        tracing::warn!(
            stream = %info.config.name,
            replicas = info.config.num_replicas,
            wanted,
            "the stream exists with another replica count than RAGWIRE_TENANTS_REPLICAS; \
             change it with `nats stream edit {} --replicas {wanted}`",
            info.config.name
        );
    }
}

/// Keeps the view current: the whole bucket first (then `loaded` is told),
/// then every change. A watch that ends (NATS gone for a while) is started
/// again after the last revision applied.
async fn watch_bucket(shared: Arc<Shared>, loaded: tokio::sync::oneshot::Sender<()>) {
    let mut loaded = Some(loaded);
    loop {
        let from = *shared.applied.borrow();
        let watch = if from == 0 {
            // An empty bucket sends nothing to say it is empty.
            match shared.kv.status().await {
                Ok(status) if status.values() == 0 => {
                    if let Some(loaded) = loaded.take() {
                        let _ = loaded.send(());
                    }
                }
                _ => {}
            }
            shared.kv.watch_with_history(">").await
        } else {
            shared.kv.watch_all_from_revision(from + 1).await
        };
        let mut entries = match watch {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(bucket = %shared.bucket, "cannot watch the tenant bucket: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        while let Some(entry) = entries.next().await {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    tracing::warn!(bucket = %shared.bucket, "the tenant bucket's watch failed: {e}");
                    break;
                }
            };
            let value = (entry.operation == Operation::Put).then_some(&entry.value[..]);
            shared
                .view
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .apply(&entry.key, value, &shared.base);
            shared.applied.send_if_modified(|r| {
                let newer = entry.revision > *r;
                *r = (*r).max(entry.revision);
                newer
            });
            if entry.delta == 0 {
                if let Some(loaded) = loaded.take() {
                    let _ = loaded.send(());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// When the last count of stored points started (`None`: never), and
/// what it found.
type PointCounts = (Option<std::time::Instant>, Vec<(TenantId, u64)>);

/// How often stored points are counted again, at most.
const POINTS_EVERY: Duration = Duration::from_secs(60);

/// Each tenant's stored points, by asking the workers as the tenant
/// (`collections.list`); a tenant none answers for is left out.
async fn count_points(shared: &Shared) -> Vec<(TenantId, u64)> {
    let tenants: Vec<(TenantId, RagClient)> = {
        let view = shared.view.read().unwrap_or_else(|p| p.into_inner());
        view.tenants
            .iter()
            .filter(|(_, t)| t.record.status != TenantStatus::Deleted)
            .map(|(id, t)| (id.clone(), t.rag.clone()))
            .collect()
    };
    let default = (TenantId::default_tenant(), shared.base.clone());
    let mut counted = Vec::new();
    for (tenant, rag) in std::iter::once(default).chain(tenants) {
        let list = rag.call::<CollectionsList>(&ListRequest::default()).await;
        if let Ok(list) = list {
            let points = list.collections.iter().map(|c| c.points as u64).sum();
            counted.push((tenant, points));
        }
    }
    counted
}

/// Writes the last uses of keys every `every`.
async fn flush_every(shared: Arc<Shared>, every: Duration) {
    let mut ticks = tokio::time::interval(every.max(Duration::from_millis(100)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        flush(&shared).await;
    }
}

async fn flush(shared: &Shared) {
    let used: Vec<(String, i64)> = {
        let view = shared.view.read().unwrap_or_else(|p| p.into_inner());
        view.by_id
            .values()
            .filter(|k| k.usage.dirty.swap(false, Ordering::Relaxed))
            .map(|k| {
                let at = k.usage.last_used.load(Ordering::Relaxed);
                (k.record.key_id.clone(), at)
            })
            .collect()
    };
    for (key_id, at) in used {
        let entry = records::key_entry(&key_id);
        for _ in 0..CAS_ATTEMPTS {
            let Ok(Some(current)) = shared.kv.entry(&entry).await else {
                break;
            };
            let Ok(mut record) = serde_json::from_slice::<KeyRecord>(&current.value) else {
                break;
            };
            // Another producer may have written a later use.
            let stored = record
                .last_used_at
                .as_deref()
                .and_then(records::stored_micros)
                .unwrap_or(0);
            if current.operation != Operation::Put || stored >= at {
                break;
            }
            record.last_used_at = Some(records::format_micros(at));
            match update(shared, &entry, &record, current.revision).await {
                Ok(Some(_)) => break,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(key_id, "cannot write a key's last use: {e}");
                    break;
                }
            }
        }
    }
}
