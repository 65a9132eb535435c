//! What the routes share: [`AppState`], one reference count to clone, and
//! the sub-states handlers and middleware take instead of the whole
//! (axum's `FromRef`): the [`Bridge`] to the workers, the API [`Keys`], the
//! [`Metrics`], the bound on [`Streams`]; and the admin API when it is on.

use std::sync::Arc;

use axum::extract::FromRef;
use ragwire_client::RagClient;
use ragwire_schemas::info::VectorCluster;

use crate::auth::Keys;
use crate::config::HttpConfig;
use crate::error::ApiError;
use crate::forward::Bridge;
use crate::metrics::Metrics;
use crate::openai::Streams;
use crate::tenants::{Admin, Registry};

/// What every route shares. Cheap to clone: one reference count, as the
/// extractors and middleware clone it several times per request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The contents of [`AppState`].
pub struct Shared {
    /// The workers, and how to answer for them.
    pub bridge: Bridge,
    /// The accepted API keys, tenant keys included.
    pub keys: Keys,
    /// The admin API, when an admin key is set.
    pub admin: Option<Admin>,
    /// Requests in flight before new ones are shed with 503.
    pub max_concurrency: usize,
    /// Streamed replies in flight; beyond them, a new stream gets 503.
    pub streams: Streams,
    /// Origins allowed by CORS; empty: none.
    pub cors_origins: Vec<String>,
    /// The version to report.
    pub app_version: String,
    /// Request counters and latency histograms.
    pub metrics: Metrics,
    /// What is wrong when the workers of this prefix split its data
    /// between embedded stores (see `serve`).
    pub split: std::sync::Mutex<Option<String>>,
    /// The state of the workers' Qdrant cluster, as a worker last reported
    /// it (`rag.info`); `None` on one server or an embedded store.
    pub vector_cluster: std::sync::Mutex<Option<VectorCluster>>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// The state of a producer with `config`, sending to the workers through
    /// `rag` (whose timeout it sets), without the tenant registry: legacy
    /// keys only, no admin API (an admin key in `config` still turns auth
    /// on). [`AppState::start`] opens the registry.
    pub fn new(config: &HttpConfig, rag: RagClient) -> AppState {
        AppState::with_registry(config, rag.with_timeout(config.timeout), None)
    }

    /// The state of a producer with `config`, sending to the workers through
    /// `rag` (whose timeout it sets), with the tenant registry (opened here)
    /// when `config` turns it on: tenant keys, and the admin API when an
    /// admin key is set.
    pub async fn start(config: &HttpConfig, rag: RagClient) -> Result<AppState, ApiError> {
        let tenants = &config.tenants;
        if tenants.admin_key().is_some() && tenants.enabled == Some(false) {
            return Err(ApiError::BadRequest(
                "RAGWIRE_ADMIN_KEY is set and RAGWIRE_TENANTS_ENABLED is false: the admin API \
                 needs the tenant registry"
                    .into(),
            ));
        }
        let rag = rag.with_timeout(config.timeout);
        let registry = if tenants.registry_on() {
            Some(Registry::open(&rag, tenants).await?)
        } else {
            None
        };
        Ok(AppState::with_registry(config, rag, registry))
    }

    fn with_registry(config: &HttpConfig, rag: RagClient, registry: Option<Registry>) -> AppState {
        let admin_key = config.tenants.admin_key();
        let admin = registry
            .clone()
            .zip(admin_key)
            .map(|(registry, key)| Admin::new(registry, key, rag.clone()));
        AppState(Arc::new(Shared {
            bridge: Bridge {
                rag,
                compat: config.compat,
                max_body: config.max_body_bytes,
            },
            keys: Keys::with_tenants(
                config.api_keys.iter().cloned(),
                registry,
                admin_key.is_some(),
            ),
            admin,
            max_concurrency: config.max_concurrency,
            streams: Streams::new(config.max_streams),
            cors_origins: config.cors_origins.clone(),
            app_version: config
                .app_version
                .clone()
                .unwrap_or_else(|| env!("CARGO_PKG_VERSION").into()),
            metrics: Metrics::new(),
            split: std::sync::Mutex::new(None),
            vector_cluster: std::sync::Mutex::new(None),
        }))
    }
}

impl FromRef<AppState> for Bridge {
    fn from_ref(state: &AppState) -> Bridge {
        state.bridge.clone()
    }
}

impl FromRef<AppState> for Keys {
    fn from_ref(state: &AppState) -> Keys {
        state.keys.clone()
    }
}

impl FromRef<AppState> for Metrics {
    fn from_ref(state: &AppState) -> Metrics {
        state.metrics.clone()
    }
}

impl FromRef<AppState> for Streams {
    fn from_ref(state: &AppState) -> Streams {
        state.streams.clone()
    }
}
