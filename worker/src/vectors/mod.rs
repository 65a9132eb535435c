//! Vector stores behind one small interface: Qdrant's embedded engine
//! (`qdrant-edge`, the default, files under the data directory) and a Qdrant
//! server (`QDRANT_URL`, through `qdrant-client`). Both keep the same point
//! ids, payload, filters and cosine scores, so switching changes nothing for
//! clients.

pub mod embedded;
pub mod filter;
pub mod keywords;
pub mod point;
pub mod qdrant;
pub mod tenant;

use std::time::Duration;

use ragwire_common::settings::parse;

use crate::backends::embedder::Priority;
use crate::backends::Embedder;
use crate::error::Error;
pub use filter::{AnyValues, Cond, Scalar};
use keywords::Keywords;
pub use point::{new_generation, point_id, text_hash, ChunkPayload, Hit, Point, Sparse};
use ragwire_schemas::index::Chunk;
use ragwire_schemas::info::VectorCluster;
pub use tenant::TenantVectors;

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
    /// Shards of each collection ragwire creates on a Qdrant server. One
    /// suits a single server; on a cluster, a multiple of the number of
    /// nodes spreads the points over them (e.g. 3 on three nodes).
    #[arg(id = "vectors.shards", long = "vectors-shards", env = "RAGWIRE_VECTORS_SHARDS",
          default_value_t = 1, value_parser = parse::at_least_one::<u32>)]
    pub qdrant_shards: u32,
    /// Copies of each shard of a collection ragwire creates, each on
    /// another node. One suits a single server; 2 on a cluster keeps every
    /// point readable and writable while one node is down.
    #[arg(id = "vectors.replication_factor", long = "vectors-replication-factor",
          env = "RAGWIRE_VECTORS_REPLICATION_FACTOR", default_value_t = 1,
          value_parser = parse::at_least_one::<u32>)]
    pub qdrant_replication_factor: u32,
    /// Replicas of a shard that must apply a write before Qdrant
    /// acknowledges it, for collections ragwire creates. Keep 1 with a
    /// replication factor of 2, so writes go on while a node is down (the
    /// node catches up when it is back); equal to the replication factor,
    /// a write fails (503, retried) until every replica is up.
    #[arg(id = "vectors.write_consistency_factor",
          long = "vectors-write-consistency-factor",
          env = "RAGWIRE_VECTORS_WRITE_CONSISTENCY_FACTOR", default_value_t = 1,
          value_parser = parse::at_least_one::<u32>)]
    pub qdrant_write_consistency_factor: u32,
    /// Replicas a search or count asks on a Qdrant cluster (Qdrant's
    /// `consistency`): a number, `majority`, `quorum` or `all`. Unset: one
    /// replica, which answers while a node is down. `majority`, `quorum`
    /// and `all` fail while a shard has fewer live replicas than they
    /// need.
    #[arg(
        id = "vectors.read_consistency",
        long = "vectors-read-consistency",
        env = "RAGWIRE_VECTORS_READ_CONSISTENCY"
    )]
    pub qdrant_read_consistency: Option<ReadConsistency>,
    /// Ordering of writes on a Qdrant cluster (Qdrant's `ordering`):
    /// `weak` (any replica first: writes go on while a node is down),
    /// `medium` (through a leader chosen now) or `strong` (through each
    /// shard's fixed leader: writes to its shards fail while that node is
    /// down).
    #[arg(id = "vectors.write_ordering", long = "vectors-write-ordering",
          env = "RAGWIRE_VECTORS_WRITE_ORDERING", value_enum, default_value_t = WriteOrdering::Weak)]
    pub qdrant_write_ordering: WriteOrdering,
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

/// How many replicas of a shard a read asks, on a Qdrant cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadConsistency {
    /// This many replicas; points present on all of them.
    Factor(u64),
    /// Every replica; points present on a majority of them.
    Majority,
    /// Half the replicas and one; points present on all of them.
    Quorum,
    /// Every replica; points present on all of them.
    All,
}

