//! The JetStream names and subjects of ingest jobs under one prefix, shared
//! by the workers that set them up and the clients that follow them.

/// Streams, bucket and subjects of one prefix's ingest jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobNames {
    /// The work-queue stream, `{PREFIX}_JOBS` (dots and dashes as `_`).
    pub work_stream: String,
    /// The dead-letter stream, `{PREFIX}_JOBS_DEAD`.
    pub dead_stream: String,
    /// The key-value bucket of job status, `{prefix}_jobs`.
    pub bucket: String,
    /// The subject jobs are queued on, `{prefix}.jobs.work`.
    pub work_subject: String,
    /// Dead letters go to `{prefix}.jobs.dead.{job_id}`.
    pub dead_prefix: String,
    /// Progress events go to `{prefix}.jobs.events.{job_id}`.
    pub events_prefix: String,
}

impl JobNames {
    /// The default names under `prefix`.
    pub fn new(prefix: &str) -> JobNames {
        let upper = prefix.replace(['.', '-'], "_").to_uppercase();
        JobNames {
            work_stream: format!("{upper}_JOBS"),
            dead_stream: format!("{upper}_JOBS_DEAD"),
            bucket: format!("{}_jobs", prefix.replace('.', "_")),
            work_subject: format!("{prefix}.jobs.work"),
            dead_prefix: format!("{prefix}.jobs.dead"),
            events_prefix: format!("{prefix}.jobs.events"),
        }
    }

    /// The subject of one job's dead letter.
    pub fn dead_subject(&self, job_id: &str) -> String {
        format!("{}.{job_id}", self.dead_prefix)
    }

    /// The subject of one job's progress events; `>` for all jobs.
    pub fn events_subject(&self, job_id: &str) -> String {
        format!("{}.{job_id}", self.events_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_prefix() {
        let n = JobNames::new("svc.rag-x");
        assert_eq!(n.work_stream, "SVC_RAG_X_JOBS");
        assert_eq!(n.dead_stream, "SVC_RAG_X_JOBS_DEAD");
        assert_eq!(n.bucket, "svc_rag-x_jobs");
        assert_eq!(n.dead_subject("ab"), "svc.rag-x.jobs.dead.ab");
        assert_eq!(n.events_subject(">"), "svc.rag-x.jobs.events.>");
    }
}
