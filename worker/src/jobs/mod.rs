//! Durable ingest jobs on JetStream.
//!
//! - [`streams`]: the work-queue stream (`{prefix}.jobs.work`), the
//!   dead-letter stream (`{prefix}.jobs.dead.{job_id}`) and the status
//!   bucket, created when missing.
//! - [`submit`]: one job per document, its id derived from the content and
//!   sent as `Nats-Msg-Id`, so the server drops an identical resubmission;
//!   the status bucket catches it after the server's duplicate window.
//! - [`status`]: each job's [`JobStatus`] in the bucket (written by
//!   compare-and-swap where two writers can race) and its progress events
//!   on `{prefix}.jobs.events.{job_id}`.
//! - [`dead`]: dead letters, listed and replayed.
//! - [`register`]: the generation register of documents and collections
//!   (in the status bucket), so that a delete or a newer version wins over
//!   an older write.
//! - [`consume`]: every worker pulls from one durable consumer, so adding
//!   workers adds throughput; a job is acknowledged only after all its
//!   writes, retried with growing delays on transient failures, and sent to
//!   the dead-letter stream when it fails for good.

pub mod consume;
mod dead;
pub(crate) mod purge;
mod register;
mod status;
mod streams;
mod submit;

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use ragwire_common::names::JobNames;
use ragwire_common::settings::parse;
use ragwire_schemas::TenantId;

use crate::error::Error;
use crate::retry::backoff;

/// Durable ingest jobs on JetStream.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Jobs")]
pub struct JobsConfig {
    /// Set up the job streams and answer the `jobs.*` subjects.
    #[arg(id = "jobs.enabled", long = "jobs-enabled", env = "RAGWIRE_JOBS_ENABLED", default_value_t = true,
          action = clap::ArgAction::Set, value_parser = parse::boolean)]
    pub enabled: bool,
    /// Process ingest jobs in this worker; submission, status and replay
    /// work either way.
    #[arg(id = "jobs.consume", long = "jobs-consume", env = "RAGWIRE_JOBS_CONSUME",
          default_value_t = true, action = clap::ArgAction::Set, value_parser = parse::boolean)]
    pub consume: bool,
    /// Work-queue stream, on subject `{prefix}.jobs.work`; default
    /// `{PREFIX}_JOBS` (dots and dashes as `_`).
    #[arg(id = "jobs.stream", long = "jobs-stream", env = "RAGWIRE_JOBS_STREAM")]
    pub stream: Option<String>,
    /// Dead-letter stream, on subjects `{prefix}.jobs.dead.{job_id}`;
    /// default `{PREFIX}_JOBS_DEAD`.
    #[arg(
        id = "jobs.dead_stream",
        long = "jobs-dead-stream",
        env = "RAGWIRE_JOBS_DEAD_STREAM"
    )]
    pub dead_stream: Option<String>,
    /// Key-value bucket of job status; default `{prefix}_jobs`.
    #[arg(id = "jobs.bucket", long = "jobs-bucket", env = "RAGWIRE_JOBS_BUCKET")]
    pub bucket: Option<String>,
    /// Copies the NATS cluster keeps of the job stream, the dead-letter
    /// stream and the status bucket: 1 on a single server, 3 on a cluster of
    /// three or more (a node may then fail without losing a job). Existing
    /// streams keep the count they were made with.
    #[arg(
        id = "jobs.replicas",
        long = "jobs-replicas",
        env = "RAGWIRE_JOBS_REPLICAS",
        default_value_t = 1,
        value_parser = parse::at_least_one::<usize>
    )]
    pub replicas: usize,
    /// Durable consumer shared by the workers.
    #[arg(id = "jobs.consumer", long = "jobs-consumer", env = "RAGWIRE_JOBS_CONSUMER",
          default_value = "ingest", value_parser = parse::token)]
    pub consumer: String,
    /// Deliveries of a job before it goes to the dead-letter stream.
    #[arg(id = "jobs.max_deliver", long = "jobs-max-deliver", env = "RAGWIRE_JOBS_MAX_DELIVER",
          default_value_t = 5, value_parser = parse::at_least_one::<u64>)]
    pub max_deliver: u64,
    /// Jobs delivered and not yet acknowledged, over all workers.
    #[arg(id = "jobs.max_ack_pending", long = "jobs-max-ack-pending",
          env = "RAGWIRE_JOBS_MAX_ACK_PENDING", default_value_t = 256,
          value_parser = parse::at_least_one::<i64>)]
    pub max_ack_pending: i64,
    /// Jobs one worker runs at once.
    #[arg(id = "jobs.concurrency", long = "jobs-concurrency", env = "RAGWIRE_JOBS_CONCURRENCY",
          default_value_t = 8, value_parser = parse::at_least_one::<usize>)]
    pub concurrency: usize,
    /// A job not acknowledged (or marked in progress) for this many
    /// milliseconds goes to another worker.
    #[arg(id = "jobs.ack_wait_ms", long = "jobs-ack-wait-ms", env = "RAGWIRE_JOBS_ACK_WAIT_MS",
          default_value = "30000", value_parser = parse::timeout)]
    pub ack_wait: Duration,
    /// First retry delay after a transient failure, in milliseconds;
    /// doubles each delivery.
    #[arg(
        id = "jobs.backoff_ms",
        long = "jobs-backoff-ms",
        env = "RAGWIRE_JOBS_BACKOFF_MS",
        default_value = "1000",
        value_parser = parse::duration_ms
    )]
    pub backoff: Duration,
    /// Longest retry delay, in milliseconds.
    #[arg(
        id = "jobs.max_backoff_ms",
        long = "jobs-max-backoff-ms",
        env = "RAGWIRE_JOBS_MAX_BACKOFF_MS",
        default_value = "60000",
        value_parser = parse::duration_ms
    )]
    pub max_backoff: Duration,
    /// Chunks embedded and written per step; progress is reported after
    /// each.
    #[arg(id = "jobs.batch", long = "jobs-batch", env = "RAGWIRE_JOBS_BATCH",
          default_value_t = 64, value_parser = parse::at_least_one::<usize>)]
    pub batch: usize,
    /// Bound of the work stream in bytes; submissions beyond it get 503.
    #[arg(id = "jobs.max_bytes", long = "jobs-max-bytes", env = "RAGWIRE_JOBS_MAX_BYTES",
          default_value_t = 1 << 30, value_parser = parse::at_least_one::<i64>)]
    pub max_bytes: i64,
    /// Window, in milliseconds, in which the server drops a resubmitted
    /// identical document.
    #[arg(
        id = "jobs.duplicate_window_ms",
        long = "jobs-duplicate-window-ms",
        env = "RAGWIRE_JOBS_DUPLICATE_WINDOW_MS",
        default_value = "120000",
        value_parser = parse::duration_ms
    )]
    pub duplicate_window: Duration,
}

