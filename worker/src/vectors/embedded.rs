//! The embedded vector store: Qdrant's own engine (`qdrant-edge`) in-process,
//! one shard per collection under `{data_dir}/vectors/{collection}`. Its API
//! is synchronous, so every call runs on Tokio's blocking pool.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use qdrant_edge::external::ordered_float::OrderedFloat;
use qdrant_edge::{
    Condition, CountRequest, CreateIndex, Distance, EdgeConfigBuilder, EdgeShard,
    EdgeSparseVectorParamsBuilder, EdgeVectorParamsBuilder, FieldCondition, FieldIndexOperations,
    Filter, Fusion as EdgeFusion, IsEmptyCondition, JsonPath, KeywordIndexParams, Match, Modifier,
    NamedQuery, PayloadFieldSchema, PayloadSchemaParams, PayloadSchemaType, PointId,
    PointInsertOperations, PointOperations, PointStruct, Prefetch, QueryEnum, QueryRequest, Range,
    ScoringQuery, SparseVector, UpdateOperation, ValueVariants, Vector, Vectors,
    WithPayloadInterface, WithVector, DEFAULT_VECTOR_NAME,
};
use ragwire_schemas::JsonMap;

use super::{
    check_dim, missing, AnyValues, ChunkPayload, Cond, Fusion, Hit, Layout, Point, Query, Scalar,
    Sparse, VectorStore, KEYWORDS,
};
use crate::error::{Backend, Error};

const BACKEND: Backend = Backend::EmbeddedVectors;

/// Shards opened so far, by collection.
pub struct EmbeddedStore {
    root: PathBuf,
    optimize_every: usize,
    // Held while the store lives: one process per data directory.
    _lock: std::fs::File,
    shards: Mutex<HashMap<String, Arc<Shard>>>,
    /// Collections being dropped.
    dropping: Mutex<std::collections::HashSet<String>>,
}

/// How long a drop waits for the requests (and the optimisation) still
/// using a collection.
const DROP_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// A shard and the lock that serialises its writes: qdrant-edge's `flush`
/// panics when it finds the WAL held by a concurrent update.
struct Shard {
    edge: EdgeShard,
    writes: Mutex<()>,
    /// Points written since the last optimisation.
    unoptimized: AtomicUsize,
    optimizing: AtomicBool,
}

impl Shard {
    /// Runs `f` (an update, a flush) alone among this shard's writes.
    fn write<T>(&self, f: impl FnOnce(&EdgeShard) -> T) -> T {
        let _alone = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        f(&self.edge)
    }

    /// Counts `written` points and, every `every` points, builds the search
    /// index (HNSW) and merges segments in the background: unindexed
    /// segments are searched by brute force.
    fn note_writes(self: &Arc<Self>, written: usize, every: usize) {
        if self.unoptimized.fetch_add(written, Ordering::Relaxed) + written < every
            || self.optimizing.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let shard = self.clone();
        tokio::task::spawn_blocking(move || {
            shard.unoptimized.store(0, Ordering::Relaxed);
            let started = std::time::Instant::now();
            // Qdrant's optimisers work on proxy segments that take the
            // writes made meanwhile, so updates need not wait for them; only
            // the flush that follows must not meet a concurrent update.
            match shard.edge.optimize() {
                Ok(changed) => {
                    shard.write(EdgeShard::flush);
                    tracing::info!(
                        path = %shard.edge.path().display(),
                        changed,
                        ms = started.elapsed().as_millis() as u64,
                        "vector collection optimised"
                    )
                }
                Err(e) => tracing::warn!(error = %e, "vector collection optimisation failed"),
            }
            shard.optimizing.store(false, Ordering::Release);
        });
    }
}

