//! The subjects ragwire serves, under a configurable prefix (default `rag`),
//! generated from one table: [`for_each_subject!`](crate::for_each_subject).

/// The table of subjects, one line each: the [`Subject`] variant, the
/// endpoint name (also the name of the worker's handler module), the subject
/// below the prefix, the producer's HTTP route (POST), and the request and
/// reply types. Calls `$callback!` with the table, so that other crates
/// (the worker's dispatch) are generated from it too and a subject cannot
/// be half added: a line without its handler does not compile.
#[macro_export]
macro_rules! for_each_subject {
    ($callback:ident) => {
        $callback! {
            /// One chat completion down the LLM provider chain.
            Chat chat "chat" "/chat" $crate::chat::ChatRequest => $crate::chat::ChatReply;
            /// Embeddings of texts, micro-batched.
            Embed embed "embed" "/embed" $crate::embed::EmbedRequest => $crate::embed::EmbedReply;
            /// Documents reordered by a reranker.
            Rerank rerank "rerank" "/rerank" $crate::rerank::RerankRequest => $crate::rerank::RerankReply;
            /// Chunks embedded and written to a vector collection.
            Index index "index" "/index/chunks" $crate::index::IndexRequest => $crate::index::IndexReply;
            /// The nearest chunks to a query.
            Search search "search" "/search" $crate::search::SearchRequest => $crate::search::SearchReply;
            /// Vector hits and the knowledge graph's neighbourhood of a query.
            Retrieve retrieve "retrieve" "/retrieve" $crate::retrieve::RetrieveRequest => $crate::retrieve::RetrieveReply;
            /// The vector collections, with their size and layout.
            CollectionsList collections_list "collections.list" "/collections/list" $crate::collections::ListRequest => $crate::collections::ListReply;
            /// One vector collection.
            CollectionsShow collections_show "collections.show" "/collections/show" $crate::collections::CollectionRef => $crate::collections::ShowReply;
            /// A vector collection dropped, with its points.
            CollectionsDrop collections_drop "collections.drop" "/collections/drop" $crate::collections::CollectionRef => $crate::collections::DeleteReply;
            /// Every chunk of a document deleted from a collection.
            DocsDelete docs_delete "docs.delete" "/docs/delete" $crate::collections::DocRef => $crate::collections::DeleteReply;
            /// The chunks of a collection that match a filter, deleted.
            PointsDelete points_delete "points.delete" "/points/delete" $crate::collections::FilterDelete => $crate::collections::DeleteReply;
            /// A knowledge graph extracted from a text.
            GraphExtract graph_extract "graph.extract" "/graph/extract" $crate::graph::ExtractRequest => $crate::graph::ExtractReply;
            /// Nodes and edges merged into the graph store.
            GraphUpsert graph_upsert "graph.upsert" "/graph/upsert" $crate::graph::UpsertRequest => $crate::graph::UpsertReply;
            /// A document's contribution to the graph deleted, or the whole graph.
            GraphDelete graph_delete "graph.delete" "/graph/delete" $crate::graph::DeleteRequest => $crate::graph::DeleteReply;
            /// Read-only Cypher on a Bolt graph store.
            GraphQuery graph_query "graph.query" "/graph/query" $crate::graph::QueryRequest => $crate::graph::QueryReply;
            /// Whether a model answers with JSON.
            GraphProbe graph_probe "graph.probe" "/graph/probe" $crate::graph::ProbeRequest => $crate::graph::ProbeReply;
            /// Documents queued as durable ingest jobs.
            JobsSubmit jobs_submit "jobs.submit" "/ingest" $crate::jobs::SubmitRequest => $crate::jobs::SubmitReply;
            /// The status of an ingest job.
            JobsStatus jobs_status "jobs.status" "/jobs/status" $crate::jobs::JobRef => $crate::jobs::StatusReply;
            /// A dead-lettered job queued again.
            JobsReplay jobs_replay "jobs.replay" "/jobs/replay" $crate::jobs::JobRef => $crate::jobs::StatusReply;
            /// The jobs in the dead-letter stream.
            JobsDead jobs_dead "jobs.dead" "/jobs/dead" $crate::jobs::DeadRequest => $crate::jobs::DeadReply;
            /// A deleted tenant's data deleted by a durable job.
            TenantsPurge tenants_purge "tenants.purge" "/tenants/purge" $crate::jobs::PurgeRequest => $crate::jobs::StatusReply;
            /// What a worker serves: models, extraction defaults, schema.
            Info info "info" "/info" $crate::info::InfoRequest => $crate::info::InfoReply;
            /// OpenAI's chat completion, passed through; streamed on request.
            V1ChatCompletions v1_chat_completions "v1.chat.completions" "/v1/chat/completions" $crate::openai::ChatCompletionRequest => $crate::openai::ChatCompletion;
            /// OpenAI's embeddings.
            V1Embeddings v1_embeddings "v1.embeddings" "/v1/embeddings" $crate::openai::EmbeddingsRequest => $crate::openai::EmbeddingsReply;
            /// OpenAI's list of models.
            V1Models v1_models "v1.models" "/v1/models" $crate::openai::ModelsRequest => $crate::openai::ModelsReply;
        }
    };
}

macro_rules! define_subjects {
    ($( $(#[$doc:meta])* $variant:ident $name:ident $suffix:literal $path:literal
        $request:ty => $reply:ty; )*) => {
        /// One kind of request. Each has a NATS subject `{prefix}.{suffix}`
        /// and an HTTP route on the producer.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Subject {
            $( $(#[$doc])* $variant, )*
        }

        impl Subject {
            /// Every subject, in the order the worker registers them.
            pub const ALL: &'static [Subject] = &[$(Subject::$variant),*];

            /// The subject below the prefix, e.g. `graph.extract`.
            pub fn suffix(self) -> &'static str {
                match self {
                    $(Subject::$variant => $suffix,)*
                }
            }

            /// The NATS micro-service endpoint name (no dots allowed there),
            /// e.g. `graph_extract`.
            pub fn endpoint_name(self) -> &'static str {
                match self {
                    $(Subject::$variant => stringify!($name),)*
                }
            }

            /// The producer's HTTP route (POST) for this subject.
            pub fn http_path(self) -> &'static str {
                match self {
                    $(Subject::$variant => $path,)*
                }
            }
        }
    };
}

crate::for_each_subject!(define_subjects);

impl Subject {
    /// The subject's position in [`Subject::ALL`].
    pub fn index(self) -> usize {
        self as usize
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
        assert_eq!(Subject::GraphProbe.endpoint_name(), "graph_probe");
        for s in Subject::ALL {
            assert_eq!(s.endpoint_name(), s.suffix().replace('.', "_"), "{s}");
        }
        for (i, s) in Subject::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
        }
        let mut paths: Vec<_> = Subject::ALL.iter().map(|s| s.http_path()).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), Subject::ALL.len());
    }
}
