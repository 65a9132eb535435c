//! Vector stores behind one small interface: Qdrant's embedded engine
//! (`qdrant-edge`, the default, files under the data directory) and a Qdrant
//! server (`QDRANT_URL`, through `qdrant-client`). Both keep the same point
//! ids, payload, filters and cosine scores, so switching changes nothing for
//! clients.

pub mod embedded;
pub mod filter;
pub mod keywords;
pub mod qdrant;

use ragwire_schemas::JsonMap;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;
use uuid::Uuid;

use ragwire_common::settings::parse;

use crate::backends::Embedder;
use crate::error::Error;
pub use filter::{AnyValues, Cond, Scalar};
use keywords::Keywords;
use ragwire_schemas::index::Chunk;

/// The vector store: Qdrant's embedded engine, or a Qdrant server.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Vectors")]
pub struct VectorConfig {
    /// Qdrant server, its gRPC port (e.g. `http://127.0.0.1:6334`); unset:
    /// Qdrant's embedded engine under `{RAGWIRE_DATA_DIR}/vectors`.
    #[arg(id = "vectors.qdrant_url", long = "qdrant-url", env = "QDRANT_URL",
          value_parser = parse::http_url)]
    pub qdrant_url: Option<String>,
    /// The Qdrant server's API key.
    #[arg(
        id = "vectors.qdrant_api_key",
        long = "qdrant-api-key",
        env = "QDRANT_API_KEY"
    )]
    pub qdrant_api_key: Option<String>,
    /// Per Qdrant server call, in milliseconds.
    #[arg(id = "vectors.timeout_ms", long = "vectors-timeout-ms", env = "RAGWIRE_VECTORS_TIMEOUT_MS",
          default_value = "30000", value_parser = parse::timeout)]
    pub timeout: Duration,
    /// Embedded store: build the HNSW index and merge segments after this
    /// many written points.
    #[arg(
        id = "vectors.optimize_every",
        long = "vectors-optimize-every",
        env = "RAGWIRE_VECTORS_OPTIMIZE_EVERY",
        default_value_t = 10_000
    )]
    pub optimize_every: usize,
}

ragwire_common::default_from_declarations!(VectorConfig);

/// What a point of a collection carries: its chunk. Written by `index` and
/// ingest jobs, returned whole by `search`, read by `retrieve`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChunkPayload {
    /// The document the chunk belongs to.
    pub doc_id: String,
    /// The chunk's id within its document, when it has one.
    pub chunk_id: Option<String>,
    /// The chunk's text.
    pub text: String,
    /// Free-form metadata; filters name its fields.
    pub metadata: JsonMap,
    /// Hex SHA-256 of `text`.
    pub hash: String,
}

impl ChunkPayload {
    /// The payload keys of the chunk's own fields; any other filter field
    /// is a metadata field.
    pub const OWN_FIELDS: [&'static str; 4] = ["doc_id", "chunk_id", "hash", "text"];

    /// The payload as stored: `chunk_id` is `null` when there is none.
    pub fn into_map(self) -> JsonMap {
        let mut map = JsonMap::new();
        map.insert("doc_id".into(), Value::String(self.doc_id));
        map.insert(
            "chunk_id".into(),
            self.chunk_id.map_or(Value::Null, Value::String),
        );
        map.insert("text".into(), Value::String(self.text));
        map.insert("metadata".into(), Value::Object(self.metadata));
        map.insert("hash".into(), Value::String(self.hash));
        map
    }

    /// Reads a stored payload; a field that is missing or of another type
    /// (points written by other tools) is left empty.
    pub fn from_map(mut map: JsonMap) -> ChunkPayload {
        let mut text = |key: &str| match map.remove(key) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        let (doc_id, chunk_id, text_, hash) =
            (text("doc_id"), text("chunk_id"), text("text"), text("hash"));
        let metadata = match map.remove("metadata") {
            Some(Value::Object(m)) => m,
            _ => JsonMap::new(),
        };
        ChunkPayload {
            doc_id: doc_id.unwrap_or_default(),
            chunk_id,
            text: text_.unwrap_or_default(),
            metadata,
            hash: hash.unwrap_or_default(),
        }
    }
}

/// The name of the sparse (BM25) vectors in a collection; the dense
/// vectors are the collection's unnamed default.
pub const KEYWORDS: &str = "bm25";

/// A sparse vector: a text's term ids and their weights.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sparse {
    /// Term ids, ascending.
    pub indices: Vec<u32>,
    /// Their weights.
    pub values: Vec<f32>,
}