impl EmbeddedStore {
    /// Builds the collection's search index now and returns when it is
    /// built, after any optimisation under way (benchmarks measure
    /// searches on a settled collection).
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub async fn optimize_now(&self, collection: &str) -> Result<(), Error> {
        let Some(shard) = self.shard(collection, None)? else {
            return Err(missing(collection));
        };
        while shard.optimizing.swap(true, Ordering::AcqRel) {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let done = blocking({
            let shard = shard.clone();
            move || {
                shard.unoptimized.store(0, Ordering::Relaxed);
                shard
                    .edge
                    .optimize()
                    .map_err(|e| internal(format!("optimisation failed: {e}")))?;
                shard.write(EdgeShard::flush);
                Ok(())
            }
        })
        .await;
        shard.optimizing.store(false, Ordering::Release);
        done
    }

    /// A store keeping its collections under `root`.
    pub fn open(root: &Path, optimize_every: usize) -> Result<Arc<EmbeddedStore>, Error> {
        std::fs::create_dir_all(root).map_err(|e| {
            Error::config(
                "RAGWIRE_DATA_DIR",
                format!("cannot create {}: {e}", root.display()),
            )
        })?;
        let lock_path = root.join(".lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| {
                Error::config(
                    "RAGWIRE_DATA_DIR",
                    format!("cannot open {}: {e}", lock_path.display()),
                )
            })?;
        // Two processes writing one shard would corrupt it.
        lock.try_lock().map_err(|_| {
            Error::config(
                "RAGWIRE_DATA_DIR",
                format!(
                    "{} is in use by another worker; give each worker its own RAGWIRE_DATA_DIR, \
                     or share vectors through a Qdrant server (QDRANT_URL)",
                    root.display()
                ),
            )
        })?;
        Ok(Arc::new(EmbeddedStore {
            root: root.to_owned(),
            optimize_every: optimize_every.max(1),
            _lock: lock,
            shards: Mutex::new(HashMap::new()),
            dropping: Mutex::new(std::collections::HashSet::new()),
        }))
    }

    /// The collection's shard; created with `create_dim` when given and
    /// missing, else `None` when missing.
    fn shard(
        &self,
        collection: &str,
        create_dim: Option<usize>,
    ) -> Result<Option<Arc<Shard>>, Error> {
        let mut shards = self.shards.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(shard) = shards.get(collection) {
            return Ok(Some(shard.clone()));
        }
        if self
            .dropping
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(collection)
        {
            return match create_dim {
                None => Ok(None),
                Some(_) => Err(Error::Unavailable {
                    backend: BACKEND,
                    message: format!(
                        "collection `{collection}` is being dropped; write again in a moment"
                    ),
                }),
            };
        }
        let path = self.root.join(collection);
        let exists = path.join("edge_config.json").exists();
        let config = match (exists, create_dim) {
            (true, _) => None,
            (false, Some(dim)) => Some(
                EdgeConfigBuilder::new()
                    .on_disk_payload(true)
                    .vector(
                        DEFAULT_VECTOR_NAME,
                        EdgeVectorParamsBuilder::new(dim, Distance::Cosine).build(),
                    )
                    .sparse_vector(
                        KEYWORDS,
                        EdgeSparseVectorParamsBuilder::new()
                            .modifier(Modifier::Idf)
                            .build(),
                    )
                    .build(),
            ),
            (false, None) => return Ok(None),
        };
        std::fs::create_dir_all(&path)
            .map_err(|e| internal(format!("cannot create {}: {e}", path.display())))?;
        let shard = EdgeShard::load(&path, config)
            .map_err(|e| internal(format!("cannot open collection `{collection}`: {e}")))?;
        index_fields(&shard)
            .map_err(|e| internal(format!("cannot index collection `{collection}`: {e}")))?;
        let shard = Arc::new(Shard {
            edge: shard,
            writes: Mutex::new(()),
            unoptimized: AtomicUsize::new(0),
            optimizing: AtomicBool::new(false),
        });
        shards.insert(collection.to_owned(), shard.clone());
        Ok(Some(shard))
    }

    fn layout(shard: &EdgeShard) -> Result<Layout, Error> {
        let config = shard.config();
        let dim = config
            .vectors
            .get(DEFAULT_VECTOR_NAME)
            .map(|v| v.size)
            .ok_or_else(|| internal("collection has no default vector".into()))?;
        Ok(Layout {
            dim,
            keywords: config.sparse_vectors.contains_key(KEYWORDS),
        })
    }
}

