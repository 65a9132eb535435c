//! The subjects ragwire serves, under a configurable prefix (default `rag`).

/// One kind of request. Each has a NATS subject `{prefix}.{suffix}` and an HTTP
/// route on the producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    Chat,
    Embed,
    Rerank,
    Index,
    Search,
    Retrieve,
    GraphExtract,
    GraphUpsert,
    GraphQuery,
    GraphProbe,
    JobsSubmit,
    JobsStatus,
    JobsReplay,
    JobsDead,
}

impl Subject {
    /// Every subject, in the order the worker registers them.
    pub const ALL: [Subject; 14] = [
        Subject::Chat,
        Subject::Embed,
        Subject::Rerank,
        Subject::Index,
        Subject::Search,
        Subject::Retrieve,
        Subject::GraphExtract,
        Subject::GraphUpsert,
        Subject::GraphQuery,
        Subject::GraphProbe,
        Subject::JobsSubmit,
        Subject::JobsStatus,
        Subject::JobsReplay,
        Subject::JobsDead,
    ];

    /// The subject below the prefix, e.g. `graph.extract`.
    pub fn suffix(self) -> &'static str {
        match self {
            Subject::Chat => "chat",
            Subject::Embed => "embed",
            Subject::Rerank => "rerank",
            Subject::Index => "index",
            Subject::Search => "search",
            Subject::Retrieve => "retrieve",
            Subject::GraphExtract => "graph.extract",
            Subject::GraphUpsert => "graph.upsert",
            Subject::GraphQuery => "graph.query",
            Subject::GraphProbe => "graph.probe",
            Subject::JobsSubmit => "jobs.submit",
            Subject::JobsStatus => "jobs.status",
            Subject::JobsReplay => "jobs.replay",
            Subject::JobsDead => "jobs.dead",
        }
    }

    /// The NATS micro-service endpoint name (no dots allowed there).
    pub fn endpoint_name(self) -> &'static str {
        match self {
            Subject::GraphExtract => "graph_extract",
            Subject::GraphUpsert => "graph_upsert",
            Subject::GraphQuery => "graph_query",
            Subject::GraphProbe => "graph_probe",
            Subject::JobsSubmit => "jobs_submit",
            Subject::JobsStatus => "jobs_status",
            Subject::JobsReplay => "jobs_replay",
            Subject::JobsDead => "jobs_dead",
            other => other.suffix(),
        }
    }

    /// The producer's HTTP route (POST) for this subject.
    pub fn http_path(self) -> &'static str {
        match self {
            Subject::Chat => "/chat",
            Subject::Embed => "/embed",
            Subject::Rerank => "/rerank",
            Subject::Index => "/index/chunks",
            Subject::Search => "/search",
            Subject::Retrieve => "/retrieve",
            Subject::GraphExtract => "/graph/extract",
            Subject::GraphUpsert => "/graph/upsert",
            Subject::GraphQuery => "/graph/query",
            Subject::GraphProbe => "/graph/probe",
            Subject::JobsSubmit => "/ingest",
            Subject::JobsStatus => "/jobs/status",
            Subject::JobsReplay => "/jobs/replay",
            Subject::JobsDead => "/jobs/dead",
        }
    }

    /// The full NATS subject under `prefix`.
    pub fn subject(self, prefix: &str) -> String {
        format!("{prefix}.{}", self.suffix())
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.suffix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_nats_safe() {
        let mut names: Vec<_> = Subject::ALL.iter().map(|s| s.endpoint_name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Subject::ALL.len());
        assert!(names
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')));
        assert_eq!(Subject::GraphProbe.subject("rag"), "rag.graph.probe");
    }
}
