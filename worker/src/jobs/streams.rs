//! The job streams and the status bucket, created when missing.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

use super::{Jobs, JobsConfig};
use crate::error::Error;
use ragwire_schemas::TenantId;

/// How long a job's status is kept.
const STATUS_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

impl Jobs {
    /// Creates the streams and the bucket of `prefix` when missing.
    pub async fn setup(
        nats: &async_nats::Client,
        prefix: &str,
        jobs: &JobsConfig,
    ) -> Result<Jobs, Error> {
        let js = jetstream::new(nats.clone());
        let names = jobs.names(prefix);
        let (work_stream, dead_stream, bucket) =
            (&names.work_stream, &names.dead_stream, &names.bucket);
        let streams = [
            (
                "job stream",
                stream::Config {
                    name: work_stream.clone(),
                    subjects: vec![names.work_subject.clone()],
                    retention: stream::RetentionPolicy::WorkQueue,
                    discard: stream::DiscardPolicy::New,
                    max_bytes: jobs.max_bytes,
                    duplicate_window: jobs.duplicate_window,
                    ..Default::default()
                },
            ),
            (
                "dead-letter stream",
                stream::Config {
                    name: dead_stream.clone(),
                    subjects: vec![names.dead_subject(">")],
                    // The latest failure of each job, up to a bound.
                    max_messages_per_subject: 1,
                    max_messages: 100_000,
                    discard: stream::DiscardPolicy::Old,
                    ..Default::default()
                },
            ),
            // The bucket's stream is made here, as a key-value bucket's is:
            // `create_key_value` first asks for account details in a shape
            // that NATS servers before 2.10 do not answer with.
            (
                "job bucket",
                stream::Config {
                    name: format!("KV_{bucket}"),
                    description: Some("ragwire ingest job status".into()),
                    subjects: vec![format!("$KV.{bucket}.>")],
                    max_messages_per_subject: 1,
                    max_bytes: 256 << 20,
                    // Statuses expire after a month, and the oldest go first
                    // when the bucket is full: a forgotten job can be
                    // submitted anew.
                    max_age: STATUS_MAX_AGE,
                    discard: stream::DiscardPolicy::Old,
                    allow_rollup: true,
                    deny_delete: true,
                    allow_direct: true,
                    ..Default::default()
                },
            ),
        ];
        for (what, config) in streams {
            let name = config.name.clone();
            let config = stream::Config {
                num_replicas: jobs.replicas,
                ..config
            };
            let stream = js
                .get_or_create_stream(config)
                .await
                .map_err(|e| Error::Nats(format!("cannot create the {what} {name}: {e}")))?;
            let replicas = stream.cached_info().config.num_replicas;
            if replicas != jobs.replicas {
                tracing::warn!(
                    stream = %name,
                    replicas,
                    wanted = jobs.replicas,
                    "the {what} exists with another replica count than RAGWIRE_JOBS_REPLICAS; \
                     change it with `nats stream edit {name} --replicas {}`",
                    jobs.replicas
                );
            }
        }
        let status = js
            .get_key_value(bucket.as_str())
            .await
            .map_err(|e| Error::Nats(format!("cannot open the job bucket {bucket}: {e}")))?;
        Ok(Jobs {
            js,
            nats: nats.clone(),
            status,
            config: jobs.clone(),
            tenant: TenantId::default(),
            tenants_bucket: format!("{}_tenants", prefix.replace('.', "_")),
            events_prefix: names.events_prefix.clone(),
            names,
        })
    }
}