ragwire_common::default_from_declarations!(JobsConfig);

impl JobsConfig {
    /// The streams, bucket and subjects of `prefix`, with this
    /// configuration's overrides.
    pub fn names(&self, prefix: &str) -> JobNames {
        let mut names = JobNames::new(prefix);
        if let Some(stream) = &self.stream {
            names.work_stream = stream.clone();
        }
        if let Some(stream) = &self.dead_stream {
            names.dead_stream = stream.clone();
        }
        if let Some(bucket) = &self.bucket {
            names.bucket = bucket.clone();
        }
        names
    }

    /// Delay before the next delivery after a transient failure on delivery
    /// `delivered`: doubling from the first backoff step, never sooner than
    /// the backend's hint, at most the longest step.
    pub(crate) fn retry_delay(&self, delivered: u64, hint: Option<Duration>) -> Duration {
        let attempt = u32::try_from(delivered.saturating_sub(1)).unwrap_or(u32::MAX);
        let max = self.max_backoff;
        let doubling = backoff(self.backoff, attempt, max);
        hint.map_or(doubling, |h| h.max(doubling)).min(max)
    }
}

/// The job streams, bucket and subjects of one prefix. Cheap to clone.
#[derive(Clone)]
pub struct Jobs {
    js: jetstream::Context,
    nats: async_nats::Client,
    status: kv::Store,
    pub(crate) config: JobsConfig,
    names: JobNames,
    /// The tenant whose jobs these are: the one jobs are queued for, and
    /// the only one whose statuses, dead letters and document register
    /// entries are seen.
    tenant: TenantId,
    /// The producers' tenant registry (`{prefix}_tenants`), read to know
    /// which tenants are deleted.
    tenants_bucket: String,
    /// Where the tenant's progress events go: `{prefix}.jobs.events` for
    /// `default`, `{prefix}.t.{tenant}.jobs.events` for another.
    events_prefix: String,
}

impl Jobs {
    /// The same jobs as `tenant` sees them.
    pub fn for_tenant(&self, tenant: &TenantId, prefix: &str) -> Jobs {
        Jobs {
            tenant: tenant.clone(),
            events_prefix: JobNames::new(&tenant.prefix(prefix)).events_prefix,
            ..self.clone()
        }
    }

    /// Whether a job of `owner` is this tenant's.
    fn owns(&self, owner: &TenantId) -> bool {
        *owner == self.tenant
    }

    /// The work stream's name.
    pub fn work_stream(&self) -> &str {
        &self.names.work_stream
    }
}

/// RFC 3339 time of now.
/// Writes `value` at `key` only while the key is at `revision` (`None`:
/// absent), a compare-and-swap: `Ok(false)` when another writer came first.
async fn swap(
    store: &kv::Store,
    key: &str,
    value: bytes::Bytes,
    revision: Option<u64>,
) -> Result<bool, String> {
    let written = match revision {
        None => store.create(key, value).await.map(|_| ()).map_err(|e| {
            (
                e.kind() == kv::CreateErrorKind::AlreadyExists,
                e.to_string(),
            )
        }),
        Some(revision) => store
            .update(key, value, revision)
            .await
            .map(|_| ())
            .map_err(|e| {
                (
                    e.kind() == kv::UpdateErrorKind::WrongLastRevision,
                    e.to_string(),
                )
            }),
    };
    match written {
        Ok(()) => Ok(true),
        Err((true, _)) => Ok(false),
        Err((false, e)) => Err(e),
    }
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}