/// The payload fields deletes and tenants select on, indexed (on new shards, and on
/// older ones the first time they are opened), so that deleting a document
/// reads its own points only. The tenant's field is indexed as Qdrant's
/// multitenancy guide says (`is_tenant`): optimised segments keep each
/// tenant's points together, so a tenant's search reads its own.
fn index_fields(shard: &EdgeShard) -> Result<(), qdrant_edge::OperationError> {
    let indexed = shard.info().payload_schema;
    let tenant =
        PayloadFieldSchema::FieldParams(PayloadSchemaParams::Keyword(KeywordIndexParams {
            is_tenant: Some(true),
            ..KeywordIndexParams::default()
        }));
    let fields = [
        (
            "doc_id",
            PayloadFieldSchema::FieldType(PayloadSchemaType::Keyword),
        ),
        (
            ChunkPayload::GENERATION,
            PayloadFieldSchema::FieldType(PayloadSchemaType::Integer),
        ),
        (ChunkPayload::TENANT, tenant),
    ];
    for (field, schema) in fields {
        let path = JsonPath::try_from(field).expect("a plain field name");
        if indexed.contains_key(&path) {
            continue;
        }
        shard.update(UpdateOperation::FieldIndexOperation(
            FieldIndexOperations::CreateIndex(CreateIndex {
                field_name: path,
                field_schema: Some(schema),
            }),
        ))?;
    }
    Ok(())
}

fn internal(message: String) -> Error {
    Error::Internal(format!("{BACKEND}: {message}"))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    crate::waiting::on(BACKEND, tokio::task::spawn_blocking(f))
        .await
        .map_err(|e| internal(format!("task failed: {e}")))?
}

#[async_trait::async_trait]
impl VectorStore for EmbeddedStore {
    async fn upsert(&self, collection: &str, dim: usize, points: Vec<Point>) -> Result<(), Error> {
        let shard = self
            .shard(collection, Some(dim))?
            .expect("created when missing");
        let layout = EmbeddedStore::layout(&shard.edge)?;
        check_dim(collection, layout.dim, dim)?;
        let collection = collection.to_owned();
        let written = points.len();
        blocking(move || {
            let points = points
                .into_iter()
                .map(|p| {
                    let vectors = if layout.keywords {
                        let keywords = Vector::new_sparse(p.keywords.indices, p.keywords.values)
                            .map_err(|e| internal(format!("a BM25 vector is invalid: {e}")))?;
                        Vectors::new_named([
                            (DEFAULT_VECTOR_NAME.to_owned(), Vector::new_dense(p.vector)),
                            (KEYWORDS.to_owned(), keywords),
                        ])
                    } else {
                        Vectors::from(p.vector)
                    };
                    Ok(PointStruct::new(
                        PointId::Uuid(p.id),
                        vectors,
                        serde_json::Value::Object(p.payload),
                    )
                    .into())
                })
                .collect::<Result<_, Error>>()?;
            // Flushed before the reply: an acknowledged write survives a crash.
            shard.write(|edge| {
                edge.update(UpdateOperation::PointOperation(
                    PointOperations::UpsertPoints(PointInsertOperations::PointsList(points)),
                ))
                .map_err(|e| internal(format!("upsert into `{collection}` failed: {e}")))?;
                edge.flush();
                Ok::<_, Error>(())
            })?;
            Ok(shard)
        })
        .await?
        .note_writes(written, self.optimize_every);
        Ok(())
    }

    async fn layout(&self, collection: &str) -> Result<Option<Layout>, Error> {
        self.shard(collection, None)?
            .map(|shard| EmbeddedStore::layout(&shard.edge))
            .transpose()
    }

