//! A Qdrant server through `qdrant-client` (gRPC), chosen when `QDRANT_URL` is
//! set. Collections are created on first upsert, with the configured shards
//! and replicas; points are upserted in batches and waited for. On a
//! cluster, what Qdrant reports while a node or replica is down is a 503,
//! and writes (idempotent: same ids, same points) are tried again a few
//! times before they fail.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qdrant_client::qdrant::{
    read_consistency, vectors_config, Condition, CountPointsBuilder, CreateCollectionBuilder,
    CreateFieldIndexCollectionBuilder, DeletePointsBuilder, Distance, FieldType, Filter,
    Fusion as QdrantFusion, KeywordIndexParamsBuilder, Modifier, PointStruct, PrefetchQueryBuilder,
    Query as QdrantQuery, QueryPointsBuilder, Range, ReadConsistencyType, ReplicaState, Rrf,
    SparseVectorConfig, SparseVectorParamsBuilder, UpsertPointsBuilder, Vector, VectorInput,
    VectorParamsBuilder, WriteOrdering as QdrantOrdering, WriteOrderingType,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use ragwire_schemas::info::{DeadReplica, VectorCluster};
use ragwire_schemas::JsonMap;

use super::{
    check_dim, missing, AnyValues, ChunkPayload, Cond, Fusion, Hit, Layout, Point, Query,
    ReadConsistency, Scalar, VectorConfig, VectorStore, WriteOrdering, KEYWORDS,
};
use crate::error::{Backend, Error, Retry};
use crate::retry::{RetryConfig, RetryPolicy};
use crate::waiting;

const BACKEND: Backend = Backend::Qdrant;
/// Points per upsert call.
const BATCH: usize = 256;
/// Most collections whose replicas the cluster state looks at.
const CLUSTER_COLLECTIONS: usize = 100;

/// Qdrant server client with a cache of collection layouts.
pub struct QdrantStore {
    client: Qdrant,
    timeout: Duration,
    cluster: ClusterSettings,
    retry: RetryPolicy,
    layouts: Mutex<HashMap<String, Layout>>,
    /// Collections whose delete fields are known to be indexed.
    indexed: Mutex<HashSet<String>>,
}

