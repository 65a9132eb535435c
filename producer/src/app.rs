//! The HTTP application: routes, auth, metrics and tower layers for body
//! size, concurrency and load shedding, and the routes of the producer's
//! own (health, version, whoami, the job and collection routes with ids in
//! the path).

use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{middleware, Json, Router};
use bytes::Bytes;
use ragwire_client::discovery::{self, split_stores, workers};
use ragwire_schemas::endpoint::Info;
use ragwire_schemas::info::InfoRequest;
use ragwire_schemas::Subject;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::auth::{self, Caller};
use crate::error::ApiError;
use crate::forward::{forward, json_content_type};
use crate::gateway;
use crate::metrics;
use crate::state::AppState;

/// The router. `/health`, `/version` and `/metrics` are open; every other
/// route needs an API key when keys are configured.
pub fn app(state: AppState) -> Router {
    let mut api = Router::new()
        .route("/whoami", get(whoami))
        .route("/jobs/{job_id}", get(job_status))
        .route("/jobs/{job_id}/replay", post(job_replay))
        .route("/jobs/dead", get(jobs_dead))
        .route("/collections", get(collections_list))
        .route(
            "/collections/{name}",
            get(collection_show).delete(collection_drop),
        )
        .route("/collections/{name}/delete", post(points_delete))
        .route("/collections/{name}/documents/{doc_id}", delete(doc_delete))
        .route("/delete/graph", post(gateway::delete_graph))
        .route("/delete/vector", post(gateway::delete_vector));
    // OpenAI's routes have their own shapes (`openai`).
    let generic = Subject::ALL
        .iter()
        .filter(|s| !s.http_path().starts_with("/v1/"));
    for &subject in generic {
        api = api.route(
            subject.http_path(),
            post(
                move |State(state): State<AppState>,
                      Extension(caller): Extension<Caller>,
                      headers: HeaderMap,
                      body: Result<Bytes, BytesRejection>| async move {
                    match json_content_type(&headers) {
                        Ok(()) => forward(&state.bridge, &caller, subject, &headers, body).await,
                        Err(e) => e.into_response(),
                    }
                },
            ),
        );
    }
    // The POST routes of the collection subjects (`/collections/list`, …)
    // would hide the collections of those names from the routes above.
    for subject in [
        Subject::CollectionsList,
        Subject::CollectionsShow,
        Subject::CollectionsDrop,
    ] {
        let name = subject
            .http_path()
            .trim_start_matches("/collections/")
            .to_owned();
        let (show, drop) = (name.clone(), name);
        api = api.route(
            subject.http_path(),
            get(
                move |State(state): State<AppState>,
                      Extension(caller): Extension<Caller>,
                      headers: HeaderMap| async move {
                    let subject = Subject::CollectionsShow;
                    forward_collection(&state, &caller, subject, &show, &headers).await
                },
            )
            .delete(
                move |State(state): State<AppState>,
                      Extension(caller): Extension<Caller>,
                      headers: HeaderMap| async move {
                    let subject = Subject::CollectionsDrop;
                    forward_collection(&state, &caller, subject, &drop, &headers).await
                },
            ),
        );
    }
    // Only the API is shed under load: health checks and metrics must answer
    // exactly when the service is busy.
    let api = api
        .merge(crate::openai::routes())
        .route_layer(middleware::from_fn_with_state(
            state.keys.clone(),
            auth::require_key,
        ))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(
                    |uri: Uri, _: tower::BoxError| async move {
                        ApiError::Overloaded.respond_at(uri.path())
                    },
                ))
                .load_shed()
                .layer(GlobalConcurrencyLimitLayer::new(state.max_concurrency)),
        );
    let open = Router::new()
        .route("/health", get(health))
        .route("/version", get(version))
        .route("/metrics", get(render_metrics));
    let cors = cors(&state.cors_origins);
    let mut router = Router::new().merge(api).merge(open);
    // Without an admin key the admin routes do not exist: 404, never open.
    if let Some(admin) = &state.admin {
        router = router.merge(crate::tenants::admin::routes(admin.clone()));
    }
    let router = router
        .fallback(not_found)
        .method_not_allowed_fallback(|uri: Uri| async move {
            ApiError::MethodNotAllowed.respond_at(uri.path())
        })
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::record,
        ))
        .layer(middleware::from_fn(crate::trace::span))
        .layer(DefaultBodyLimit::max(state.bridge.max_body));
    // Without configured origins there is no CORS layer at all: a browser
    // gets no permission, and a preflight no answer that grants one.
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
        .layer(middleware::from_fn(crate::request_id::propagate))
        .with_state(state)
}

