//! Job status in the key-value bucket, and progress events.

use std::time::{Duration, Instant};

use async_nats::jetstream::kv;
use bytes::Bytes;
use ragwire_schemas::jobs::{JobEvent, JobStatus};

use super::{internal, Jobs};
use crate::error::Error;
use crate::retry::backoff;
use crate::validate::check_job_id;

/// How long a status write is tried again before it is given up.
pub(crate) const STATUS_WRITE_PATIENCE: Duration = Duration::from_secs(120);

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

    /// A job's status; 404 for an unknown id, and for another tenant's.
    pub async fn status(&self, job_id: &str) -> Result<JobStatus, Error> {
        check_job_id(job_id)?;
        self.entry(job_id)
            .await?
            .map(|(s, _)| s)
            .filter(|s| self.owns(&s.tenant))
            .ok_or_else(|| Error::NotFound(format!("no job `{job_id}`")))
    }

    /// Writes a job's status (last writer wins: one worker runs a job). A
    /// write that fails (NATS down, a JetStream leader moving) is tried again
    /// with growing pauses for up to [`STATUS_WRITE_PATIENCE`]: the job waits
    /// meanwhile, rather than its status going stale.
    pub(crate) async fn put_status(&self, status: &JobStatus) {
        let value = match serde_json::to_vec(status) {
            Ok(v) => Bytes::from(v),
            Err(e) => {
                tracing::error!(job = %status.job_id, error = %e, "cannot encode the job status");
                return;
            }
        };
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            let e = match self.status.put(&status.job_id, value.clone()).await {
                Ok(_) => {
                    if attempt > 0 {
                        tracing::info!(job = %status.job_id, attempt, "job status written after a retry");
                    }
                    return;
                }
                Err(e) => e,
            };
            if started.elapsed() >= STATUS_WRITE_PATIENCE {
                tracing::error!(job = %status.job_id, error = %e, "gave up writing the job status");
                return;
            }
            tracing::warn!(job = %status.job_id, error = %e, attempt, "cannot write the job status; trying again");
            tokio::time::sleep(backoff(
                Duration::from_millis(100),
                attempt,
                Duration::from_secs(5),
            ))
            .await;
            attempt += 1;
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
}
