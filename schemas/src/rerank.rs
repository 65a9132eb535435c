//! `rag.rerank`: order documents by relevance to a query.

use serde::{Deserialize, Serialize};

/// Request of `rag.rerank` (`POST /rerank`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct RerankRequest {
    /// The query the documents are ranked against.
    pub query: String,
    /// Candidate documents; not empty; at most `RAGWIRE_LIMITS_MAX_DOCUMENTS`
    /// (1000).
    pub documents: Vec<String>,
    /// How many results to return, best first. Default 6.
    #[serde(default = "default_top_n", deserialize_with = "crate::lax::usize")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::usize")
    )]
    pub top_n: usize,
}

impl RerankRequest {
    /// `documents` ranked against `query`, `top_n` at its default.
    pub fn new(
        query: impl Into<String>,
        documents: impl IntoIterator<Item = impl Into<String>>,
    ) -> RerankRequest {
        RerankRequest {
            query: query.into(),
            documents: documents.into_iter().map(Into::into).collect(),
            top_n: default_top_n(),
        }
    }
}

fn default_top_n() -> usize {
    6
}

/// One ranked document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct RerankResult {
    /// Position of the document in the request, from 0.
    pub index: usize,
    /// The reranker's relevance score; higher is better.
    pub score: f32,
    /// The document's text.
    pub text: String,
}

/// Reply of `rag.rerank`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct RerankReply {
    /// Sorted by score, highest first; at most `top_n`.
    pub results: Vec<RerankResult>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_is_the_request_with_only_a_query_and_documents() {
        let decoded: RerankRequest =
            serde_json::from_str(r#"{"query": "q", "documents": ["a", "b"]}"#).unwrap();
        assert_eq!(RerankRequest::new("q", ["a", "b"]), decoded);
    }
}