/// The CORS layer for `origins` (`*` for any), when there are some.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                HeaderName::from_static("x-api-key"),
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([HeaderName::from_static("x-request-id")]),
    )
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then lets
/// in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    if !state.keys.enabled() {
        tracing::warn!(
            "RAGWIRE_HTTP_API_KEYS is not set: the HTTP API accepts requests without a key"
        );
    }
    if let Some(registry) = state.keys.registry() {
        tracing::info!(
            bucket = registry.bucket(),
            admin_api = state.admin.is_some(),
            "tenant keys on"
        );
    }
    tracing::info!(addr = %listener.local_addr()?, "producer listening");
    // Replies are small and must not wait for the client's delayed ACK.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(watch_workers(state.clone(), shutdown.clone()));
    let registry = state.keys.registry().cloned();
    let served = axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    if let Some(registry) = registry {
        registry.flush_last_used().await;
    }
    served
}

/// How often the producer asks which workers serve its prefix.
const WATCH_EVERY: Duration = Duration::from_secs(5);

/// Keeps `split` current: whether the workers of this prefix each answer
/// from an embedded store of their own, which `/health` reports.
async fn watch_workers(state: AppState, stop: CancellationToken) {
    let mut wait = Duration::from_secs(1);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => return,
        }
        wait = WATCH_EVERY;
        let listen = Duration::from_millis(250);
        let Ok(workers) = workers(state.bridge.rag.nats(), state.bridge.rag.prefix(), listen).await
        else {
            continue;
        };
        let split = split_stores(&workers);
        if let Some(split) = &split {
            tracing::error!("the workers of this prefix split its data: {split}");
        }
        *state.split.lock().unwrap_or_else(|p| p.into_inner()) = split;
        let on_qdrant = workers
            .iter()
            .any(|w| w["metadata"][discovery::VECTORS] == "qdrant");
        let cluster = if on_qdrant {
            let rag = state.bridge.rag.clone().with_timeout(INFO_WAIT);
            match rag.call::<Info>(&InfoRequest::default()).await {
                Ok(info) => info.vector_cluster,
                // Kept: a busy worker says nothing new about the cluster.
                Err(_) => continue,
            }
        } else {
            None
        };
        if let Some(dead) = cluster.as_ref().filter(|c| !c.dead_replicas.is_empty()) {
            tracing::warn!(
                dead = dead.dead_replicas.len(),
                "replicas of the Qdrant cluster are down or catching up"
            );
        }
        *state
            .vector_cluster
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = cluster;
    }
}

/// How long the watch waits for `rag.info` (which looks at the cluster for
/// up to 5 s).
const INFO_WAIT: Duration = Duration::from_secs(8);

async fn health(State(state): State<AppState>) -> Response {
    let connected =
        state.bridge.rag.nats().connection_state() == async_nats::connection::State::Connected;
    let split = state
        .split
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let ok = connected && split.is_none();
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let nats = if connected {
        "connected"
    } else {
        "disconnected"
    };
    let mut body = json!({"ok": ok, "nats": nats});
    if let Some(split) = split {
        body["split"] = json!(split);
    }
    // Reported, not failed on: reads and writes go on while replicas are
    // down, and an outage that stops them shows as 503s naming Qdrant.
    if let Some(cluster) = &*state
        .vector_cluster
        .lock()
        .unwrap_or_else(|p| p.into_inner())
    {
        body["vector_cluster"] = json!(cluster);
    }
    (status, Json(body)).into_response()
}

