//! Per-tenant quotas (requests per minute, LLM tokens per day, requests in
//! flight), shared by every producer through the usage bucket
//! ([`ragwire_common::usage`]), and each tenant's usage as the bucket holds
//! it.
//!
//! - Requests per minute: a count per tenant and minute in the bucket. A
//!   producer reserves a block of requests from it with a compare-and-set
//!   (a hundredth of the limit, at least one) and lets its requests through
//!   from the block, so the producers together never let through more than
//!   the limit; what they leave unused of their last blocks (at most one
//!   block each) is given up at the minute's end.
//! - Requests in flight: one entry per tenant holding each producer's own
//!   count (with a lease renewed while it has requests in flight, so that a
//!   producer that dies frees its share after the lease). A producer starts
//!   a request only when its write of its count plus one, against the sum
//!   of the others', succeeds: never more than the limit in flight.
//! - Tokens per day: the workers add each answer's `usage` to the tenant's
//!   count of the day; a producer reads the counts by a watch on the bucket.
//!   As a request's tokens are known only when it is answered, each request
//!   to the LLM's routes holds the tokens it is expected to use (the
//!   tenant's mean per LLM request today) in a shared entry while it runs
//!   and a second after; a request is let through only while the tokens
//!   used, those held and its own stay within the limit.
//!
//! A refused request is a 429 with `Retry-After`: the seconds to the next
//! minute, to midnight UTC, or 1 for requests in flight.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::kv::Operation;
use futures::StreamExt;
use ragwire_common::usage::{self, Counter, Ledger, UsageBucket};
use ragwire_schemas::TenantId;
use serde::{Deserialize, Serialize};

use super::records::Limits;
use crate::error::ApiError;

/// How long a producer's count of requests in flight holds without being
/// renewed.
const LEASE: Duration = Duration::from_secs(30);

/// How long tokens held for a request stay held after it ends: a worker's
/// flush of its count (250 ms by default) and the watch that brings it.
const TOKENS_COUNTED_WITHIN: Duration = Duration::from_secs(1);

/// How many times a compare-and-set is tried before the request is refused
/// as unavailable.
const CAS_ATTEMPTS: usize = 50;

/// Which quota refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quota {
    /// Requests per minute.
    Requests,
    /// LLM tokens per day.
    Tokens,
    /// Requests in flight.
    Concurrency,
}

impl Quota {
    /// Every quota.
    pub const ALL: [Quota; 3] = [Quota::Requests, Quota::Tokens, Quota::Concurrency];

    /// Its name, in metrics.
    pub fn name(self) -> &'static str {
        match self {
            Quota::Requests => "requests_per_minute",
            Quota::Tokens => "tokens_per_day",
            Quota::Concurrency => "concurrent_requests",
        }
    }
}

/// The quotas of every tenant on this producer. Cheap to clone.
#[derive(Clone)]
pub struct Quotas {
    inner: Arc<Inner>,
}

struct Inner {
    bucket: UsageBucket,
    ledger: Ledger,
    /// This producer's name in the entries of requests in flight.
    producer: String,
    tenants: Mutex<HashMap<TenantId, Arc<TenantState>>>,
    /// Today's counts of every tenant, as the watch last saw them.
    counts: RwLock<HashMap<(Counter, TenantId), (String, u64)>>,
    /// This producer's requests let through (`None`) and refused, by
    /// tenant, for `/metrics`.
    outcomes: Mutex<HashMap<(TenantId, Option<Quota>), u64>>,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in self
            .tasks
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            task.abort();
        }
    }
}

/// One tenant's quota state on this producer.
#[derive(Default)]
struct TenantState {
    /// The requests left of this producer's block, and its minute.
    window: tokio::sync::Mutex<Window>,
    /// Requests in flight here.
    in_flight: AtomicU64,
    /// The count of requests in flight the bucket holds for this producer;
    /// the lock orders this producer's writes of it.
    written: tokio::sync::Mutex<u64>,
}

#[derive(Default)]
struct Window {
    minute: u64,
    left: u64,
}

/// Each producer's requests in flight for one tenant, at
/// `inflight.{tenant}`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct InFlight {
    /// Producer name to its count and the end of its lease (seconds since
    /// the epoch).
    producers: HashMap<String, (u64, u64)>,
}

