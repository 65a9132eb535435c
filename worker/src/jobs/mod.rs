//! Durable ingest jobs on JetStream.
//!
//! - A work-queue stream (`{prefix}.jobs.work`) holds one message per job,
//!   published with a `Nats-Msg-Id` derived from the content, so the server
//!   drops an identical resubmission; the status bucket catches it after
//!   the server's duplicate window.
//! - [`consume`]: every worker pulls from one durable consumer, so adding
//!   workers adds throughput; a job is acknowledged only after all its
//!   writes, retried with growing delays on transient failures, and sent to
//!   the dead-letter stream (`{prefix}.jobs.dead.{job_id}`) when it fails
//!   for good.
//! - A key-value bucket keeps each job's [`JobStatus`]; progress events go
//!   to `{prefix}.jobs.events.{job_id}`.

pub mod consume;

use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use bytes::Bytes;
use futures::StreamExt;
use ragwire_schemas::jobs::{
    Chunking, DeadJob, JobDocument, JobEvent, JobState, JobStatus, SubmitReply, SubmitRequest,
    SubmittedJob, WorkItem,
};
use sha2::{Digest, Sha256};

use crate::config::{ms, Config, JobsConfig};
use crate::error::Error;
use crate::handlers::check_text;
use crate::vectors::check_collection;

/// Most documents in one submission.
pub const MAX_DOCUMENTS: usize = 1000;

/// How long a job's status is kept.
const STATUS_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

/// The job streams, bucket and subjects of one prefix. Cheap to clone.
#[derive(Clone)]
pub struct Jobs {
    js: jetstream::Context,
    nats: async_nats::Client,
    status: kv::Store,
    pub(crate) config: JobsConfig,
    work_subject: String,
    dead_prefix: String,
    events_prefix: String,
    work_stream: String,
    dead_stream: String,
}

fn nats_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Unavailable {
        backend: "JetStream".into(),
        message: format!("{what}: {e}"),
    }
}