    async fn search(
        &self,
        collection: &str,
        query: Query,
        limit: usize,
        filter: &[Cond],
    ) -> Result<Vec<Hit>, Error> {
        let Some(shard) = self.shard(collection, None)? else {
            return Err(missing(collection));
        };
        query.check(collection, EmbeddedStore::layout(&shard.edge)?)?;
        let filter = to_filter(filter)?;
        let collection = collection.to_owned();
        blocking(move || {
            let (prefetches, scoring) = match query {
                Query::Dense(v) => (Vec::new(), dense(v)),
                Query::Keyword(k) => (Vec::new(), keyword(k)),
                Query::Hybrid {
                    dense: d,
                    keyword: k,
                    candidates,
                    fusion,
                } => {
                    let side = |query| Prefetch {
                        prefetches: Vec::new(),
                        query: Some(query),
                        limit: candidates,
                        params: None,
                        filter: filter.clone(),
                        score_threshold: None,
                    };
                    let fusion = match fusion {
                        Fusion::Rrf { k: rank, weights } => EdgeFusion::Rrf {
                            k: rank,
                            weights: weights.map(|w| w.into_iter().map(OrderedFloat).collect()),
                        },
                        Fusion::Dbsf => EdgeFusion::Dbsf,
                    };
                    (
                        vec![side(dense(d)), side(keyword(k))],
                        ScoringQuery::Fusion(fusion),
                    )
                }
            };
            let request = QueryRequest {
                prefetches,
                query: Some(scoring),
                filter,
                score_threshold: None,
                limit,
                offset: 0,
                params: None,
                with_vector: WithVector::Bool(false),
                with_payload: WithPayloadInterface::Bool(true),
            };
            let scored = shard
                .edge
                .query(request)
                .map_err(|e| internal(format!("search in `{collection}` failed: {e}")))?;
            Ok(scored
                .into_iter()
                .map(|p| Hit {
                    id: match p.id {
                        PointId::Uuid(u) => u.to_string(),
                        PointId::NumId(n) => n.to_string(),
                    },
                    score: p.score,
                    payload: p
                        .payload
                        .map(|p| p.0.into_iter().collect::<JsonMap>())
                        .unwrap_or_default(),
                })
                .collect())
        })
        .await
    }

    async fn count(&self, collection: &str, filter: &[Cond]) -> Result<usize, Error> {
        let Some(shard) = self.shard(collection, None)? else {
            return Ok(0);
        };
        let filter = to_filter(filter)?;
        blocking(move || {
            shard
                .edge
                .count(CountRequest {
                    filter,
                    exact: true,
                })
                .map_err(|e| internal(format!("count failed: {e}")))
        })
        .await
    }

    async fn collections(&self) -> Result<Vec<String>, Error> {
        let root = self.root.clone();
        blocking(move || {
            let entries = std::fs::read_dir(&root)
                .map_err(|e| internal(format!("cannot list {}: {e}", root.display())))?;
            let mut names: Vec<String> = entries
                .filter_map(Result::ok)
                .filter(|e| e.path().join("edge_config.json").exists())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| !name.starts_with('.'))
                .collect();
            names.sort();
            Ok(names)
        })
        .await
    }

    async fn drop_collection(&self, collection: &str) -> Result<Option<usize>, Error> {
        let Some(shard) = self.shard(collection, None)? else {
            return Ok(None);
        };
        let points = self.count(collection, &[]).await?;
        // Out of the map, and marked: until its files are gone, the
        // collection is missing to readers and busy to writers (which would
        // otherwise open the old files again).
        {
            let mut shards = self.shards.lock().unwrap_or_else(|p| p.into_inner());
            shards.remove(collection);
            self.dropping
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(collection.to_owned());
        }
        let path = self.root.join(collection);
        let name = collection.to_owned();
        let removed = blocking(move || {
            // The shard flushes its files when the last holder lets go, so
            // the files go only after the requests still using it are done.
            let started = std::time::Instant::now();
            while Arc::strong_count(&shard) > 1 {
                if started.elapsed() > DROP_PATIENCE {
                    return Ok(Err(Some(shard)));
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            drop(shard);
            Ok(std::fs::remove_dir_all(&path).map_err(|e| {
                tracing::error!(path = %path.display(), error = %e, "cannot remove a dropped collection's files");
                None
            }))
        })
        .await;
        let mut shards = self.shards.lock().unwrap_or_else(|p| p.into_inner());
        self.dropping
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&name);
        match removed {
            Ok(Ok(())) => Ok(Some(points)),
            Ok(Err(Some(shard))) => {
                // Still in use: left as it was.
                shards.insert(name.clone(), shard);
                Err(Error::Unavailable {
                    backend: BACKEND,
                    message: format!(
                        "collection `{name}` is busy (optimising?); drop it again later"
                    ),
                })
            }
            Ok(Err(None)) => Err(internal(format!("cannot remove the files of `{name}`"))),
            Err(e) => Err(e),
        }
    }

    async fn delete(&self, collection: &str, filter: &[Cond]) -> Result<Option<usize>, Error> {
        let Some(shard) = self.shard(collection, None)? else {
            return Ok(None);
        };
        let Some(filter) = to_filter(filter)? else {
            return Err(Error::Internal("a delete without a filter".into()));
        };
        let collection = collection.to_owned();
        blocking(move || {
            // Counted and deleted under the shard's write lock: no write of
            // ours comes between.
            shard.write(|edge| {
                let deleted = edge
                    .count(CountRequest {
                        filter: Some(filter.clone()),
                        exact: true,
                    })
                    .map_err(|e| internal(format!("count in `{collection}` failed: {e}")))?;
                if deleted > 0 {
                    edge.update(UpdateOperation::PointOperation(
                        PointOperations::DeletePointsByFilter(filter),
                    ))
                    .map_err(|e| internal(format!("delete in `{collection}` failed: {e}")))?;
                    edge.flush();
                }
                Ok(Some(deleted))
            })
        })
        .await
    }

    async fn flush(&self) -> Result<(), Error> {
        let shards: Vec<_> = self
            .shards
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        blocking(move || {
            shards.iter().for_each(|s| s.write(EdgeShard::flush));
            Ok(())
        })
        .await
    }
}