/// A request let through; while it lives, it counts in flight.
pub struct Admission {
    held: Option<(Quotas, Arc<TenantState>, TenantId)>,
    /// Tokens held for the request.
    tokens: Option<(Quotas, TenantId, u64)>,
}

impl Admission {
    /// Whether it holds a place among its tenant's requests in flight.
    pub fn holds(&self) -> bool {
        self.held.is_some() || self.tokens.is_some()
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some((quotas, tenant, estimate)) = self.tokens.take() {
            if estimate > 0 {
                tokio::spawn(async move { quotas.release_tokens(&tenant, estimate).await });
            }
        }
        if let Some((quotas, state, tenant)) = self.held.take() {
            state.in_flight.fetch_sub(1, Ordering::AcqRel);
            // The bucket is told later, off the request's path; a new
            // request may take the slot meanwhile without a write.
            tokio::spawn(async move {
                let _ = quotas
                    .write_in_flight(&tenant, &state, Write::Release)
                    .await;
            });
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn refused(quota: Quota, message: String, retry_after: u64) -> ApiError {
    ApiError::RateLimited {
        quota: quota.name(),
        message,
        retry_after,
    }
}

impl Quotas {
    /// The quotas on `bucket`, counting requests into `ledger`.
    pub async fn start(bucket: UsageBucket, ledger: Ledger) -> Quotas {
        let inner = Arc::new(Inner {
            bucket: bucket.clone(),
            ledger,
            producer: uuid::Uuid::new_v4().simple().to_string(),
            tenants: Mutex::default(),
            counts: RwLock::default(),
            outcomes: Mutex::default(),
            tasks: Mutex::default(),
        });
        let (watched, loaded) = tokio::sync::oneshot::channel();
        let watcher = tokio::spawn(watch_counts(Arc::downgrade(&inner), bucket, watched));
        let renewer = tokio::spawn(renew_leases(Arc::downgrade(&inner)));
        *inner.tasks.lock().unwrap_or_else(|p| p.into_inner()) =
            vec![watcher.abort_handle(), renewer.abort_handle()];
        // Quotas start with what the bucket holds, or, after a while, with
        // what comes.
        let _ = tokio::time::timeout(Duration::from_secs(5), loaded).await;
        Quotas { inner }
    }

    /// Counts a request of `tenant`.
    pub fn count_request(&self, tenant: &TenantId) {
        self.inner.ledger.add(tenant, Counter::Requests, 1);
    }

    /// Today's count of `counter` for `tenant`, as this producer last saw
    /// it.
    pub fn today(&self, counter: Counter, tenant: &TenantId) -> u64 {
        let today = usage::day(SystemTime::now());
        self.inner
            .counts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(counter, tenant.clone()))
            .filter(|(day, _)| *day == today)
            .map_or(0, |(_, n)| *n)
    }

    /// Today's counts of every tenant seen, for `/metrics`.
    pub fn all_today(&self) -> Vec<(TenantId, Counter, u64)> {
        let today = usage::day(SystemTime::now());
        self.inner
            .counts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, (day, _))| *day == today)
            .map(|((counter, tenant), (_, n))| (tenant.clone(), *counter, *n))
            .collect()
    }

    /// The count of `counter` for `tenant` on `day`, read from the bucket.
    pub async fn read(
        &self,
        counter: Counter,
        tenant: &TenantId,
        day: &str,
    ) -> Result<u64, ApiError> {
        let entry = usage::entry(counter, tenant, day);
        self.inner
            .bucket
            .read(&entry)
            .await
            .map(|(n, _)| n)
            .map_err(|e| ApiError::Registry(e.to_string()))
    }

