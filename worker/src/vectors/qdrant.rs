//! A Qdrant server through `qdrant-client` (gRPC), chosen when `QDRANT_URL` is
//! set. Collections are created on first upsert; points are upserted in
//! batches and waited for.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qdrant_client::qdrant::{
    vectors_config, Condition, CountPointsBuilder, CreateCollectionBuilder,
    CreateFieldIndexCollectionBuilder, DeletePointsBuilder, Distance, FieldType, Filter,
    Fusion as QdrantFusion, Modifier, PointStruct, PrefetchQueryBuilder, Query as QdrantQuery,
    QueryPointsBuilder, Range, Rrf, SparseVectorConfig, SparseVectorParamsBuilder,
    UpsertPointsBuilder, Vector, VectorInput, VectorParamsBuilder,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use ragwire_schemas::JsonMap;

use super::{
    check_dim, missing, AnyValues, ChunkPayload, Cond, Fusion, Hit, Layout, Point, Query, Scalar,
    VectorStore, KEYWORDS,
};
use crate::error::{Backend, Error};
use crate::waiting;

const BACKEND: Backend = Backend::Qdrant;
/// Points per upsert call.
const BATCH: usize = 256;

/// Qdrant server client with a cache of collection layouts.
pub struct QdrantStore {
    client: Qdrant,
    timeout: Duration,
    layouts: Mutex<HashMap<String, Layout>>,
    /// Collections whose delete fields are known to be indexed.
    indexed: Mutex<HashSet<String>>,
}

impl QdrantStore {
    /// A client for `url` (the gRPC port, usually 6334).
    pub fn connect(
        url: &str,
        api_key: Option<&str>,
        timeout: Duration,
    ) -> Result<Arc<QdrantStore>, Error> {
        let mut builder = Qdrant::from_url(url)
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5));
        if let Some(key) = api_key {
            builder = builder.api_key(key.to_owned());
        }
        let client = builder
            .build()
            .map_err(|e| Error::config("QDRANT_URL", format!("`{url}`: {e}")))?;
        Ok(Arc::new(QdrantStore {
            client,
            timeout,
            layouts: Mutex::new(HashMap::new()),
            indexed: Mutex::new(HashSet::new()),
        }))
    }

    /// What the collection holds, `None` when it does not exist.
    async fn cached_layout(&self, collection: &str) -> Result<Option<Layout>, Error> {
        if let Some(layout) = self
            .layouts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(collection)
        {
            return Ok(Some(*layout));
        }
        if !self
            .client
            .collection_exists(collection)
            .await
            .map_err(|e| upstream(e, self.timeout))?
        {
            return Ok(None);
        }
        let info = self
            .client
            .collection_info(collection)
            .await
            .map_err(|e| upstream(e, self.timeout))?;
        let params = info.result.and_then(|r| r.config).and_then(|c| c.params);
        let keywords = params
            .as_ref()
            .and_then(|p| p.sparse_vectors_config.as_ref())
            .is_some_and(|s| s.map.contains_key(KEYWORDS));
        let dim = params
            .and_then(|p| p.vectors_config)
            .and_then(|v| v.config)
            .and_then(|c| match c {
                vectors_config::Config::Params(p) => Some(p.size as usize),
                vectors_config::Config::ParamsMap(_) => None,
            })
            .ok_or_else(|| {
                Error::bad_request(format!(
                    "collection `{collection}` has named dense vectors; ragwire needs one \
                     unnamed dense vector"
                ))
            })?;
        let layout = Layout { dim, keywords };
        self.layouts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(collection.to_owned(), layout);
        Ok(Some(layout))
    }

    /// Makes sure the payload fields deletes select on are indexed (a
    /// keyword index on `doc_id`, an integer one on `generation`), so that
    /// deleting a document is work in proportion to the document. Done with
    /// the collection, and once per process on collections made before;
    /// creating an index that exists changes nothing.
    async fn index_fields(&self, collection: &str) -> Result<(), Error> {
        if self
            .indexed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(collection)
        {
            return Ok(());
        }
        let fields = [
            ("doc_id", FieldType::Keyword),
            (ChunkPayload::GENERATION, FieldType::Integer),
        ];
        for (field, kind) in fields {
            let call = self.client.create_field_index(
                CreateFieldIndexCollectionBuilder::new(collection, field, kind).wait(true),
            );
            waiting::on(BACKEND, call)
                .await
                .map_err(|e| upstream(e, self.timeout))?;
        }
        self.indexed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(collection.to_owned());
        Ok(())
    }

    /// Points matching `filter` (all when `None`).
    async fn count_where(&self, collection: &str, filter: Option<Filter>) -> Result<usize, Error> {
        let mut request = CountPointsBuilder::new(collection).exact(true);
        if let Some(filter) = filter {
            request = request.filter(filter);
        }
        let response = match waiting::on(BACKEND, self.client.count(request)).await {
            Ok(response) => response,
            Err(e) if is_not_found(&e) => {
                self.forget(collection);
                return Err(missing(collection));
            }
            Err(e) => return Err(upstream(e, self.timeout)),
        };
        Ok(response.result.map_or(0, |r| r.count as usize))
    }

    /// Creates the collection for vectors of `dim`, with BM25 vectors.
    async fn create(&self, collection: &str, dim: usize) -> Result<Layout, Error> {
        let keywords = SparseVectorConfig {
            map: HashMap::from([(
                KEYWORDS.to_owned(),
                SparseVectorParamsBuilder::default()
                    .modifier(Modifier::Idf)
                    .build(),
            )]),
        };
        let created = self
            .client
            .create_collection(
                CreateCollectionBuilder::new(collection)
                    .vectors_config(VectorParamsBuilder::new(dim as u64, Distance::Cosine))
                    .sparse_vectors_config(keywords)
                    .on_disk_payload(true),
            )
            .await;
        // Another worker may have created it meanwhile.
        match (created, self.cached_layout(collection).await?) {
            (_, Some(layout)) => {
                self.index_fields(collection).await?;
                Ok(layout)
            }
            (Err(e), None) => Err(upstream(e, self.timeout)),
            (Ok(_), None) => Err(Error::Internal(format!(
                "{BACKEND}: collection `{collection}` is missing after its creation"
            ))),
        }
    }
}

