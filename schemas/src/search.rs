//! `rag.search`: nearest chunks to a query.

use serde::{Deserialize, Serialize};

use crate::JsonMap;

/// Request of `rag.search` (`POST /search`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct SearchRequest {
    /// The query text, embedded with the collection's model.
    pub query: String,
    /// How many hits to return, best first. Default 5, at most 1000.
    #[serde(default = "default_top_k", deserialize_with = "crate::lax::usize")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::usize")
    )]
    pub top_k: usize,
    /// The vector collection. Default `chunks`.
    #[serde(default = "crate::index::default_collection")]
    pub collection: String,
    /// Payload filters, all of which must hold: `field: value` (a string,
    /// integer or boolean; a float is a one-point range), `field: [values]`
    /// (any of several strings or integers), or `field: {gte, lte, gt, lt}`
    /// (a numeric range). `doc_id`, `chunk_id`, `hash` and `text` are the
    /// chunk's own fields; any other name is a metadata field (`lang` means
    /// `metadata.lang`). Default: none.
    #[serde(default)]
    pub filters: Option<JsonMap>,
    /// How hits are ranked: `mode`, `fusion`, `rrf_k`, `weights`,
    /// `candidates`.
    #[serde(flatten)]
    pub ranking: Ranking,
    /// Reorder the candidates with the configured reranker (503 when none
    /// is configured) and return its scores. Default `false`.
    #[serde(default, deserialize_with = "crate::lax::bool")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::bool")
    )]
    pub rerank: bool,
    /// With `rerank`, how many candidates the reranker sees. Default three
    /// times `top_k`, at most 1000.
    #[serde(default, deserialize_with = "crate::lax::opt_usize")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::opt_usize")
    )]
    pub rerank_candidates: Option<usize>,
}

impl SearchRequest {
    /// A search for `query` with every other field at its default.
    pub fn new(query: impl Into<String>) -> SearchRequest {
        SearchRequest {
            query: query.into(),
            top_k: default_top_k(),
            collection: crate::index::default_collection(),
            filters: None,
            ranking: Ranking::default(),
            rerank: false,
            rerank_candidates: None,
        }
    }
}

/// How a search ranks its hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Cosine similarity of the query's embedding to the chunks'.
    Dense,
    /// BM25 of the query's words in the chunks (Qdrant's tokenizer,
    /// English stop words and stemming; document frequencies from the
    /// collection).
    Keyword,
    /// Both, each fetching `candidates`, fused by `fusion`.
    Hybrid,
}

/// How `hybrid` fuses its two rankings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Fusion {
    /// Reciprocal rank fusion: a hit scores `Σ weight / (rrf_k + rank)`
    /// over the rankings it is in.
    #[default]
    Rrf,
    /// Distribution-based score fusion: each ranking's scores normalised
    /// by their mean and three standard deviations, then summed.
    Dbsf,
}

/// Per-ranking weights of reciprocal rank fusion.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct FusionWeights {
    /// The dense ranking's weight. Default 1.
    #[serde(default = "one", deserialize_with = "crate::lax::f32")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::f32")
    )]
    pub dense: f32,
    /// The keyword ranking's weight. Default 1.
    #[serde(default = "one", deserialize_with = "crate::lax::f32")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::f32")
    )]
    pub keyword: f32,
}

fn one() -> f32 {
    1.0
}

/// The ranking options of `rag.search` and `rag.retrieve` (flattened into
/// both, so each field's errors name it themselves).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Ranking {
    /// `dense`, `keyword` or `hybrid`. Default `hybrid`; on a collection
    /// indexed before keyword vectors existed, `dense` (asking for the
    /// others there is a 400).
    #[serde(default, deserialize_with = "field::mode")]
    pub mode: Option<SearchMode>,
    /// `rrf` (default) or `dbsf`, for `hybrid`.
    #[serde(default, deserialize_with = "field::fusion")]
    pub fusion: Fusion,
    /// RRF's rank constant `k`, 1 to 1000. Default 60.
    #[serde(default, deserialize_with = "field::rrf_k")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::opt_usize")
    )]
    pub rrf_k: Option<usize>,
    /// RRF's weights per ranking, `{dense, keyword}` (each 0 to 100, not
    /// both 0). Default equal.
    #[serde(default, deserialize_with = "field::weights")]
    pub weights: Option<FusionWeights>,
    /// For `hybrid`: hits each ranking fetches before fusion, `top_k` to
    /// 1000. Default twice `top_k`, at least 50.
    #[serde(default, deserialize_with = "field::candidates")]
    #[cfg_attr(
        feature = "json-schema",
        schemars(schema_with = "crate::lax::schema::opt_usize")
    )]
    pub candidates: Option<usize>,
}

/// Deserializers of [`Ranking`]'s fields whose errors name the field: a
/// flattened struct's errors lose their path.
mod field {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer};

    macro_rules! named {
        ($($name:ident: $ty:ty = $read:expr;)*) => {$(
            pub fn $name<'de, D: Deserializer<'de>>(de: D) -> Result<$ty, D::Error> {
                $read(de).map_err(|e| D::Error::custom(format!("invalid field `{}`: {e}", stringify!($name))))
            }
        )*};
    }

    named! {
        mode: Option<super::SearchMode> = Option::deserialize;
        fusion: super::Fusion = super::Fusion::deserialize;
        rrf_k: Option<usize> = crate::lax::opt_usize;
        weights: Option<super::FusionWeights> = Option::deserialize;
        candidates: Option<usize> = crate::lax::opt_usize;
    }
}

/// Default number of hits.
pub fn default_top_k() -> usize {
    5
}

/// One search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct SearchHit {
    /// The point id: a UUIDv5 of the collection, `doc_id` and `chunk_id`
    /// (or the text's SHA-256).
    pub id: String,
    /// The score of `scoring`: cosine similarity (`dense`), BM25
    /// (`keyword`), the fused score (`hybrid`) or the reranker's.
    pub score: f32,
    /// `doc_id`, `chunk_id`, `text`, `metadata` and `hash` (the SHA-256 of
    /// the text).
    pub payload: JsonMap,
}

/// Reply of `rag.search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct SearchReply {
    /// The hits, best first; at most `top_k`.
    pub hits: Vec<SearchHit>,
    /// What the scores are (see [`Scoring`]).
    pub scoring: Scoring,
}

/// What a reply's scores are, and which ranking made them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
pub struct Scoring {
    /// The mode that ranked the hits.
    pub mode: SearchMode,
    /// The fusion, for `hybrid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fusion: Option<Fusion>,
    /// The reranker's scores replace the ranking's.
    #[serde(default)]
    pub reranked: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_is_the_request_with_only_a_query() {
        let decoded: SearchRequest = serde_json::from_str(r#"{"query": "q"}"#).unwrap();
        assert_eq!(SearchRequest::new("q"), decoded);
    }
}