/// RFC 3339 time of now.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Jobs {
    /// Creates the streams and the bucket when missing.
    pub async fn setup(nats: &async_nats::Client, config: &Config) -> Result<Jobs, Error> {
        let js = jetstream::new(nats.clone());
        let upper = config.prefix.replace(['.', '-'], "_").to_uppercase();
        let jobs = &config.jobs;
        let work_stream = jobs.stream.clone().unwrap_or(format!("{upper}_JOBS"));
        let dead_stream = jobs
            .dead_stream
            .clone()
            .unwrap_or(format!("{upper}_JOBS_DEAD"));
        let bucket = jobs
            .bucket
            .clone()
            .unwrap_or(format!("{}_jobs", config.prefix.replace('.', "_")));
        let p = &config.prefix;
        let work_subject = format!("{p}.jobs.work");
        let dead_prefix = format!("{p}.jobs.dead");
        js.get_or_create_stream(stream::Config {
            name: work_stream.clone(),
            subjects: vec![work_subject.clone()],
            retention: stream::RetentionPolicy::WorkQueue,
            discard: stream::DiscardPolicy::New,
            max_bytes: jobs.max_bytes,
            duplicate_window: ms(jobs.duplicate_window_ms),
            ..Default::default()
        })
        .await
        .map_err(|e| Error::Nats(format!("cannot create the job stream {work_stream}: {e}")))?;
        js.get_or_create_stream(stream::Config {
            name: dead_stream.clone(),
            subjects: vec![format!("{dead_prefix}.>")],
            // The latest failure of each job, up to a bound.
            max_messages_per_subject: 1,
            max_messages: 100_000,
            discard: stream::DiscardPolicy::Old,
            ..Default::default()
        })
        .await
        .map_err(|e| {
            Error::Nats(format!(
                "cannot create the dead-letter stream {dead_stream}: {e}"
            ))
        })?;
        // The bucket's stream is made here, as a key-value bucket's is:
        // `create_key_value` first asks for account details in a shape that
        // NATS servers before 2.10 do not answer with.
        js.get_or_create_stream(stream::Config {
            name: format!("KV_{bucket}"),
            description: Some("ragwire ingest job status".into()),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            max_bytes: 256 << 20,
            // Statuses expire after a month, and the oldest go first when
            // the bucket is full: a forgotten job can be submitted anew.
            max_age: STATUS_MAX_AGE,
            discard: stream::DiscardPolicy::Old,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            ..Default::default()
        })
        .await
        .map_err(|e| Error::Nats(format!("cannot create the job bucket {bucket}: {e}")))?;
        let status = js
            .get_key_value(&bucket)
            .await
            .map_err(|e| Error::Nats(format!("cannot open the job bucket {bucket}: {e}")))?;
        Ok(Jobs {
            js,
            nats: nats.clone(),
            status,
            config: jobs.clone(),
            work_subject,
            dead_prefix,
            events_prefix: format!("{p}.jobs.events"),
            work_stream,
            dead_stream,
        })
    }

    /// Queues one job per document. A document already queued, running or
    /// done (same collection, id and content) is reported as a duplicate and
    /// queued no second time; one that failed is queued again.
    pub async fn submit(&self, req: SubmitRequest, max_texts: usize) -> Result<SubmitReply, Error> {
        check_collection(&req.collection)?;
        if req.documents.is_empty() || req.documents.len() > MAX_DOCUMENTS {
            return Err(Error::bad_request(format!(
                "`documents` must hold 1 to {MAX_DOCUMENTS} documents"
            )));
        }
        let chunking = req.chunking.unwrap_or_default();
        if chunking.size < 50 || chunking.size > 100_000 || chunking.overlap >= chunking.size / 2 {
            return Err(Error::bad_request(
                "`chunking.size` must be 50 to 100000 and `chunking.overlap` under half of it",
            ));
        }
        for (i, doc) in req.documents.iter().enumerate() {
            check_document(i, doc, max_texts)?;
        }
        let mut jobs = Vec::with_capacity(req.documents.len());
        for document in req.documents {
            let doc_id = document.doc_id.clone();
            let item = WorkItem {
                job_id: job_id(&req.collection, &document, req.extract_graph, chunking),
                collection: req.collection.clone(),
                document,
                extract_graph: req.extract_graph,
                chunking,
            };
            let duplicate = self.enqueue(item.clone(), false).await?;
            jobs.push(SubmittedJob {
                job_id: item.job_id,
                doc_id,
                duplicate,
            });
        }
        Ok(SubmitReply { jobs })
    }

    /// Writes the queued status and publishes the item. Returns whether it
    /// was a duplicate. `replay` queues a failed job again.
    async fn enqueue(&self, item: WorkItem, replay: bool) -> Result<bool, Error> {
        let existing = self.entry(&item.job_id).await?;
        let replays = match &existing {
            Some((status, _)) if replay && status.state != JobState::Failed => {
                return Err(Error::Conflict(format!(
                    "job `{}` is {:?}, not failed: only failed jobs are replayed",
                    item.job_id, status.state
                )))
            }
            Some((status, _)) if status.state == JobState::Failed || self.stale(status) => {
                status.replays + 1
            }
            Some(_) => return Ok(true),
            None => 0,
        };
        let stamp = now();
        let status = JobStatus {
            job_id: item.job_id.clone(),
            doc_id: item.document.doc_id.clone(),
            collection: item.collection.clone(),
            state: JobState::Queued,
            chunks_total: 0,
            chunks_done: 0,
            attempts: 0,
            last_error: None,
            graph: None,
            replays,
            created_at: existing
                .as_ref()
                .map_or(stamp.clone(), |(s, _)| s.created_at.clone()),
            updated_at: stamp,
        };
        let value = Bytes::from(serde_json::to_vec(&status).map_err(internal)?);
        // Create-if-absent (or update at the revision read) makes two
        // identical submissions racing each other queue one job.
        let written = match &existing {
            None => self
                .status
                .create(&item.job_id, value)
                .await
                .map(|_| ())
                .map_err(|e| {
                    (
                        e.kind() == kv::CreateErrorKind::AlreadyExists,
                        e.to_string(),
                    )
                }),
            Some((_, revision)) => self
                .status
                .update(&item.job_id, value, *revision)
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
            Ok(()) => {}
            Err((true, _)) => return Ok(true),
            Err((false, e)) => return Err(nats_error("cannot write the job status", e)),
        }
        let mut headers = async_nats::HeaderMap::new();
        let msg_id = if replays == 0 {
            item.job_id.clone()
        } else {
            format!("{}-r{replays}", item.job_id)
        };
        headers.insert("Nats-Msg-Id", msg_id.as_str());
        let payload = Bytes::from(serde_json::to_vec(&item).map_err(internal)?);
        let published = match self
            .js
            .publish_with_headers(self.work_subject.clone(), headers, payload)
            .await
        {
            Ok(ack) => ack
                .await
                .map_err(|e| nats_error("the job stream did not take the job (full?)", e)),
            Err(e) => Err(nats_error("cannot queue the job", e)),
        };
        match published {
            Ok(ack) => {
                // Queued again: the dead letter, if any, is history.
                if replays > 0 {
                    self.forget_dead(&item.job_id).await;
                }
                Ok(ack.duplicate)
            }
            Err(e) => {
                // Not queued: say so, so that submitting again retries.
                let mut failed = status;
                failed.state = JobState::Failed;
                failed.last_error = Some(e.to_string());
                failed.updated_at = now();
                self.put_status(&failed).await;
                Err(e)
            }
        }
    }

    /// A running job whose status has not moved for longer than all its
    /// deliveries can take: its worker died before it could say so. (A
    /// queued job may wait long behind others; it is never stale.)
    fn stale(&self, status: &JobStatus) -> bool {
        if status.state != JobState::Running {
            return false;
        }
        let deliveries = u32::try_from(self.config.max_deliver + 1).unwrap_or(u32::MAX);
        let limit =
            ms(self.config.ack_wait_ms).saturating_mul(deliveries) + ms(self.config.max_backoff_ms);
        chrono::DateTime::parse_from_rfc3339(&status.updated_at)
            .ok()
            .and_then(|t| {
                (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                    .to_std()
                    .ok()
            })
            .is_some_and(|age| age > limit)
    }

    /// Removes a job's entry from the dead-letter stream.
    async fn forget_dead(&self, job_id: &str) {
        if let Ok(stream) = self.js.get_stream(&self.dead_stream).await {
            let subject = format!("{}.{job_id}", self.dead_prefix);
            if let Err(e) = stream.purge().filter(subject).await {
                tracing::warn!(job = %job_id, error = %e, "requeued, but still listed as dead");
            }
        }
    }

    /// The status of a job, and its revision.
    async fn entry(&self, job_id: &str) -> Result<Option<(JobStatus, u64)>, Error> {
        let entry = self
            .status
            .entry(job_id)
            .await
            .map_err(|e| nats_error("cannot read the job status", e))?;
        match entry {
            Some(e) if e.operation == kv::Operation::Put => {
                let status = serde_json::from_slice(&e.value).map_err(internal)?;
                Ok(Some((status, e.revision)))
            }
            _ => Ok(None),
        }
    }

    /// A job's status; 404 for an unknown id.
    pub async fn status(&self, job_id: &str) -> Result<JobStatus, Error> {
        check_job_id(job_id)?;
        self.entry(job_id)
            .await?
            .map(|(s, _)| s)
            .ok_or_else(|| Error::NotFound(format!("no job `{job_id}`")))
    }

    /// Writes a job's status (last writer wins: one worker runs a job).
    pub(crate) async fn put_status(&self, status: &JobStatus) {
        let value = match serde_json::to_vec(status) {
            Ok(v) => Bytes::from(v),
            Err(_) => return,
        };
        if let Err(e) = self.status.put(&status.job_id, value).await {
            tracing::warn!(job = %status.job_id, error = %e, "cannot write the job status");
        }
    }

    /// Publishes a progress event.
    pub(crate) async fn event(&self, event: &JobEvent) {
        if let Ok(payload) = serde_json::to_vec(event) {
            let subject = format!("{}.{}", self.events_prefix, event.job_id);
            if let Err(e) = self.nats.publish(subject, payload.into()).await {
                tracing::warn!(job = %event.job_id, error = %e, "cannot publish a job event");
            }
        }
    }

    /// Puts a failed job in the dead-letter stream.
    pub(crate) async fn bury(&self, dead: &DeadJob) -> Result<(), Error> {
        let payload = Bytes::from(serde_json::to_vec(dead).map_err(internal)?);
        self.js
            .publish(
                format!("{}.{}", self.dead_prefix, dead.item.job_id),
                payload,
            )
            .await
            .map_err(|e| nats_error("cannot write to the dead-letter stream", e))?
            .await
            .map_err(|e| nats_error("the dead-letter stream did not take the job", e))?;
        Ok(())
    }

    /// Queues a job from the dead-letter stream again and removes it there.
    pub async fn replay(&self, job_id: &str) -> Result<JobStatus, Error> {
        check_job_id(job_id)?;
        let dead_stream = self
            .js
            .get_stream(&self.dead_stream)
            .await
            .map_err(|e| nats_error("cannot open the dead-letter stream", e))?;
        let subject = format!("{}.{job_id}", self.dead_prefix);
        let message = dead_stream
            .get_last_raw_message_by_subject(&subject)
            .await
            .map_err(|e| match e.kind() {
                stream::LastRawMessageErrorKind::NoMessageFound => {
                    Error::NotFound(format!("job `{job_id}` is not in the dead-letter stream"))
                }
                _ => nats_error("cannot read the dead-letter stream", e),
            })?;
        let dead: DeadJob = serde_json::from_slice(&message.payload).map_err(internal)?;
        self.enqueue(dead.item, true).await?;
        self.status(job_id).await
    }

    /// The dead-letter stream's jobs, oldest first, at most `limit`.
    pub async fn dead(&self, limit: usize) -> Result<Vec<DeadJob>, Error> {
        let mut stream = self
            .js
            .get_stream(&self.dead_stream)
            .await
            .map_err(|e| nats_error("cannot open the dead-letter stream", e))?;
        let state = stream
            .info()
            .await
            .map_err(|e| nats_error("cannot read the dead-letter stream", e))?
            .state
            .clone();
        let wanted = limit.min(state.messages as usize);
        let mut dead = Vec::with_capacity(wanted);
        if wanted == 0 {
            return Ok(dead);
        }
        // An ordered consumer reads what is there, skipping the gaps that
        // replays and superseded failures leave.
        let consumer = stream
            .create_consumer(jetstream::consumer::pull::OrderedConfig::default())
            .await
            .map_err(|e| nats_error("cannot read the dead-letter stream", e))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| nats_error("cannot read the dead-letter stream", e))?;
        while dead.len() < wanted {
            match tokio::time::timeout(Duration::from_secs(2), messages.next()).await {
                Ok(Some(Ok(message))) => {
                    if let Ok(job) = serde_json::from_slice(&message.payload) {
                        dead.push(job);
                    }
                }
                Ok(Some(Err(e))) => {
                    return Err(nats_error("cannot read the dead-letter stream", e))
                }
                Ok(None) | Err(_) => break,
            }
        }
        Ok(dead)
    }

    /// The work stream's name.
    pub fn work_stream(&self) -> &str {
        &self.work_stream
    }
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