/// Whether Qdrant answered that the collection (or whatever was named)
/// does not exist: dropped, perhaps by another worker, since it was cached.
fn is_not_found(e: &QdrantError) -> bool {
    matches!(e, QdrantError::ResponseError { status } if format!("{:?}", status.code()) == "NotFound")
}

fn upstream(e: QdrantError, timeout: Duration) -> Error {
    match e {
        QdrantError::ResponseError { status } => {
            // tonic's Code is not re-exported by qdrant-client; its Debug name is stable.
            match format!("{:?}", status.code()).as_str() {
                "DeadlineExceeded" => Error::Timeout {
                    backend: BACKEND,
                    after: timeout,
                },
                "Unavailable" => Error::Unavailable {
                    backend: BACKEND,
                    message: status.message().to_owned(),
                },
                "InvalidArgument" => Error::bad_request(format!("{BACKEND}: {}", status.message())),
                code => Error::Upstream {
                    backend: BACKEND,
                    status: 500,
                    message: format!("{code}: {}", status.message()),
                    retry_after: None,
                },
            }
        }
        QdrantError::ResourceExhaustedError {
            retry_after_seconds,
            ..
        } => Error::RateLimited {
            backend: BACKEND,
            retry_after: Some(Duration::from_secs(retry_after_seconds)),
        },
        other => Error::Unavailable {
            backend: BACKEND,
            message: other.to_string(),
        },
    }
}

