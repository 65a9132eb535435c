//! Usage counters per tenant and day, shared by every producer and worker
//! through one JetStream key-value bucket, `{prefix}_usage`.
//!
//! An entry is `{counter}.{tenant}.{day}` (`tokens.acme0001.2026-12-04`)
//! holding a decimal count. Producers count requests, workers the LLM's
//! tokens (from each answer's `usage`) and the texts they embed. Each
//! process adds up what it counts in memory and adds it to the bucket every
//! flush interval with a compare-and-set, so a busy tenant costs one write
//! per process and interval, not one per request. Producers also keep
//! their quota counters here (see the producer's `tenants::quota`).
//!
//! Entries are kept two days (the bucket's age limit): today's and
//! yesterday's counts. Longer histories belong to Prometheus, which
//! scrapes the same counts from `/metrics`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::{self, kv, stream};
use bytes::Bytes;
use ragwire_schemas::TenantId;

use crate::error::Error;

/// How many times a compare-and-set is tried before the add is given up
/// (and kept for the next flush).
const CAS_ATTEMPTS: usize = 20;

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum Counter {
    /// Requests a producer let through.
    Requests,
    /// LLM tokens, prompt and completion, as the model's `usage` gives them.
    Tokens,
    /// Texts embedded (a cache hit counts: the tenant asked for it).
    EmbeddedTexts,
    /// Requests a producer let through to the LLM's routes (chat, graph
    /// extraction): with `Tokens`, the mean a token quota expects of the
    /// next.
    LlmRequests,
}

impl Counter {
    /// Every counter.
    pub const ALL: [Counter; 4] = [
        Counter::Requests,
        Counter::Tokens,
        Counter::EmbeddedTexts,
        Counter::LlmRequests,
    ];

    /// Its name, in entries, replies and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Counter::Requests => "requests",
            Counter::Tokens => "tokens",
            Counter::EmbeddedTexts => "embedded_texts",
            Counter::LlmRequests => "llm_requests",
        }
    }
}

/// The UTC day of `at`, `YYYY-MM-DD`.
pub fn day(at: SystemTime) -> String {
    let days = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0);
    civil(days as i64)
}

/// Seconds from `at` to the next UTC midnight (at least 1).
pub fn seconds_to_midnight(at: SystemTime) -> u64 {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (86_400 - secs % 86_400).max(1)
}

// Days since 1970-01-01 as a proleptic Gregorian date (H. Hinnant's
// `civil_from_days`).
fn civil(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The entry of `counter` for `tenant` on `day`.
pub fn entry(counter: Counter, tenant: &TenantId, day: &str) -> String {
    format!("{}.{tenant}.{day}", counter.name())
}

/// The usage bucket. Cheap to clone.
#[derive(Clone)]
pub struct UsageBucket {
    kv: kv::Store,
    name: Arc<str>,
}

impl std::fmt::Debug for UsageBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageBucket")
            .field("name", &self.name)
            .finish()
    }
}

impl UsageBucket {
    /// The bucket's name for `prefix`.
    pub fn name_for(prefix: &str) -> String {
        format!("{}_usage", prefix.replace('.', "_"))
    }

    /// Opens the bucket of `prefix`, creating it (with `replicas`) when
    /// missing.
    pub async fn open(
        nats: &async_nats::Client,
        prefix: &str,
        replicas: usize,
    ) -> Result<UsageBucket, Error> {
        let js = jetstream::new(nats.clone());
        let name = UsageBucket::name_for(prefix);
        // Made as a key-value bucket's stream is, directly: servers before
        // 2.10 do not give `create_key_value` the account details it asks.
        let config = stream::Config {
            name: format!("KV_{name}"),
            description: Some("ragwire usage counters and quota counters".into()),
            subjects: vec![format!("$KV.{name}.>")],
            max_messages_per_subject: 1,
            max_age: Duration::from_secs(2 * 86_400),
            max_bytes: 256 << 20,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            num_replicas: replicas.max(1),
            ..Default::default()
        };
        js.get_or_create_stream(config)
            .await
            .map_err(|e| Error::Nats(format!("cannot create the usage bucket {name}: {e}")))?;
        let kv = js
            .get_key_value(name.as_str())
            .await
            .map_err(|e| Error::Nats(format!("cannot open the usage bucket {name}: {e}")))?;
        Ok(UsageBucket {
            kv,
            name: name.into(),
        })
    }