/// What a collection holds, when it exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The dense vectors' dimension.
    pub dim: usize,
    /// Whether it has BM25 vectors; collections made before keyword search
    /// have none.
    pub keywords: bool,
}

/// A search of a collection.
#[derive(Debug, Clone)]
pub enum Query {
    /// Nearest dense vectors (cosine).
    Dense(Vec<f32>),
    /// Highest BM25 (the store applies the collection's IDF).
    Keyword(Sparse),
    /// Both, `candidates` each, fused.
    Hybrid {
        /// The query's embedding.
        dense: Vec<f32>,
        /// The query's terms.
        keyword: Sparse,
        /// Hits each side fetches before fusion.
        candidates: usize,
        /// How the two rankings are fused.
        fusion: Fusion,
    },
}

/// How a hybrid query fuses its rankings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    /// Reciprocal rank fusion with rank constant `k` and, optionally,
    /// weights `[dense, keyword]`.
    Rrf {
        /// The rank constant.
        k: usize,
        /// `[dense, keyword]`.
        weights: Option<[f32; 2]>,
    },
    /// Distribution-based score fusion.
    Dbsf,
}

impl Query {
    /// The dense vector, whose dimension must match the collection's.
    fn dense(&self) -> Option<&[f32]> {
        match self {
            Query::Dense(v) | Query::Hybrid { dense: v, .. } => Some(v),
            Query::Keyword(_) => None,
        }
    }

    /// Fails unless `layout` can answer this query.
    pub fn check(&self, collection: &str, layout: Layout) -> Result<(), Error> {
        if let Some(dense) = self.dense() {
            check_dim(collection, layout.dim, dense.len())?;
        }
        if !layout.keywords && !matches!(self, Query::Dense(_)) {
            return Err(no_keywords(collection));
        }
        Ok(())
    }
}

/// The 400 of a keyword or hybrid search on a collection without BM25
/// vectors.
pub fn no_keywords(collection: &str) -> Error {
    Error::bad_request(format!(
        "collection `{collection}` was indexed before keyword search existed and has no BM25          vectors: search it with `mode: dense`, or index its documents again into a new          collection for `keyword` and `hybrid`"
    ))
}

/// One vector with its payload.
#[derive(Debug, Clone)]
pub struct Point {
    /// The point id (see [`point_id`]).
    pub id: Uuid,
    /// The dense vector.
    pub vector: Vec<f32>,
    /// The BM25 vector of the chunk's text (left out of a collection made
    /// before keyword search).
    pub keywords: Sparse,
    /// The payload, a [`ChunkPayload`] as stored.
    pub payload: JsonMap,
}

/// One search result.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The point id.
    pub id: String,
    /// The query's score: cosine, BM25 or fused.
    pub score: f32,
    /// The point's payload as stored.
    pub payload: JsonMap,
}

/// A vector store. Collections are created on first upsert with the vectors'
/// dimension and cosine distance, and BM25 vectors with the IDF modifier.
#[async_trait::async_trait]
pub trait VectorStore: Send + Sync + 'static {
    /// Writes `points` (all of dimension `dim`), creating the collection when
    /// missing; a collection of another dimension is a 400.
    async fn upsert(&self, collection: &str, dim: usize, points: Vec<Point>) -> Result<(), Error>;

    /// What the collection holds; `None` when it does not exist.
    async fn layout(&self, collection: &str) -> Result<Option<Layout>, Error>;

    /// The `limit` best points for `query` matching every condition of
    /// `filter`, best first. A missing collection is a 404; a query the
    /// collection cannot answer (see [`Query::check`]) a 400.
    async fn search(
        &self,
        collection: &str,
        query: Query,
        limit: usize,
        filter: &[Cond],
    ) -> Result<Vec<Hit>, Error>;

    /// Number of points in the collection (0 when it does not exist).
    // Read by tests and benchmarks only.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    async fn count(&self, collection: &str) -> Result<usize, Error>;

    /// Makes everything written so far durable.
    async fn flush(&self) -> Result<(), Error>;
}