#[async_trait::async_trait]
impl VectorStore for QdrantStore {
    async fn upsert(&self, collection: &str, dim: usize, points: Vec<Point>) -> Result<(), Error> {
        let layout = match self.cached_layout(collection).await? {
            Some(layout) => layout,
            None => self.create(collection, dim).await?,
        };
        check_dim(collection, layout.dim, dim)?;
        let mut points: Vec<PointStruct> = points
            .into_iter()
            .map(|p| {
                let payload = Payload::from(p.payload);
                if layout.keywords {
                    let vectors = HashMap::from([
                        (String::new(), Vector::new_dense(p.vector)),
                        (
                            KEYWORDS.to_owned(),
                            Vector::new_sparse(p.keywords.indices, p.keywords.values),
                        ),
                    ]);
                    PointStruct::new(p.id.to_string(), vectors, payload)
                } else {
                    PointStruct::new(p.id.to_string(), p.vector, payload)
                }
            })
            .collect();
        let mut recreated = false;
        while !points.is_empty() {
            let rest = points.split_off(points.len().min(BATCH));
            let call = self
                .client
                .upsert_points(UpsertPointsBuilder::new(collection, points.clone()).wait(true));
            match waiting::on(BACKEND, call).await {
                Ok(_) => points = rest,
                // Dropped since its layout was cached (another worker may
                // have dropped it): made again, once, as a first write would.
                Err(e) if is_not_found(&e) && !recreated => {
                    recreated = true;
                    self.forget(collection);
                    let layout = self.create(collection, dim).await?;
                    check_dim(collection, layout.dim, dim)?;
                    points.extend(rest);
                }
                Err(e) => return Err(upstream(e, self.timeout)),
            }
        }
        Ok(())
    }

    async fn layout(&self, collection: &str) -> Result<Option<Layout>, Error> {
        self.cached_layout(collection).await
    }

    async fn search(
        &self,
        collection: &str,
        query: Query,
        limit: usize,
        filter: &[Cond],
    ) -> Result<Vec<Hit>, Error> {
        let Some(layout) = self.cached_layout(collection).await? else {
            return Err(missing(collection));
        };
        query.check(collection, layout)?;
        let filter = (!filter.is_empty()).then(|| to_filter(filter));
        let mut request = QueryPointsBuilder::new(collection)
            .limit(limit as u64)
            .with_payload(true);
        if let Some(filter) = &filter {
            request = request.filter(filter.clone());
        }
        request = match query {
            Query::Dense(v) => request.query(QdrantQuery::new_nearest(v)),
            Query::Keyword(k) => request
                .query(QdrantQuery::new_nearest(VectorInput::new_sparse(
                    k.indices, k.values,
                )))
                .using(KEYWORDS),
            Query::Hybrid {
                dense,
                keyword,
                candidates,
                fusion,
            } => {
                let side = |query: QdrantQuery, using: Option<&str>| {
                    let mut side = PrefetchQueryBuilder::default()
                        .query(query)
                        .limit(candidates as u64);
                    if let Some(using) = using {
                        side = side.using(using);
                    }
                    if let Some(filter) = &filter {
                        side = side.filter(filter.clone());
                    }
                    side
                };
                let fused = match fusion {
                    Fusion::Rrf { k, weights } => QdrantQuery::new_rrf(Rrf {
                        k: Some(k as u32),
                        weights: weights.map(Vec::from).unwrap_or_default(),
                    }),
                    Fusion::Dbsf => QdrantQuery::new_fusion(QdrantFusion::Dbsf),
                };
                request
                    .add_prefetch(side(QdrantQuery::new_nearest(dense), None))
                    .add_prefetch(side(
                        QdrantQuery::new_nearest(VectorInput::new_sparse(
                            keyword.indices,
                            keyword.values,
                        )),
                        Some(KEYWORDS),
                    ))
                    .query(fused)
            }
        };
        let response = match waiting::on(BACKEND, self.client.query(request)).await {
            Ok(response) => response,
            Err(e) if is_not_found(&e) => {
                self.forget(collection);
                return Err(missing(collection));
            }
            Err(e) => return Err(upstream(e, self.timeout)),
        };
        Ok(response
            .result
            .into_iter()
            .map(|p| Hit {
                id: match p.id.and_then(|id| id.point_id_options) {
                    Some(qdrant_client::qdrant::point_id::PointIdOptions::Uuid(u)) => u,
                    Some(qdrant_client::qdrant::point_id::PointIdOptions::Num(n)) => n.to_string(),
                    None => String::new(),
                },
                score: p.score,
                payload: JsonMap::from(Payload::from(p.payload)),
            })
            .collect())
    }