    /// The key-value store.
    pub fn kv(&self) -> &kv::Store {
        &self.kv
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The count at `entry` (0 when absent) and the entry's revision (0
    /// when absent).
    pub async fn read(&self, entry: &str) -> Result<(u64, u64), Error> {
        match self.kv.entry(entry).await {
            Ok(Some(e)) if e.operation == kv::Operation::Put => Ok((count(&e.value), e.revision)),
            Ok(Some(e)) => Ok((0, e.revision)),
            Ok(None) => Ok((0, 0)),
            Err(e) => Err(self.failed(e)),
        }
    }

    /// Sets `entry` to `value` if it is still at `revision` (0: absent);
    /// `Ok(false)` when another writer came first.
    pub async fn swap(&self, entry: &str, revision: u64, value: Bytes) -> Result<bool, Error> {
        let written = if revision == 0 {
            self.kv
                .create(entry, value)
                .await
                .map_err(|e| match e.kind() {
                    kv::CreateErrorKind::AlreadyExists => None,
                    _ => Some(self.failed(e)),
                })
        } else {
            self.kv
                .update(entry, value, revision)
                .await
                .map_err(|e| match e.kind() {
                    kv::UpdateErrorKind::WrongLastRevision => None,
                    _ => Some(self.failed(e)),
                })
        };
        match written {
            Ok(_) => Ok(true),
            Err(None) => Ok(false),
            Err(Some(e)) => Err(e),
        }
    }

    /// Adds `n` to the count at `entry`; the new count.
    pub async fn add(&self, entry: &str, n: u64) -> Result<u64, Error> {
        for _ in 0..CAS_ATTEMPTS {
            let (current, revision) = self.read(entry).await?;
            let next = current.saturating_add(n);
            if self.swap(entry, revision, next.to_string().into()).await? {
                return Ok(next);
            }
        }
        Err(Error::Nats(format!(
            "the usage bucket {}: {entry} changed under {CAS_ATTEMPTS} attempts to add to it",
            self.name
        )))
    }

    fn failed(&self, e: impl std::fmt::Display) -> Error {
        Error::Nats(format!("the usage bucket {} failed: {e}", self.name))
    }
}

/// A stored count; anything unreadable counts as 0.
pub fn count(value: &[u8]) -> u64 {
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// What a process counts, added to the bucket every flush interval. Cheap
/// to clone; the flushing task stops with the last clone.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<LedgerInner>,
}

struct LedgerInner {
    bucket: tokio::sync::OnceCell<UsageBucket>,
    /// Where to find the bucket when the ledger did not open it.
    source: Option<(async_nats::Client, String)>,
    /// When the bucket was last looked for.
    looked: Mutex<Option<std::time::Instant>>,
    /// Counts by tenant, in the order of [`Counter::ALL`].
    pending: Mutex<HashMap<TenantId, [u64; 4]>>,
    flusher: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Drop for LedgerInner {
    fn drop(&mut self) {
        if let Some(task) = self.flusher.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("bucket", &self.inner.bucket.get())
            .finish()
    }
}

/// How often a ledger without its bucket looks for it.
const LOOK_EVERY: Duration = Duration::from_secs(5);

impl Ledger {
    /// A ledger adding to `bucket` every `every`.
    pub fn start(bucket: UsageBucket, every: Duration) -> Ledger {
        Ledger::spawn(tokio::sync::OnceCell::new_with(Some(bucket)), None, every)
    }

    /// A ledger adding to the usage bucket of `prefix` every `every`, once
    /// the bucket exists: a producer that reads the tenant registry makes
    /// it. Until then (a deployment without tenants) nothing is counted.
    pub fn when_present(nats: async_nats::Client, prefix: &str, every: Duration) -> Ledger {
        Ledger::spawn(
            tokio::sync::OnceCell::new(),
            Some((nats, prefix.to_owned())),
            every,
        )
    }