    /// This producer's requests let through (quota `None`) and refused,
    /// by tenant, since it started.
    pub fn outcomes(&self) -> Vec<(TenantId, Option<Quota>, u64)> {
        self.inner
            .outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|((tenant, quota), n)| (tenant.clone(), *quota, *n))
            .collect()
    }

    /// Lets a request of `tenant` with `limits` through, or refuses it with
    /// a 429 naming the quota it would exceed.
    /// `llm`: the request asks the LLM (see [`uses_llm`]); the token quota
    /// holds back only those.
    pub async fn admit(
        &self,
        tenant: &TenantId,
        limits: &Limits,
        llm: bool,
    ) -> Result<Admission, ApiError> {
        let admitted = self.check(tenant, limits, llm).await;
        let quota = match &admitted {
            Ok(_) => None,
            Err(ApiError::RateLimited { quota, .. }) => {
                Quota::ALL.into_iter().find(|q| q.name() == *quota)
            }
            Err(_) => return admitted,
        };
        *self
            .inner
            .outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((tenant.clone(), quota))
            .or_default() += 1;
        admitted
    }

    async fn check(
        &self,
        tenant: &TenantId,
        limits: &Limits,
        llm: bool,
    ) -> Result<Admission, ApiError> {
        let mut admission = Admission {
            held: None,
            tokens: None,
        };
        if limits.is_unlimited() {
            self.count(tenant, llm);
            return Ok(admission);
        }
        let token_limit = limits.tokens_per_day.filter(|_| llm);
        if let Some(limit) = token_limit {
            let used = self.today(Counter::Tokens, tenant);
            if used >= limit {
                return Err(out_of_tokens(tenant, used, limit));
            }
        }
        let state = self.state(tenant);
        if let Some(limit) = limits.requests_per_minute {
            self.take_from_minute(tenant, &state, limit).await?;
        }
        if let Some(limit) = limits.concurrent_requests {
            self.enter(tenant, &state, limit).await?;
            admission.held = Some((self.clone(), state, tenant.clone()));
        }
        if let Some(limit) = token_limit {
            // On refusal, the admission dropped frees its place in flight.
            let estimate = self.hold_tokens(tenant, limit).await?;
            admission.tokens = Some((self.clone(), tenant.clone(), estimate));
        }
        self.count(tenant, llm);
        Ok(admission)
    }

    fn count(&self, tenant: &TenantId, llm: bool) {
        self.count_request(tenant);
        if llm {
            self.inner.ledger.add(tenant, Counter::LlmRequests, 1);
        }
    }

    /// The tokens a request of `tenant` to the LLM is expected to use: the
    /// tenant's mean per LLM request today, every producer and worker
    /// together; 0 before its first.
    fn estimate(&self, tenant: &TenantId) -> u64 {
        let tokens = self.today(Counter::Tokens, tenant);
        let requests = self.today(Counter::LlmRequests, tenant);
        if requests == 0 {
            0
        } else {
            tokens.div_ceil(requests)
        }
    }

    /// Holds the tokens a request is expected to use in the tenant's entry
    /// of tokens held (`held.{tenant}.{day}`), if the tokens used, those
    /// held for the requests in flight and these stay within `limit`.
    async fn hold_tokens(&self, tenant: &TenantId, limit: u64) -> Result<u64, ApiError> {
        let estimate = self.estimate(tenant);
        if estimate == 0 {
            return Ok(0);
        }
        let entry = format!("held.{tenant}.{}", usage::day(SystemTime::now()));
        let bucket = &self.inner.bucket;
        for _ in 0..CAS_ATTEMPTS {
            let used = self.today(Counter::Tokens, tenant);
            let (held, revision) = bucket.read(&entry).await.map_err(unavailable)?;
            if used + held + estimate > limit {
                return Err(out_of_tokens(tenant, used + held, limit));
            }
            let next = (held + estimate).to_string();
            if bucket
                .swap(&entry, revision, next.into())
                .await
                .map_err(unavailable)?
            {
                return Ok(estimate);
            }
        }
        Err(contended(tenant))
    }

    /// Gives back tokens held for a request, once its own have had the time
    /// to be counted (a worker's flush and this producer's watch).
    async fn release_tokens(&self, tenant: &TenantId, estimate: u64) {
        tokio::time::sleep(TOKENS_COUNTED_WITHIN).await;
        let entry = format!("held.{tenant}.{}", usage::day(SystemTime::now()));
        let bucket = &self.inner.bucket;
        for _ in 0..CAS_ATTEMPTS {
            let Ok((held, revision)) = bucket.read(&entry).await else {
                return;
            };
            let next = held.saturating_sub(estimate).to_string();
            match bucket.swap(&entry, revision, next.into()).await {
                Ok(true) | Err(_) => return,
                Ok(false) => continue,
            }
        }
    }

    fn state(&self, tenant: &TenantId) -> Arc<TenantState> {
        self.inner
            .tenants
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(tenant.clone())
            .or_default()
            .clone()
    }

    /// One request of this producer's block for the current minute,
    /// reserving a new block when it is used up.
    async fn take_from_minute(
        &self,
        tenant: &TenantId,
        state: &TenantState,
        limit: u64,
    ) -> Result<(), ApiError> {
        let now = now_secs();
        let minute = now / 60;
        let mut window = state.window.lock().await;
        if window.minute != minute {
            *window = Window { minute, left: 0 };
        }
        if window.left == 0 {
            let entry = format!("rpm.{tenant}.{minute}");
            let block = (limit / 100).max(1);
            let bucket = &self.inner.bucket;
            let mut granted = None;
            for _ in 0..CAS_ATTEMPTS {
                let (used, revision) = bucket.read(&entry).await.map_err(unavailable)?;
                if used >= limit {
                    return Err(refused(
                        Quota::Requests,
                        format!(
                            "tenant {tenant} has made its {limit} requests of this minute; \
                             retry in the next"
                        ),
                        60 - now % 60,
                    ));
                }
                let grant = block.min(limit - used);
                let next = (used + grant).to_string();
                if bucket
                    .swap(&entry, revision, next.into())
                    .await
                    .map_err(unavailable)?
                {
                    granted = Some(grant);
                    break;
                }
            }
            window.left = granted.ok_or_else(|| contended(tenant))?;
        }
        window.left -= 1;
        Ok(())
    }

    /// Counts a request in flight, if the producers together stay within
    /// `limit`.
    async fn enter(
        &self,
        tenant: &TenantId,
        state: &TenantState,
        limit: u64,
    ) -> Result<(), ApiError> {
        match self
            .write_in_flight(tenant, state, Write::Enter(limit))
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(refused(
                Quota::Concurrency,
                format!(
                    "tenant {tenant} has {limit} requests in flight, its limit; retry when \
                         one ends"
                ),
                1,
            )),
            Err(e) => Err(e),
        }
    }

    /// Writes this producer's count of requests in flight for `tenant`
    /// when the bucket holds another (or, renewing, its lease). Entering,
    /// `Ok(false)` when the producers together would exceed the limit.
    async fn write_in_flight(
        &self,
        tenant: &TenantId,
        state: &TenantState,
        write: Write,
    ) -> Result<bool, ApiError> {
        // Requests in flight here go up only under this lock, and only by
        // an entering request that the bucket (or this producer's share
        // there) allows; they go down at any time.
        let mut written = state.written.lock().await;
        let count = match write {
            Write::Enter(_) => {
                let wanted = state.in_flight.load(Ordering::Acquire) + 1;
                // A slot this producer still holds in the bucket is reused
                // as it is.
                if wanted <= *written {
                    state.in_flight.fetch_add(1, Ordering::AcqRel);
                    return Ok(true);
                }
                wanted
            }
            Write::Release => {
                let count = state.in_flight.load(Ordering::Acquire);
                if count >= *written {
                    return Ok(true);
                }
                count
            }
            Write::Renew if *written == 0 => return Ok(true),
            Write::Renew => *written,
        };
        let entry = format!("inflight.{tenant}");
        let bucket = &self.inner.bucket;
        let me = &self.inner.producer;
        for _ in 0..CAS_ATTEMPTS {
            let current = bucket.kv().entry(&entry).await.map_err(unavailable)?;
            let (mut record, revision) = match current {
                Some(e) if e.operation == Operation::Put => (
                    serde_json::from_slice::<InFlight>(&e.value).unwrap_or_default(),
                    e.revision,
                ),
                Some(e) => (InFlight::default(), e.revision),
                None => (InFlight::default(), 0),
            };
            let now = now_secs();
            record.producers.retain(|_, (_, until)| *until > now);
            if let Write::Enter(limit) = write {
                let others: u64 = record
                    .producers
                    .iter()
                    .filter(|(name, _)| *name != me)
                    .map(|(_, (n, _))| n)
                    .sum();
                if others + count > limit {
                    return Ok(false);
                }
            }
            if count == 0 {
                record.producers.remove(me);
            } else {
                record
                    .producers
                    .insert(me.clone(), (count, now + LEASE.as_secs()));
            }
            let value = serde_json::to_vec(&record).unwrap_or_default();
            if bucket
                .swap(&entry, revision, value.into())
                .await
                .map_err(unavailable)?
            {
                *written = count;
                if let Write::Enter(_) = write {
                    state.in_flight.fetch_add(1, Ordering::AcqRel);
                }
                return Ok(true);
            }
        }
        Err(contended(tenant))
    }
}