    async fn count(&self, collection: &str) -> Result<usize, Error> {
        if self.cached_layout(collection).await?.is_none() {
            return Ok(0);
        }
        self.count_where(collection, None).await
    }

    async fn collections(&self) -> Result<Vec<String>, Error> {
        let response = waiting::on(BACKEND, self.client.list_collections())
            .await
            .map_err(|e| upstream(e, self.timeout))?;
        let mut names: Vec<String> = response.collections.into_iter().map(|c| c.name).collect();
        names.sort();
        Ok(names)
    }

    async fn drop_collection(&self, collection: &str) -> Result<Option<usize>, Error> {
        // Asked afresh: another worker may have dropped it.
        self.forget(collection);
        if self.cached_layout(collection).await?.is_none() {
            return Ok(None);
        }
        let points = self.count_where(collection, None).await?;
        let dropped = waiting::on(BACKEND, self.client.delete_collection(collection))
            .await
            .map_err(|e| upstream(e, self.timeout));
        self.forget(collection);
        dropped?;
        Ok(Some(points))
    }

    async fn delete(&self, collection: &str, filter: &[Cond]) -> Result<Option<usize>, Error> {
        if filter.is_empty() {
            return Err(Error::Internal("a delete without a filter".into()));
        }
        if self.cached_layout(collection).await?.is_none() {
            return Ok(None);
        }
        self.index_fields(collection).await?;
        let filter = to_filter(filter);
        let deleted = self.count_where(collection, Some(filter.clone())).await?;
        if deleted > 0 {
            let call = self.client.delete_points(
                DeletePointsBuilder::new(collection)
                    .points(filter)
                    .wait(true),
            );
            waiting::on(BACKEND, call)
                .await
                .map_err(|e| upstream(e, self.timeout))?;
        }
        Ok(Some(deleted))
    }

    async fn flush(&self) -> Result<(), Error> {
        // Upserts are sent with `wait`, so they are durable on return.
        Ok(())
    }
}

impl QdrantStore {
    /// Forgets what is cached of `collection`.
    fn forget(&self, collection: &str) {
        self.layouts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(collection);
        self.indexed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(collection);
    }
}

fn to_filter(conds: &[Cond]) -> Filter {
    let mut filter = Filter::default();
    for cond in conds {
        let condition = match cond {
            Cond::Eq { key, value } => match value {
                Scalar::Str(s) => Condition::matches(key.clone(), s.clone()),
                Scalar::Int(i) => Condition::matches(key.clone(), *i),
                Scalar::Bool(b) => Condition::matches(key.clone(), *b),
            },
            Cond::AnyOf { key, values } => match values {
                AnyValues::Strs(strs) => Condition::matches(key.clone(), strs.clone()),
                AnyValues::Ints(ints) => Condition::matches(key.clone(), ints.clone()),
            },
            Cond::Range {
                key,
                gt,
                gte,
                lt,
                lte,
            } => Condition::range(
                key.clone(),
                Range {
                    gt: *gt,
                    gte: *gte,
                    lt: *lt,
                    lte: *lte,
                },
            ),
            Cond::Below { key, value } => {
                // Missing, or below: not at or above.
                filter.must_not.push(Condition::range(
                    key.clone(),
                    Range {
                        gte: Some(*value as f64),
                        ..Default::default()
                    },
                ));
                continue;
            }
        };
        filter.must.push(condition);
    }
    filter
}