fn check_job_id(job_id: &str) -> Result<(), Error> {
    if job_id.is_empty() || job_id.len() > 64 || !job_id.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(Error::bad_request(format!(
            "`job_id` `{job_id}` is not a job id"
        )));
    }
    Ok(())
}

fn check_document(i: usize, doc: &JobDocument, max_texts: usize) -> Result<(), Error> {
    check_text(format_args!("documents[{i}].doc_id"), &doc.doc_id)?;
    match (&doc.text, &doc.chunks) {
        (Some(text), None) => check_text(format_args!("documents[{i}].text"), text),
        (None, Some(chunks)) => {
            if chunks.is_empty() || chunks.len() > max_texts {
                return Err(Error::bad_request(format!(
                    "`documents[{i}].chunks` must hold 1 to {max_texts} chunks"
                )));
            }
            for (j, chunk) in chunks.iter().enumerate() {
                check_text(format_args!("documents[{i}].chunks[{j}].text"), &chunk.text)?;
            }
            Ok(())
        }
        _ => Err(Error::bad_request(format!(
            "`documents[{i}]` needs `text` or `chunks`, one of them"
        ))),
    }
}

/// The job id: a hash of the collection, the document id and everything
/// that decides the job's result, so an identical submission has the same
/// id (and `Nats-Msg-Id`).
fn job_id(collection: &str, doc: &JobDocument, extract_graph: bool, chunking: Chunking) -> String {
    let content = serde_json::to_vec(&(doc, extract_graph, chunking)).unwrap_or_default();
    let mut hash = Sha256::new();
    hash.update(collection.as_bytes());
    hash.update([0]);
    hash.update(doc.doc_id.as_bytes());
    hash.update([0]);
    hash.update(&content);
    hash.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Delay before the next delivery after a transient failure on delivery
/// `delivered`: the backend's hint, else doubling from `backoff`.
pub(crate) fn retry_delay(config: &JobsConfig, delivered: u64, hint: Option<Duration>) -> Duration {
    let doubling = ms(config.backoff_ms).saturating_mul(1 << delivered.saturating_sub(1).min(16));
    // A backend's `Retry-After` is honoured: never sooner than it asks.
    hint.map_or(doubling, |h| h.max(doubling))
        .min(ms(config.max_backoff_ms))
}
