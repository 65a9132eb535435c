//! No silent split: a worker says in its service metadata where its data
//! lives, refuses to join a prefix whose workers would each answer from a
//! store of their own, and keeps checking after it joined (two workers
//! starting at once both find nobody).

use std::collections::HashMap;
use std::time::Duration;

use ragwire_common::discovery::{
    self, host_name, split_stores, DATA_DIR, GRAPH, SEPARATE_STORES, VECTORS,
};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::Error;

/// How long a worker listens for the others' `$SRV.INFO` answers.
const LISTEN: Duration = Duration::from_millis(250);
/// How often a running worker looks again.
const RECHECK: Duration = Duration::from_secs(60);

/// The metadata keys of a worker's stores.
pub(super) fn metadata(config: &Config) -> HashMap<String, String> {
    let embedded_vectors = config.vectors.qdrant_url.is_none();
    let embedded_graph = config.graph.neo4j_uri.is_none();
    let mut meta = HashMap::from([
        (
            VECTORS.to_owned(),
            if embedded_vectors {
                "embedded"
            } else {
                "qdrant"
            }
            .to_owned(),
        ),
        (
            GRAPH.to_owned(),
            if embedded_graph { "embedded" } else { "bolt" }.to_owned(),
        ),
        (
            SEPARATE_STORES.to_owned(),
            config.worker.allow_separate_stores.to_string(),
        ),
    ]);
    if embedded_vectors || embedded_graph {
        let dir = &config.worker.data_dir;
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
        meta.insert(DATA_DIR.to_owned(), dir.display().to_string());
    }
    meta
}

/// Fails when this worker, with `meta`, would split the data of its
/// prefix with the workers already serving it.
pub(super) async fn check_before_joining(
    client: &async_nats::Client,
    config: &Config,
    meta: &HashMap<String, String>,
) -> Result<(), Error> {
    if config.worker.allow_separate_stores {
        return Ok(());
    }
    let mut workers = discovery::workers(client, &config.common.prefix, LISTEN).await?;
    if workers.is_empty() {
        return Ok(());
    }
    let mut meta = meta.clone();
    meta.insert("host".to_owned(), host_name());
    workers.push(serde_json::json!({"id": "this worker", "metadata": meta}));
    match split_stores(&workers) {
        Some(split) => Err(Error::Conflict(format!(
            "refusing to serve prefix `{}`: {split}",
            config.common.prefix
        ))),
        None => Ok(()),
    }
}

/// Looks again soon after joining, then every minute, and logs a split at
/// ERROR for as long as it lasts.
pub(super) async fn watch(client: async_nats::Client, prefix: String, stop: CancellationToken) {
    let mut wait = LISTEN * 2 + Duration::from_millis(rand::random_range(0..500));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => return,
        }
        wait = RECHECK;
        match discovery::workers(&client, &prefix, LISTEN).await {
            Ok(workers) => {
                if let Some(split) = split_stores(&workers) {
                    tracing::error!(%prefix, "the workers of this prefix split its data: {split}");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list the workers of this prefix"),
        }
    }
}