/// `GET /jobs/{job_id}`: `rag.jobs.status` with the id from the path.
async fn job_status(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(job_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    forward_job(&state, &caller, Subject::JobsStatus, &job_id, &headers).await
}

/// `POST /jobs/{job_id}/replay`: `rag.jobs.replay`.
async fn job_replay(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(job_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    forward_job(&state, &caller, Subject::JobsReplay, &job_id, &headers).await
}

/// Forwards `{job_id}` taken from the path as the request body.
async fn forward_job(
    state: &AppState,
    caller: &Caller,
    subject: Subject,
    job_id: &str,
    headers: &HeaderMap,
) -> Response {
    let body = Bytes::from(json!({ "job_id": job_id }).to_string());
    forward(&state.bridge, caller, subject, headers, Ok(body)).await
}

/// `GET /collections`: `rag.collections.list`.
async fn collections_list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> Response {
    let body = Bytes::from_static(b"{}");
    let subject = Subject::CollectionsList;
    forward(&state.bridge, &caller, subject, &headers, Ok(body)).await
}

/// `GET /collections/{name}`: `rag.collections.show`.
async fn collection_show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    forward_collection(&state, &caller, Subject::CollectionsShow, &name, &headers).await
}

/// `DELETE /collections/{name}`: `rag.collections.drop`.
async fn collection_drop(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    forward_collection(&state, &caller, Subject::CollectionsDrop, &name, &headers).await
}

/// Forwards `{collection}` taken from the path as the request body.
async fn forward_collection(
    state: &AppState,
    caller: &Caller,
    subject: Subject,
    collection: &str,
    headers: &HeaderMap,
) -> Response {
    let body = Bytes::from(json!({ "collection": collection }).to_string());
    forward(&state.bridge, caller, subject, headers, Ok(body)).await
}

/// `DELETE /collections/{name}/documents/{doc_id}[?graph=false]`:
/// `rag.docs.delete`, the document's graph contribution too unless
/// `graph=false`.
async fn doc_delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((name, doc_id)): Path<(String, String)>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut request = json!({ "collection": name, "doc_id": doc_id });
    if let Some(graph) = query.get("graph") {
        // Read (and refused when not a boolean) by the worker.
        request["graph"] = json!(graph);
    }
    let body = Bytes::from(request.to_string());
    forward(
        &state.bridge,
        &caller,
        Subject::DocsDelete,
        &headers,
        Ok(body),
    )
    .await
}

/// `POST /collections/{name}/delete {filters}`: `rag.points.delete`, the
/// collection taken from the path (a different one in the body is a 400).
async fn points_delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(e) = json_content_type(&headers) {
        return e.into_response();
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            return forward(
                &state.bridge,
                &caller,
                Subject::PointsDelete,
                &headers,
                Err(rejection),
            )
            .await
        }
    };
    let mut request: serde_json::Map<String, serde_json::Value> =
        match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(e) => {
                return ApiError::BadRequest(format!("request body is not a JSON object: {e}"))
                    .into_response()
            }
        };
    match request.get("collection") {
        Some(c) if c != &json!(name) => {
            return ApiError::BadRequest(format!(
                "`collection` is {c} in the body and `{name}` in the path; leave it out of the body"
            ))
            .into_response()
        }
        _ => {}
    }
    request.insert("collection".into(), json!(name));
    let body = Bytes::from(serde_json::Value::Object(request).to_string());
    forward(
        &state.bridge,
        &caller,
        Subject::PointsDelete,
        &headers,
        Ok(body),
    )
    .await
}

/// `GET /jobs/dead?limit=N`: `rag.jobs.dead`.
async fn jobs_dead(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let limit = query.get("limit").and_then(|l| l.parse::<usize>().ok());
    let body = Bytes::from(json!({ "limit": limit }).to_string());
    forward(
        &state.bridge,
        &caller,
        Subject::JobsDead,
        &headers,
        Ok(body),
    )
    .await
}

async fn version(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({"ok": true, "name": "ragwire", "version": state.app_version}))
}

/// Who the caller is, and what the workers serve (`rag.info`): the fields
/// the gateway ragwire replaces answered here, next to ragwire's own.
async fn whoami(State(state): State<AppState>, Extension(caller): Extension<Caller>) -> Response {
    let rag = state
        .bridge
        .rag
        .clone()
        .with_timeout(Duration::from_secs(5));
    let info = match rag.call::<Info>(&InfoRequest::default()).await {
        Ok(info) => info,
        Err(e) => return ApiError::Call(e).into_response(),
    };
    let mut reply = serde_json::to_value(info).unwrap_or_default();
    reply["ok"] = json!(true);
    reply["key_id"] = json!(&*caller.key_id);
    reply["tenant"] = json!(caller.tenant);
    reply["auth"] = json!(state.keys.enabled());
    reply["app_version"] = json!(state.app_version);
    Json(reply).into_response()
}

async fn render_metrics(State(state): State<AppState>) -> String {
    if let Some(registry) = state.keys.registry() {
        state
            .metrics
            .update_tenants(registry.quotas(), &registry.stored_points());
    }
    state.metrics.render()
}

/// An unknown route is a 404; a known one with a trailing slash is
/// redirected (307, method and body kept) to the path without it.
async fn not_found(uri: Uri) -> Response {
    let path = uri.path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let target = match uri.query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        if let Ok(location) = HeaderValue::from_str(&target) {
            return (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, location)],
            )
                .into_response();
        }
    }
    ApiError::NotFound.respond_at(path)
}
