//! Submission: one job per document, de-duplicated by a content-derived id.

use bytes::Bytes;
use ragwire_schemas::jobs::{
    Chunking, JobDocument, JobState, JobStatus, SubmitReply, SubmitRequest, SubmittedJob, WorkItem,
};
use ragwire_schemas::TenantId;
use sha2::{Digest, Sha256};

use super::{internal, now, Jobs};
use crate::error::Error;
use crate::validate::{check_collection, check_document};
use crate::vectors::new_generation;

/// Most documents in one submission.
pub const MAX_DOCUMENTS: usize = 1000;

impl Jobs {
    /// Queues one job per document. A document already queued, running or
    /// done (same collection, id and content) is reported as a duplicate and
    /// queued no second time; one that failed, or whose document was
    /// deleted or written anew since it was done, is queued again.
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
                job_id: job_id(
                    &self.tenant,
                    &req.collection,
                    &document,
                    req.extract_graph,
                    chunking,
                ),
                collection: req.collection.clone(),
                document,
                extract_graph: req.extract_graph,
                chunking,
                generation: new_generation(),
                tenant: self.tenant.clone(),
                purge: None,
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
    pub(super) async fn enqueue(&self, item: WorkItem, replay: bool) -> Result<bool, Error> {
        let existing = self.entry(&item.job_id).await?;
        let replays = match &existing {
            Some((status, _)) if replay && status.state != JobState::Failed => {
                return Err(Error::Conflict(format!(
                    "job `{}` is {:?}, not failed: only failed jobs are replayed",
                    item.job_id, status.state
                )))
            }
            Some((status, _))
                if status.state == JobState::Failed
                    || self.stale(status)
                    || (!replay && self.overtaken(status).await?) =>
            {
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
            generation: item.generation,
            superseded: false,
            tenant: item.tenant.clone(),
            created_at: existing
                .as_ref()
                .map_or(stamp.clone(), |(s, _)| s.created_at.clone()),
            updated_at: stamp,
        };
        let value = Bytes::from(serde_json::to_vec(&status).map_err(internal)?);
        // Create-if-absent (or update at the revision read) makes two
        // identical submissions racing each other queue one job.
        let revision = existing.as_ref().map(|(_, revision)| *revision);
        let written = super::swap(&self.status, &item.job_id, value, revision).await;
        match written {
            Ok(true) => {}
            Ok(false) => return Ok(true),
            Err(e) => return Err(Error::jetstream("cannot write the job status", e)),
        }
        let mut headers = async_nats::HeaderMap::new();
        let msg_id = if replays == 0 {
            item.job_id.clone()
        } else {
            format!("{}-r{replays}", item.job_id)
        };
        headers.insert("Nats-Msg-Id", msg_id.as_str());
        // The job's processing, redeliveries included, joins the trace of
        // its submission.
        ragwire_client::trace::inject(&mut headers);
        let payload = Bytes::from(serde_json::to_vec(&item).map_err(internal)?);
        let published = match self
            .js
            .publish_with_headers(self.names.work_subject.clone(), headers, payload)
            .await
        {
            Ok(ack) => ack
                .await
                .map_err(|e| Error::jetstream("the job stream did not take the job (full?)", e)),
            Err(e) => Err(Error::jetstream("cannot queue the job", e)),
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

    /// A done job whose document was deleted, or written by another
    /// version, after it: submitting the same content again is new work.
    async fn overtaken(&self, status: &JobStatus) -> Result<bool, Error> {
        if status.state != JobState::Done {
            return Ok(false);
        }
        let newest = self.newest(&status.collection, &status.doc_id).await?;
        Ok(newest > status.generation)
    }

    /// A running job whose status has not moved for longer than all its
    /// deliveries can take: its worker died before it could say so. (A
    /// queued job may wait long behind others; it is never stale.)
    fn stale(&self, status: &JobStatus) -> bool {
        if status.state != JobState::Running {
            return false;
        }
        let deliveries = u32::try_from(self.config.max_deliver + 1).unwrap_or(u32::MAX);
        let limit = self.config.ack_wait.saturating_mul(deliveries) + self.config.max_backoff;
        chrono::DateTime::parse_from_rfc3339(&status.updated_at)
            .ok()
            .and_then(|t| {
                (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                    .to_std()
                    .ok()
            })
            .is_some_and(|age| age > limit)
    }
}

/// The job id: a hash of the tenant (but `default`), the collection, the
/// document id and everything that decides the job's result, so an
/// identical submission has the same id (and `Nats-Msg-Id`), and two
/// tenants' never do.
fn job_id(
    tenant: &TenantId,
    collection: &str,
    doc: &JobDocument,
    extract_graph: bool,
    chunking: Chunking,
) -> String {
    let content = serde_json::to_vec(&(doc, extract_graph, chunking)).unwrap_or_default();
    let mut hash = Sha256::new();
    if !tenant.is_default() {
        hash.update(b"tenant:");
        hash.update(tenant.as_str().as_bytes());
        hash.update([0]);
    }
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