/// Embeds `chunks` (through the embedder's batcher) and writes them with
/// their payload to `collection`, with BM25 vectors unless the collection
/// predates keyword search. Point ids follow from the collection, document,
/// chunk id and text, so writing a chunk twice leaves one point. Returns
/// the vectors' dimension. The one write path of `rag.index` and ingest
/// jobs.
pub async fn write_chunks(
    store: &dyn VectorStore,
    embedder: &Embedder,
    keywords: &Keywords,
    collection: &str,
    chunks: Vec<Chunk>,
) -> Result<usize, Error> {
    // A collection made before keyword search keeps dense vectors alone:
    // its chunks need no BM25 vectors.
    let with_keywords = store
        .layout(collection)
        .await?
        .is_none_or(|layout| layout.keywords);
    let texts: Vec<String> = chunks.iter().map(|c| c.text.clone()).collect();
    // Tokenising and stemming a batch can take milliseconds of CPU: off the
    // runtime's threads, and while the embedder answers.
    let encoder = keywords.clone();
    let encode = with_keywords.then(|| texts.clone());
    let (vectors, sparse) = tokio::join!(embedder.embed(texts), async move {
        match encode {
            Some(texts) => tokio::task::spawn_blocking(move || {
                texts.iter().map(|t| encoder.document(t)).collect()
            })
            .await
            .map_err(|e| Error::Internal(format!("BM25 encoding failed: {e}"))),
            None => Ok(Vec::new()),
        }
    });
    let (vectors, mut sparse) = (vectors?, sparse?.into_iter());
    let dim = vectors.first().map_or(0, Vec::len);
    let points = chunks
        .into_iter()
        .zip(vectors)
        .map(|(chunk, vector)| {
            let hash = text_hash(&chunk.text);
            let id = point_id(collection, &chunk.doc_id, chunk.chunk_id.as_deref(), &hash);
            let payload = ChunkPayload {
                doc_id: chunk.doc_id,
                chunk_id: chunk.chunk_id,
                text: chunk.text,
                metadata: chunk.metadata.unwrap_or_default(),
                hash,
            };
            Point {
                id,
                vector,
                keywords: sparse.next().unwrap_or_default(),
                payload: payload.into_map(),
            }
        })
        .collect();
    store.upsert(collection, dim, points).await?;
    Ok(dim)
}

/// Hex SHA-256 of a chunk's text.
pub fn text_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The point id of a chunk: a UUIDv5 of collection, document id and chunk id
/// (or the text's hash without one), so indexing a chunk twice keeps one point.
pub fn point_id(collection: &str, doc_id: &str, chunk_id: Option<&str>, hash: &str) -> Uuid {
    let chunk = match chunk_id {
        Some(id) => format!("id:{id}"),
        None => format!("sha256:{hash}"),
    };
    // Lengths first, so ("a/b", "c") and ("a", "b/c") never collide.
    let name = format!(
        "{}:{collection}/{}:{doc_id}/{chunk}",
        collection.len(),
        doc_id.len()
    );
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
}

/// ragwire's UUIDv5 namespace (itself the v5 of "ragwire" in the URL namespace).
const NAMESPACE: Uuid = Uuid::from_u128(0x3f1c_6f0e_2b7a_5d4e_9a61_8f3b_2c0d_4e77);

/// The 404 of a search in a collection that does not exist.
pub fn missing(collection: &str) -> Error {
    Error::NotFound(format!(
        "collection `{collection}` does not exist; index into it first"
    ))
}

/// Fails with 400 unless `vector` has dimension `dim`.
pub fn check_dim(collection: &str, expected: usize, got: usize) -> Result<(), Error> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::bad_request(format!(
            "collection `{collection}` holds vectors of dimension {expected}; got dimension {got} \
             (was it indexed with another embedding model?)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let h = text_hash("hello");
        assert_eq!(h.len(), 64);
        let a = point_id("c", "doc", Some("1"), &h);
        assert_eq!(a, point_id("c", "doc", Some("1"), &text_hash("other text")));
        assert_ne!(a, point_id("c", "doc", Some("2"), &h));
        assert_ne!(a, point_id("c2", "doc", Some("1"), &h));
        assert_ne!(
            point_id("a/b", "c", None, &h),
            point_id("a", "b/c", None, &h)
        );
        assert_eq!(
            point_id("c", "d", None, &h),
            point_id("c", "d", None, &text_hash("hello"))
        );
    }

    #[test]
    fn payloads_round_trip_and_read_leniently() {
        let chunk = ChunkPayload {
            doc_id: "d".into(),
            chunk_id: None,
            text: "t".into(),
            metadata: JsonMap::from_iter([("lang".into(), Value::from("en"))]),
            hash: text_hash("t"),
        };
        let map = chunk.clone().into_map();
        assert_eq!(map["chunk_id"], Value::Null);
        assert_eq!(ChunkPayload::from_map(map), chunk);
        let foreign = JsonMap::from_iter([("text".into(), Value::from("only text"))]);
        let read = ChunkPayload::from_map(foreign);
        assert_eq!(
            (read.text.as_str(), read.doc_id.as_str()),
            ("only text", "")
        );
    }
}