fn dense(vector: Vec<f32>) -> ScoringQuery {
    ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery {
        query: vector.into(),
        using: None,
    }))
}

fn keyword(terms: Sparse) -> ScoringQuery {
    ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery {
        query: SparseVector {
            indices: terms.indices,
            values: terms.values,
        }
        .into(),
        using: Some(KEYWORDS.into()),
    }))
}

fn key(key: &str) -> Result<JsonPath, Error> {
    JsonPath::try_from(key)
        .map_err(|()| Error::bad_request(format!("`filters`: `{key}` is not a usable field name")))
}

fn to_filter(conds: &[Cond]) -> Result<Option<Filter>, Error> {
    if conds.is_empty() {
        return Ok(None);
    }
    let mut must = Vec::with_capacity(conds.len());
    let mut must_not = Vec::new();
    for cond in conds {
        let field = match cond {
            Cond::Below { key: k, value } => {
                // Missing, or below: not at or above.
                must_not.push(Condition::Field(FieldCondition::new_range(
                    key(k)?,
                    Range {
                        gt: None,
                        gte: Some(OrderedFloat(*value as f64)),
                        lt: None,
                        lte: None,
                    },
                )));
                continue;
            }
            Cond::Missing { key: k } => {
                must.push(Condition::IsEmpty(IsEmptyCondition::from(key(k)?)));
                continue;
            }
            Cond::Eq { key: k, value } => {
                FieldCondition::new_match(key(k)?, Match::new_value(value_variant(value)))
            }
            Cond::AnyOf { key: k, values } => {
                let r#match = match values {
                    AnyValues::Strs(strs) => Match::from(strs.clone()),
                    AnyValues::Ints(ints) => Match::from(ints.clone()),
                };
                FieldCondition::new_match(key(k)?, r#match)
            }
            Cond::Range {
                key: k,
                gt,
                gte,
                lt,
                lte,
            } => FieldCondition::new_range(
                key(k)?,
                Range {
                    gt: gt.map(OrderedFloat),
                    gte: gte.map(OrderedFloat),
                    lt: lt.map(OrderedFloat),
                    lte: lte.map(OrderedFloat),
                },
            ),
        };
        must.push(Condition::Field(field));
    }
    Ok(Some(Filter {
        must: (!must.is_empty()).then_some(must),
        should: None,
        min_should: None,
        must_not: (!must_not.is_empty()).then_some(must_not),
    }))
}

fn value_variant(value: &Scalar) -> ValueVariants {
    match value {
        Scalar::Str(s) => ValueVariants::String(s.clone()),
        Scalar::Int(i) => ValueVariants::Integer(*i),
        Scalar::Bool(b) => ValueVariants::Bool(*b),
    }
}
