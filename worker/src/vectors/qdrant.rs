//! A Qdrant server through `qdrant-client` (gRPC), chosen when `QDRANT_URL` is
//! set. Collections are created on first upsert; points are upserted in
//! batches and waited for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qdrant_client::qdrant::{
    vectors_config, Condition, CountPointsBuilder, CreateCollectionBuilder, Distance, Filter,
    PointStruct, Range, SearchPointsBuilder, UpsertPointsBuilder, VectorParamsBuilder,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use ragwire_schemas::JsonMap;

use super::{check_dim, missing, AnyValues, Cond, Hit, Point, Scalar, VectorStore};
use crate::error::{Backend, Error};
use crate::waiting;

const BACKEND: Backend = Backend::Qdrant;
/// Points per upsert call.
const BATCH: usize = 256;

/// Qdrant server client with a cache of collection dimensions.
pub struct QdrantStore {
    client: Qdrant,
    timeout: Duration,
    dims: Mutex<HashMap<String, usize>>,
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
            dims: Mutex::new(HashMap::new()),
        }))
    }

    /// The collection's dimension, `None` when it does not exist.
    async fn dim(&self, collection: &str) -> Result<Option<usize>, Error> {
        if let Some(dim) = self
            .dims
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(collection)
        {
            return Ok(Some(*dim));
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
        let dim = info
            .result
            .and_then(|r| r.config)
            .and_then(|c| c.params)
            .and_then(|p| p.vectors_config)
            .and_then(|v| v.config)
            .and_then(|c| match c {
                vectors_config::Config::Params(p) => Some(p.size as usize),
                vectors_config::Config::ParamsMap(_) => None,
            })
            .ok_or_else(|| {
                Error::bad_request(format!(
                    "collection `{collection}` has named vectors; ragwire needs one unnamed vector"
                ))
            })?;
        self.dims
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(collection.to_owned(), dim);
        Ok(Some(dim))
    }
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
        match self.dim(collection).await? {
            Some(existing) => check_dim(collection, existing, dim)?,
            None => {
                let created = self
                    .client
                    .create_collection(
                        CreateCollectionBuilder::new(collection)
                            .vectors_config(VectorParamsBuilder::new(dim as u64, Distance::Cosine))
                            .on_disk_payload(true),
                    )
                    .await;
                // Another worker may have created it meanwhile.
                if let Err(e) = created {
                    match self.dim(collection).await? {
                        Some(existing) => check_dim(collection, existing, dim)?,
                        None => return Err(upstream(e, self.timeout)),
                    }
                }
            }
        }
        let mut points: Vec<PointStruct> = points
            .into_iter()
            .map(|p| PointStruct::new(p.id.to_string(), p.vector, Payload::from(p.payload)))
            .collect();
        while !points.is_empty() {
            let rest = points.split_off(points.len().min(BATCH));
            let call = self
                .client
                .upsert_points(UpsertPointsBuilder::new(collection, points).wait(true));
            waiting::on(BACKEND, call)
                .await
                .map_err(|e| upstream(e, self.timeout))?;
            points = rest;
        }
        Ok(())
    }

    async fn search(
        &self,
        collection: &str,
        vector: Vec<f32>,
        limit: usize,
        filter: &[Cond],
    ) -> Result<Vec<Hit>, Error> {
        let Some(dim) = self.dim(collection).await? else {
            return Err(missing(collection));
        };
        check_dim(collection, dim, vector.len())?;
        let mut request =
            SearchPointsBuilder::new(collection, vector, limit as u64).with_payload(true);
        if !filter.is_empty() {
            request = request.filter(to_filter(filter));
        }
        let response = waiting::on(BACKEND, self.client.search_points(request))
            .await
            .map_err(|e| upstream(e, self.timeout))?;
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
        if self.dim(collection).await?.is_none() {
            return Ok(0);
        }
        let call = self
            .client
            .count(CountPointsBuilder::new(collection).exact(true));
        let response = waiting::on(BACKEND, call)
            .await
            .map_err(|e| upstream(e, self.timeout))?;
        Ok(response.result.map_or(0, |r| r.count as usize))
    }

    async fn flush(&self) -> Result<(), Error> {
        // Upserts are sent with `wait`, so they are durable on return.
        Ok(())
    }
}

fn to_filter(conds: &[Cond]) -> Filter {
    Filter::must(conds.iter().map(|cond| match cond {
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
    }))
}