/// Why a producer writes its count of requests in flight.
#[derive(Debug, Clone, Copy)]
enum Write {
    /// A request enters, under this limit.
    Enter(u64),
    /// A request ended.
    Release,
    /// The lease is renewed.
    Renew,
}

fn out_of_tokens(tenant: &TenantId, used: u64, limit: u64) -> ApiError {
    refused(
        Quota::Tokens,
        format!(
            "tenant {tenant} has used {used} LLM tokens today (those of its requests in flight \
             included), its limit is {limit}; the count starts again at 00:00 UTC"
        ),
        usage::seconds_to_midnight(SystemTime::now()),
    )
}

/// Whether a request for `path` asks the LLM, so that the token quota
/// applies to it.
pub fn uses_llm(path: &str) -> bool {
    matches!(
        path,
        "/chat" | "/v1/chat/completions" | "/graph/extract" | "/graph/probe"
    )
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::Registry(format!("quotas cannot be checked: {e}"))
}

fn contended(tenant: &TenantId) -> ApiError {
    ApiError::Registry(format!(
        "quotas of tenant {tenant} cannot be checked: too many producers writing at once"
    ))
}

/// Keeps the counts of the day as the bucket holds them.
async fn watch_counts(
    inner: std::sync::Weak<Inner>,
    bucket: UsageBucket,
    loaded: tokio::sync::oneshot::Sender<()>,
) {
    let mut loaded = Some(loaded);
    loop {
        let watch = bucket.kv().watch_with_history(">").await;
        let mut entries = match watch {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(bucket = bucket.name(), "cannot watch the usage bucket: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if let Ok(status) = bucket.kv().status().await {
            if status.values() == 0 {
                if let Some(l) = loaded.take() {
                    let _ = l.send(());
                }
            }
        }
        while let Some(entry) = entries.next().await {
            let Ok(entry) = entry else { break };
            let Some(inner) = inner.upgrade() else { return };
            if let Some((counter, tenant, day)) = parse_entry(&entry.key) {
                let n = if entry.operation == Operation::Put {
                    usage::count(&entry.value)
                } else {
                    0
                };
                let mut counts = inner.counts.write().unwrap_or_else(|p| p.into_inner());
                let slot = counts.entry((counter, tenant)).or_default();
                // Yesterday's entries, replayed, never replace today's.
                if day >= slot.0 {
                    *slot = (day, n);
                }
            }
            if entry.delta == 0 {
                if let Some(l) = loaded.take() {
                    let _ = l.send(());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The counter, tenant and day of a usage entry; `None` for the quota
/// entries.
fn parse_entry(key: &str) -> Option<(Counter, TenantId, String)> {
    let mut parts = key.splitn(3, '.');
    let name = parts.next()?;
    let counter = Counter::ALL.into_iter().find(|c| c.name() == name)?;
    let tenant = TenantId::parse(parts.next()?).ok()?;
    let day = parts.next()?.to_owned();
    Some((counter, tenant, day))
}

/// Renews this producer's leases on its requests in flight.
async fn renew_leases(inner: std::sync::Weak<Inner>) {
    let mut ticks = tokio::time::interval(LEASE / 3);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let busy: Vec<(TenantId, Arc<TenantState>)> = inner
            .tenants
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, s)| s.in_flight.load(Ordering::Acquire) > 0)
            .map(|(t, s)| (t.clone(), s.clone()))
            .collect();
        let quotas = Quotas { inner };
        for (tenant, state) in busy {
            if let Err(e) = quotas.write_in_flight(&tenant, &state, Write::Renew).await {
                tracing::warn!(%tenant, "lease on requests in flight not renewed: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse() {
        let (counter, tenant, day) = parse_entry("tokens.acme0001.2026-12-04").unwrap();
        assert_eq!(counter, Counter::Tokens);
        assert_eq!(tenant.as_str(), "acme0001");
        assert_eq!(day, "2026-12-04");
        assert!(parse_entry("rpm.acme0001.123").is_none());
        assert!(parse_entry("inflight.acme0001").is_none());
    }
}