    fn spawn(
        bucket: tokio::sync::OnceCell<UsageBucket>,
        source: Option<(async_nats::Client, String)>,
        every: Duration,
    ) -> Ledger {
        let ledger = Ledger {
            inner: Arc::new(LedgerInner {
                bucket,
                source,
                looked: Mutex::default(),
                pending: Mutex::default(),
                flusher: Mutex::default(),
            }),
        };
        // The task holds the ledger weakly, so that dropping the last
        // clone stops it.
        let weak = Arc::downgrade(&ledger.inner);
        let every = every.max(Duration::from_millis(10));
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                Ledger { inner }.flush().await;
            }
        });
        *ledger
            .inner
            .flusher
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(task.abort_handle());
        ledger
    }

    /// The bucket, when it exists (looked for at most every few seconds).
    async fn bucket(&self) -> Option<&UsageBucket> {
        if let Some(bucket) = self.inner.bucket.get() {
            return Some(bucket);
        }
        let (nats, prefix) = self.inner.source.as_ref()?;
        {
            let mut looked = self.inner.looked.lock().unwrap_or_else(|p| p.into_inner());
            if looked.is_some_and(|at| at.elapsed() < LOOK_EVERY) {
                return None;
            }
            *looked = Some(std::time::Instant::now());
        }
        let js = jetstream::new(nats.clone());
        let name = UsageBucket::name_for(prefix);
        // Only an existing bucket: a worker never makes one.
        js.get_stream(format!("KV_{name}")).await.ok()?;
        let kv = js.get_key_value(name.as_str()).await.ok()?;
        let bucket = UsageBucket {
            kv,
            name: name.into(),
        };
        Some(self.inner.bucket.get_or_init(|| async { bucket }).await)
    }

    /// The counts of `tenant`.
    pub fn meter(&self, tenant: &TenantId) -> Meter {
        Meter {
            ledger: self.clone(),
            tenant: tenant.clone(),
        }
    }

    /// Counts `n` of `counter` for `tenant`.
    pub fn add(&self, tenant: &TenantId, counter: Counter, n: u64) {
        if n == 0 {
            return;
        }
        let mut pending = self.inner.pending.lock().unwrap_or_else(|p| p.into_inner());
        // Looked up by reference: a request of a known tenant allocates
        // nothing.
        match pending.get_mut(tenant) {
            Some(counts) => counts[counter as usize] += n,
            None => {
                let mut counts = [0; 4];
                counts[counter as usize] = n;
                pending.insert(tenant.clone(), counts);
            }
        }
    }

    /// Adds what was counted since the last flush to the bucket, under
    /// today's entries; what cannot be written is kept for the next. Without
    /// a bucket, what was counted is let go.
    pub async fn flush(&self) {
        // Looked for even with nothing to add, so that `counting` turns
        // true soon after a producer makes the bucket.
        let bucket = self.bucket().await;
        let pending =
            std::mem::take(&mut *self.inner.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let Some(bucket) = bucket else { return };
        let today = day(SystemTime::now());
        for (tenant, counts) in pending {
            for (counter, n) in Counter::ALL.into_iter().zip(counts) {
                if n == 0 {
                    continue;
                }
                let entry = entry(counter, &tenant, &today);
                if let Err(e) = bucket.add(&entry, n).await {
                    tracing::warn!("usage not written yet: {e}");
                    self.add(&tenant, counter, n);
                }
            }
        }
    }

    /// Whether counts reach a bucket (else they are let go).
    pub fn counting(&self) -> bool {
        self.inner.bucket.initialized()
    }
}

/// A ledger's counts of one tenant. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Meter {
    ledger: Ledger,
    tenant: TenantId,
}

impl Meter {
    /// Whether counts reach a bucket: a model's usage is worth asking for.
    pub fn counting(&self) -> bool {
        self.ledger.counting()
    }

    /// Counts `n` of `counter`.
    pub fn add(&self, counter: Counter, n: u64) {
        self.ledger.add(&self.tenant, counter, n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_entries() {
        assert_eq!(civil(0), "1970-01-01");
        assert_eq!(civil(20_791), "2026-12-04");
        assert_eq!(civil(11_016), "2000-02-29");
        let at = UNIX_EPOCH + Duration::from_secs(20_791 * 86_400 + 86_399);
        assert_eq!(day(at), "2026-12-04");
        assert_eq!(seconds_to_midnight(at), 1);
        let tenant = TenantId::parse("acme0001").unwrap();
        assert_eq!(
            entry(Counter::Tokens, &tenant, "2026-12-04"),
            "tokens.acme0001.2026-12-04"
        );
        assert_eq!(count(b"42"), 42);
        for (i, counter) in Counter::ALL.into_iter().enumerate() {
            assert_eq!(counter as usize, i, "ledgers index counts by discriminant");
        }
        assert_eq!(count(b"x"), 0);
    }

    #[tokio::test]
    async fn ledgers_of_several_processes_add_up() {
        let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
        let nats = async_nats::connect(url).await.unwrap();
        let prefix = format!("usagetest{}", std::process::id());
        let bucket = UsageBucket::open(&nats, &prefix, 1).await.unwrap();
        let tenant = TenantId::parse("acme0001").unwrap();
        let ledgers: Vec<Ledger> = (0..3)
            .map(|_| Ledger::start(bucket.clone(), Duration::from_secs(3600)))
            .collect();
        let mut flushes = Vec::new();
        for (i, ledger) in ledgers.iter().enumerate() {
            for _ in 0..10 {
                ledger.add(&tenant, Counter::Tokens, i as u64 + 1);
            }
            ledger.add(&TenantId::default_tenant(), Counter::Requests, 1);
            let ledger = ledger.clone();
            flushes.push(tokio::spawn(async move { ledger.flush().await }));
        }
        for f in flushes {
            f.await.unwrap();
        }
        let today = day(SystemTime::now());
        let (tokens, _) = bucket
            .read(&entry(Counter::Tokens, &tenant, &today))
            .await
            .unwrap();
        assert_eq!(tokens, 10 + 20 + 30, "concurrent adds all count");
        let default = TenantId::default_tenant();
        let (requests, _) = bucket
            .read(&entry(Counter::Requests, &default, &today))
            .await
            .unwrap();
        assert_eq!(requests, 3);
        let js = jetstream::new(nats);
        js.delete_stream(format!("KV_{}", bucket.name()))
            .await
            .unwrap();
    }
}