impl QdrantStore {
    /// A client for `url` (the gRPC port, usually 6334) with the
    /// collection and consistency settings of `config`; calls that fail
    /// while a node of a cluster is down are retried as `retry` says.
    pub fn connect(
        url: &str,
        config: &VectorConfig,
        retry: &RetryConfig,
    ) -> Result<Arc<QdrantStore>, Error> {
        let timeout = config.timeout;
        let mut builder = Qdrant::from_url(url)
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5));
        if let Some(key) = &config.qdrant_api_key {
            builder = builder.api_key(key.to_owned());
        }
        let client = builder
            .build()
            .map_err(|e| Error::config("QDRANT_URL", format!("`{url}`: {e}")))?;
        Ok(Arc::new(QdrantStore {
            client,
            timeout,
            cluster: ClusterSettings::from_config(config),
            retry: RetryPolicy::from_config(retry),
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
        let exists = || waiting::on(BACKEND, self.client.collection_exists(collection));
        if !self
            .patiently(exists)
            .await
            .map_err(|e| upstream(e, self.timeout))?
        {
            return Ok(None);
        }
        // Its shards' point counts, read from every shard: on a cluster,
        // this can fail for a moment after the collection was made.
        let info = || waiting::on(BACKEND, self.client.collection_info(collection));
        let info = self
            .patiently(info)
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

    /// Makes sure the payload fields deletes and tenants select on are
    /// indexed (a keyword index on `doc_id` and on `tenant`, an integer one
    /// on `generation`), so that
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
        // The tenant's field is indexed as Qdrant's multitenancy guide says:
        // `is_tenant` keeps each tenant's points together on disk, so a
        // tenant's search reads its own.
        let tenant = (ChunkPayload::TENANT, FieldType::Keyword);
        for (field, kind) in fields.into_iter().chain([tenant]) {
            let mut request = CreateFieldIndexCollectionBuilder::new(collection, field, kind)
                .wait(true)
                .ordering(self.cluster.ordering);
            if field == ChunkPayload::TENANT {
                request = request
                    .field_index_params(KeywordIndexParamsBuilder::default().is_tenant(true));
            }
            let request = request.build();
            let call = || waiting::on(BACKEND, self.client.create_field_index(request.clone()));
            self.patiently(call)
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
        if let Some(consistency) = self.cluster.read {
            request = request.read_consistency(consistency);
        }
        let request = request.build();
        let call = || waiting::on(BACKEND, self.client.count(request.clone()));
        let response = match self.patiently(call).await {
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
                    .on_disk_payload(true)
                    .shard_number(self.cluster.shards)
                    .replication_factor(self.cluster.replication_factor)
                    .write_consistency_factor(self.cluster.write_consistency_factor)
                    .timeout(self.timeout.as_secs().max(1)),
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

/// Whether Qdrant's message says a node or a replica of a cluster cannot
/// serve now, which passes once the node is back or the replica caught up.
fn cluster_transient(message: &str) -> bool {
    const TRANSIENT: &[&str] = &[
        // A shard with fewer live replicas than the write or read needs.
        "does not have enough active replicas",
        "no active replica",
        // A read of a collection whose shards are still being placed
        // (just created) or moved.
        "read operations failed",
        // A write applied by some shards and not others: the retry applies
        // the same points again.
        "failed to apply operation",
        // A peer that is down or restarting, as the node forwarding to it
        // saw it.
        "service is currently unavailable",
        "tcp connect error",
        "connection refused",
        "transport error",
        "connection reset",
        "broken pipe",
        "shard is not active",
        "replica set is not ready",
        "consensus",
    ];
    let message = message.to_lowercase();
    TRANSIENT.iter().any(|t| message.contains(t))
}

fn upstream(e: QdrantError, timeout: Duration) -> Error {
    match e {
        // tonic's Code is not re-exported by qdrant-client; its Debug name is stable.
        QdrantError::ResponseError { status } => {
            status_error(&format!("{:?}", status.code()), status.message(), timeout)
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

/// The error of a gRPC status of Qdrant: its code (by name) and message.
fn status_error(code: &str, message: &str, timeout: Duration) -> Error {
    match code {
        "DeadlineExceeded" => Error::Timeout {
            backend: BACKEND,
            after: timeout,
        },
        _ if code != "NotFound" && cluster_transient(message) => Error::Unavailable {
            backend: BACKEND,
            message: format!(
                "a node or replica of the Qdrant cluster is down or catching up: {message}"
            ),
        },
        "InvalidArgument" => Error::bad_request(format!("{BACKEND}: {message}")),
        "Unavailable" => Error::Unavailable {
            backend: BACKEND,
            message: message.to_owned(),
        },
        code => Error::Upstream {
            backend: BACKEND,
            status: 500,
            message: format!("{code}: {message}"),
            retry_after: None,
        },
    }
}

/// Whether a gRPC status of Qdrant passes by itself on a cluster: a node
/// that cannot be reached, or a replica that is down or catching up; what
/// [`status_error`] answers 503 for.
fn transient_status(code: &str, message: &str) -> bool {
    matches!(
        status_error(code, message, Duration::ZERO),
        Error::Unavailable { .. }
    )
}

#[async_trait::async_trait]
impl VectorStore for QdrantStore {
    async fn upsert(&self, collection: &str, dim: usize, points: Vec<Point>) -> Result<(), Error> {
        let layout = match self.cached_layout(collection).await? {
            Some(layout) => layout,
            None => self.create(collection, dim).await?,
        };
        check_dim(collection, layout.dim, dim)?;
        // Collections made before tenants get the tenant's index on the
        // first write (once per process).
        self.index_fields(collection).await?;
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
            let call = || {
                let request = UpsertPointsBuilder::new(collection, points.clone())
                    .wait(true)
                    .ordering(self.cluster.ordering);
                waiting::on(BACKEND, self.client.upsert_points(request))
            };
            match self.patiently(call).await {
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
        if let Some(consistency) = self.cluster.read {
            request = request.read_consistency(consistency);
        }
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
        let request = request.build();
        let call = || waiting::on(BACKEND, self.client.query(request.clone()));
        let response = match self.patiently(call).await {
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

    async fn count(&self, collection: &str, filter: &[Cond]) -> Result<usize, Error> {
        if self.cached_layout(collection).await?.is_none() {
            return Ok(0);
        }
        let filter = (!filter.is_empty()).then(|| to_filter(filter));
        self.count_where(collection, filter).await
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
            let request = DeletePointsBuilder::new(collection)
                .points(filter)
                .wait(true)
                .ordering(self.cluster.ordering)
                .build();
            let call = || waiting::on(BACKEND, self.client.delete_points(request.clone()));
            self.patiently(call)
                .await
                .map_err(|e| upstream(e, self.timeout))?;
        }
        Ok(Some(deleted))
    }

    async fn flush(&self) -> Result<(), Error> {
        // Upserts are sent with `wait`, so they are durable on return.
        Ok(())
    }

    async fn cluster(&self) -> Option<VectorCluster> {
        let mut state = VectorCluster::default();
        let names = match self.collections().await {
            Ok(names) => names,
            Err(e) => {
                state.error = Some(e.to_string());
                return Some(state);
            }
        };
        let mut peers = BTreeSet::new();
        for name in names.into_iter().take(CLUSTER_COLLECTIONS) {
            let call = self.client.collection_cluster_info(name.as_str());
            let info = match waiting::on(BACKEND, call).await {
                Ok(info) => info,
                // Dropped meanwhile.
                Err(e) if is_not_found(&e) => continue,
                Err(e) => {
                    state.error = Some(upstream(e, self.timeout).to_string());
                    break;
                }
            };
            state.collections += 1;
            peers.insert(info.peer_id);
            let local = info
                .local_shards
                .iter()
                .map(|s| (s.shard_id, info.peer_id, s.state));
            let remote = info
                .remote_shards
                .iter()
                .map(|s| (s.shard_id, s.peer_id, s.state));
            for (shard, peer, replica) in local.chain(remote) {
                peers.insert(peer);
                state.replicas += 1;
                let replica = ReplicaState::try_from(replica);
                if replica != Ok(ReplicaState::Active) {
                    state.dead_replicas.push(DeadReplica {
                        collection: name.clone(),
                        shard,
                        peer,
                        state: replica.map_or_else(|e| e.to_string(), |r| format!("{r:?}")),
                    });
                }
            }
        }
        state.peers = peers.len();
        // One server (or a cluster of one) has nothing to report; a failed
        // look is reported, cluster or not.
        (state.peers > 1 || state.error.is_some()).then_some(state)
    }
}

impl QdrantStore {
    /// Runs `op` again after a backoff while it fails with what passes on a
    /// cluster ([`transient`]), up to the configured retries. Only for
    /// idempotent calls.
    async fn patiently<T, F, Fut>(&self, op: F) -> Result<T, QdrantError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, QdrantError>>,
    {
        let retry = |e: &QdrantError| {
            if transient(e) {
                Retry::After(None)
            } else {
                Retry::Abort
            }
        };
        self.retry.run_when(op, retry).await
    }

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

/// Whether `e` passes by itself on a cluster ([`transient_status`]).
fn transient(e: &QdrantError) -> bool {
    match e {
        QdrantError::ResponseError { status } => {
            transient_status(&format!("{:?}", status.code()), status.message())
        }
        _ => false,
    }
}

/// What ragwire asks of a Qdrant cluster: the layout of the collections it
/// creates, and its reads' and writes' guarantees.
#[derive(Debug, Clone, Copy)]
struct ClusterSettings {
    shards: u32,
    replication_factor: u32,
    write_consistency_factor: u32,
    read: Option<read_consistency::Value>,
    ordering: QdrantOrdering,
}

impl ClusterSettings {
    fn from_config(config: &VectorConfig) -> ClusterSettings {
        let kind = |t: ReadConsistencyType| read_consistency::Value::Type(t as i32);
        ClusterSettings {
            shards: config.qdrant_shards,
            replication_factor: config.qdrant_replication_factor,
            write_consistency_factor: config.qdrant_write_consistency_factor,
            read: config.qdrant_read_consistency.map(|c| match c {
                ReadConsistency::Factor(n) => read_consistency::Value::Factor(n),
                ReadConsistency::Majority => kind(ReadConsistencyType::Majority),
                ReadConsistency::Quorum => kind(ReadConsistencyType::Quorum),
                ReadConsistency::All => kind(ReadConsistencyType::All),
            }),
            ordering: QdrantOrdering {
                r#type: match config.qdrant_write_ordering {
                    WriteOrdering::Weak => WriteOrderingType::Weak,
                    WriteOrdering::Medium => WriteOrderingType::Medium,
                    WriteOrdering::Strong => WriteOrderingType::Strong,
                } as i32,
            },
        }
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
            Cond::Missing { key } => Condition::is_empty(key.clone()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_cluster_reports_while_a_node_is_down_is_a_retried_503() {
        let down = [
            "Service internal error: The replica set for shard 1 on peer 79 does not have \
             enough active replicas",
            "Service internal error: 2 out of 3 shards failed to apply operation. First error \
             captured: Service internal error: Tonic status error: code: 'The service is \
             currently unavailable', message: \"Failed to connect to http://127.0.0.1:6455/, \
             error: transport error\"",
            "Service internal error: 0 of 0 read operations failed",
        ];
        for message in down {
            assert!(transient_status("Internal", message), "{message}");
            let e = status_error("Internal", message, Duration::from_secs(1));
            assert_eq!(e.to_body().code, 503, "{e}");
            assert!(e.to_string().contains("Qdrant cluster is down"), "{e}");
            assert_eq!(e.retry(), Retry::After(None));
        }
        let bad = "Wrong input: Vector dimension error: expected dim: 8, got 4";
        assert!(!transient_status("InvalidArgument", bad));
        let e = status_error("InvalidArgument", bad, Duration::from_secs(1));
        assert_eq!(e.to_body().code, 400);
        assert!(!transient_status(
            "DeadlineExceeded",
            "Timeout: read operations failed"
        ));
    }

    #[test]
    fn settings_become_qdrant_parameters() {
        let mut config = VectorConfig::default();
        let single = ClusterSettings::from_config(&config);
        assert_eq!(
            (
                single.shards,
                single.replication_factor,
                single.write_consistency_factor
            ),
            (1, 1, 1)
        );
        assert_eq!(single.read, None);
        assert_eq!(single.ordering.r#type, WriteOrderingType::Weak as i32);
        config.qdrant_read_consistency = Some("majority".parse().unwrap());
        config.qdrant_write_ordering = "strong".parse().unwrap();
        let cluster = ClusterSettings::from_config(&config);
        assert_eq!(
            cluster.read,
            Some(read_consistency::Value::Type(
                ReadConsistencyType::Majority as i32
            ))
        );
        assert_eq!(cluster.ordering.r#type, WriteOrderingType::Strong as i32);
        assert_eq!(
            "2".parse::<ReadConsistency>(),
            Ok(ReadConsistency::Factor(2))
        );
        assert!("0".parse::<ReadConsistency>().is_err());
        assert!("most".parse::<ReadConsistency>().is_err());
    }
}
