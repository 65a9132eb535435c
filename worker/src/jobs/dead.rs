//! Dead letters: jobs that failed for good, listed and queued again.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use futures::StreamExt;
use ragwire_schemas::jobs::{DeadJob, JobStatus};

use super::{internal, Jobs};
use crate::error::Error;
use crate::validate::check_job_id;

impl Jobs {
    /// Removes a job's entry from the dead-letter stream.
    pub(super) async fn forget_dead(&self, job_id: &str) {
        if let Ok(stream) = self.js.get_stream(&self.names.dead_stream).await {
            let subject = self.names.dead_subject(job_id);
            if let Err(e) = stream.purge().filter(subject).await {
                tracing::warn!(job = %job_id, error = %e, "requeued, but still listed as dead");
            }
        }
    }

    /// Puts a failed job in the dead-letter stream.
    pub(crate) async fn bury(&self, dead: &DeadJob) -> Result<(), Error> {
        let payload = Bytes::from(serde_json::to_vec(dead).map_err(internal)?);
        self.js
            .publish(self.names.dead_subject(&dead.item.job_id), payload)
            .await
            .map_err(|e| Error::jetstream("cannot write to the dead-letter stream", e))?
            .await
            .map_err(|e| Error::jetstream("the dead-letter stream did not take the job", e))?;
        Ok(())
    }

    /// Queues a job from the dead-letter stream again and removes it there.
    pub async fn replay(&self, job_id: &str) -> Result<JobStatus, Error> {
        check_job_id(job_id)?;
        let dead_stream = self
            .js
            .get_stream(&self.names.dead_stream)
            .await
            .map_err(|e| Error::jetstream("cannot open the dead-letter stream", e))?;
        let subject = self.names.dead_subject(job_id);
        let message = dead_stream
            .get_last_raw_message_by_subject(&subject)
            .await
            .map_err(|e| match e.kind() {
                stream::LastRawMessageErrorKind::NoMessageFound => {
                    Error::NotFound(format!("job `{job_id}` is not in the dead-letter stream"))
                }
                _ => Error::jetstream("cannot read the dead-letter stream", e),
            })?;
        let dead: DeadJob = serde_json::from_slice(&message.payload).map_err(internal)?;
        if !self.owns(&dead.item.tenant) {
            return Err(Error::NotFound(format!(
                "job `{job_id}` is not in the dead-letter stream"
            )));
        }
        self.enqueue(dead.item, true).await?;
        self.status(job_id).await
    }

    /// This tenant's jobs in the dead-letter stream, oldest first, at most
    /// `limit`.
    pub async fn dead(&self, limit: usize) -> Result<Vec<DeadJob>, Error> {
        let mut stream = self
            .js
            .get_stream(&self.names.dead_stream)
            .await
            .map_err(|e| Error::jetstream("cannot open the dead-letter stream", e))?;
        let state = stream
            .info()
            .await
            .map_err(|e| Error::jetstream("cannot read the dead-letter stream", e))?
            .state
            .clone();
        // Every letter is read (up to those there are), this tenant's kept.
        let mut unread = state.messages as usize;
        let mut dead = Vec::with_capacity(limit.min(unread));
        if limit == 0 || unread == 0 {
            return Ok(dead);
        }
        // An ordered consumer reads what is there, skipping the gaps that
        // replays and superseded failures leave.
        let consumer = stream
            .create_consumer(jetstream::consumer::pull::OrderedConfig::default())
            .await
            .map_err(|e| Error::jetstream("cannot read the dead-letter stream", e))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| Error::jetstream("cannot read the dead-letter stream", e))?;
        while dead.len() < limit && unread > 0 {
            match tokio::time::timeout(Duration::from_secs(2), messages.next()).await {
                Ok(Some(Ok(message))) => {
                    unread -= 1;
                    if let Ok(job) = serde_json::from_slice::<DeadJob>(&message.payload) {
                        if self.owns(&job.item.tenant) {
                            dead.push(job);
                        }
                    }
                }
                Ok(Some(Err(e))) => {
                    return Err(Error::jetstream("cannot read the dead-letter stream", e))
                }
                Ok(None) | Err(_) => break,
            }
        }
        Ok(dead)
    }
}

/// How far behind the ingest workers are.
#[derive(Debug, Clone, Copy)]
pub struct Lag {
    /// Jobs waiting for a worker (the consumer's pending messages).
    pub pending: u64,
    /// Jobs handed out and not yet acknowledged.
    pub ack_pending: usize,
    /// Jobs in the dead-letter stream.
    pub dead: u64,
}

impl Jobs {
    /// The ingest consumer's pending and unacknowledged jobs, and the dead
    /// letters. A consumer not made yet (no worker consumes) counts the
    /// work stream's messages as pending.
    pub async fn lag(&self) -> Result<Lag, Error> {
        let read = |e| Error::jetstream("cannot read the job streams", e);
        let mut work = self
            .js
            .get_stream(&self.names.work_stream)
            .await
            .map_err(|e| read(e.to_string()))?;
        let (pending, ack_pending) = match work
            .get_consumer::<async_nats::jetstream::consumer::pull::Config>(&self.config.consumer)
            .await
        {
            Ok(mut consumer) => {
                let info = consumer.info().await.map_err(|e| read(e.to_string()))?;
                (info.num_pending, info.num_ack_pending)
            }
            Err(_) => (
                work.info()
                    .await
                    .map_err(|e| read(e.to_string()))?
                    .state
                    .messages,
                0,
            ),
        };
        let mut dead = self
            .js
            .get_stream(&self.names.dead_stream)
            .await
            .map_err(|e| read(e.to_string()))?;
        let dead = dead
            .info()
            .await
            .map_err(|e| read(e.to_string()))?
            .state
            .messages;
        Ok(Lag {
            pending,
            ack_pending,
            dead,
        })
    }
}