impl std::str::FromStr for ReadConsistency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "majority" => Ok(ReadConsistency::Majority),
            "quorum" => Ok(ReadConsistency::Quorum),
            "all" => Ok(ReadConsistency::All),
            n => match n.parse::<u64>() {
                Ok(n) if n >= 1 => Ok(ReadConsistency::Factor(n)),
                _ => Err(format!(
                    "`{s}` is not a number of at least 1, `majority`, `quorum` or `all`"
                )),
            },
        }
    }
}

/// How writes are ordered on a Qdrant cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WriteOrdering {
    /// Applied by any replica first; may be reordered.
    Weak,
    /// Through a leader chosen now.
    Medium,
    /// Through each shard's fixed leader.
    Strong,
}

impl std::str::FromStr for WriteOrdering {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        clap::ValueEnum::from_str(s, false)
            .map_err(|_| format!("`{s}` is not `weak`, `medium` or `strong`"))
    }
}

/// The name of the sparse (BM25) vectors in a collection; the dense
/// vectors are the collection's unnamed default.
pub const KEYWORDS: &str = "bm25";

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

    /// Number of points in the collection matching every condition of
    /// `filter` (all when empty; 0 when the collection does not exist).
    async fn count(&self, collection: &str, filter: &[Cond]) -> Result<usize, Error>;

    /// The names of the collections, sorted.
    async fn collections(&self) -> Result<Vec<String>, Error>;

    /// Deletes the collection with its points; returns how many points it
    /// held, `None` when it does not exist.
    async fn drop_collection(&self, collection: &str) -> Result<Option<usize>, Error>;

    /// Deletes the points matching every condition of `filter` (never an
    /// empty one); returns how many, `None` when the collection does not
    /// exist. Work in proportion to the points matched where the filter
    /// names `doc_id` (it has a payload index).
    async fn delete(&self, collection: &str, filter: &[Cond]) -> Result<Option<usize>, Error>;

    /// Makes everything written so far durable.
    async fn flush(&self) -> Result<(), Error>;

    /// The state of the cluster the store runs on; `None` when it is one
    /// server or embedded.
    async fn cluster(&self) -> Option<VectorCluster> {
        None
    }
}

/// How chunks are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Added to what the document has (or overwriting chunks of the same
    /// ids), as of now.
    Add,
    /// As version `generation` of their documents, with point ids of that
    /// version: the caller then deletes the earlier versions.
    Replace(u64),
}

/// The conditions that select the points of `doc_id` written before
/// `generation` (and those written before generations existed).
pub fn older_than(doc_id: &str, generation: u64) -> Vec<Cond> {
    vec![
        Cond::Eq {
            key: "doc_id".into(),
            value: Scalar::Str(doc_id.to_owned()),
        },
        Cond::Below {
            key: ChunkPayload::GENERATION.into(),
            value: generation,
        },
    ]
}

/// Embeds `chunks` (through the embedder's batcher) and writes them with
/// their payload to `collection`, with BM25 vectors unless the collection
/// predates keyword search. Point ids follow from the collection, document,
/// chunk id and text (and the generation when replacing), so writing a
/// chunk twice leaves one point. Returns the vectors' dimension. The one
/// write path of `rag.index` and ingest jobs.
pub async fn write_chunks(
    store: &TenantVectors,
    embedder: &Embedder,
    keywords: &Keywords,
    collection: &str,
    chunks: Vec<Chunk>,
    write: Write,
) -> Result<usize, Error> {
    let (generation, versioned) = match write {
        Write::Add => (new_generation(), None),
        Write::Replace(g) => (g, Some(g)),
    };
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
    let (vectors, sparse) = tokio::join!(embedder.embed_as(texts, Priority::Bulk), async move {
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
            let id = point_id(
                collection,
                &chunk.doc_id,
                chunk.chunk_id.as_deref(),
                &hash,
                versioned,
            );
            let payload = ChunkPayload {
                doc_id: chunk.doc_id,
                chunk_id: chunk.chunk_id,
                text: chunk.text,
                metadata: chunk.metadata.unwrap_or_default(),
                hash,
                generation,
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
