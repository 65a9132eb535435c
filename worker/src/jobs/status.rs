//! Job status in the key-value bucket, and progress events.

use async_nats::jetstream::kv;
use bytes::Bytes;
use ragwire_schemas::jobs::{JobEvent, JobStatus};

use super::{internal, Jobs};
use crate::error::Error;
use crate::validate::check_job_id;

impl Jobs {
    /// The status of a job, and its revision.
    pub(super) async fn entry(&self, job_id: &str) -> Result<Option<(JobStatus, u64)>, Error> {
        let entry = self
            .status
            .entry(job_id)
            .await
            .map_err(|e| Error::jetstream("cannot read the job status", e))?;
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
            let subject = self.names.events_subject(&event.job_id);
            if let Err(e) = self.nats.publish(subject, payload.into()).await {
                tracing::warn!(job = %event.job_id, error = %e, "cannot publish a job event");
            }
        }
    }
}
