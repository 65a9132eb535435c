//! Finding the workers: each registers as the NATS micro-service
//! [`SERVICE_NAME`], with its prefix, host and stores in the service
//! metadata, and the rule that keeps workers from splitting data between
//! embedded stores without anyone noticing ([`split_stores`]).

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use crate::CallError;

/// Service name announced on `$SRV.PING`, `$SRV.INFO` and `$SRV.STATS`.
pub const SERVICE_NAME: &str = "ragwire";

/// This machine's (or container's) host name, empty when unknown.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// The `$SRV.INFO` replies of the ragwire workers with `prefix` that answer
/// within `wait`, through the NATS service API.
pub async fn workers(
    client: &async_nats::Client,
    prefix: &str,
    wait: Duration,
) -> Result<Vec<serde_json::Value>, CallError> {
    let fail = |e: String| CallError::Nats(format!("cannot ask for the workers: {e}"));
    let inbox = client.new_inbox();
    let mut replies = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| fail(e.to_string()))?;
    client
        .publish_with_reply(format!("$SRV.INFO.{SERVICE_NAME}"), inbox, Bytes::new())
        .await
        .map_err(|e| fail(e.to_string()))?;
    let mut found = Vec::new();
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            Some(m) = replies.next() => {
                let info: serde_json::Value = serde_json::from_slice(&m.payload).unwrap_or_default();
                if info["metadata"]["prefix"] == prefix {
                    found.push(info);
                }
            }
            _ = &mut deadline => return Ok(found),
        }
    }
}

/// Metadata keys of a worker's stores: `embedded`, `qdrant` or `bolt`.
pub const VECTORS: &str = "vectors";
/// See [`VECTORS`].
pub const GRAPH: &str = "graph";
/// Metadata key of the data directory of a worker's embedded stores.
pub const DATA_DIR: &str = "data_dir";
/// Metadata key set to `true` on a worker whose operator allowed separate
/// embedded stores on one prefix (`RAGWIRE_ALLOW_SEPARATE_STORES`).
pub const SEPARATE_STORES: &str = "separate_stores";

/// What is wrong when the workers of one prefix (their `$SRV.INFO`
/// replies) do not share their data: several workers, one of them on an
/// embedded store (each process has its own), so requests answer from
/// whichever store NATS picks. `None` when they agree, or when every one
/// of them was told that separate stores are meant.
pub fn split_stores(workers: &[serde_json::Value]) -> Option<String> {
    if workers.len() < 2 {
        return None;
    }
    let meta =
        |w: &serde_json::Value, key: &str| w["metadata"][key].as_str().unwrap_or("").to_owned();
    if workers.iter().all(|w| meta(w, SEPARATE_STORES) == "true") {
        return None;
    }
    let embedded: Vec<String> = workers
        .iter()
        .filter(|w| meta(w, VECTORS) == "embedded" || meta(w, GRAPH) == "embedded")
        .map(|w| {
            format!(
                "{} on {} ({})",
                w["id"].as_str().unwrap_or("?"),
                meta(w, "host"),
                meta(w, DATA_DIR)
            )
        })
        .collect();
    if embedded.is_empty() {
        return None;
    }
    Some(format!(
        "{} workers serve this prefix, and {} of them keep data in an embedded store of its own \
         ({}): each answers from its own data. Several workers need a Qdrant server \
         (QDRANT_URL) and a Bolt graph server (NEO4J_URI); or give each worker its own \
         RAGWIRE_PREFIX; or set RAGWIRE_ALLOW_SEPARATE_STORES=true on every worker if separate \
         stores are meant",
        workers.len(),
        embedded.len(),
        embedded.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn worker(id: &str, vectors: &str, graph: &str, separate: bool) -> serde_json::Value {
        json!({"id": id, "metadata": {"host": "h", "vectors": vectors, "graph": graph,
               "data_dir": "/d", "separate_stores": separate.to_string()}})
    }

    #[test]
    fn several_workers_and_an_embedded_store_are_a_split() {
        let servers = worker("a", "qdrant", "bolt", false);
        let embedded = worker("b", "embedded", "bolt", false);
        assert!(
            split_stores(std::slice::from_ref(&embedded)).is_none(),
            "one worker"
        );
        assert!(split_stores(&[servers.clone(), worker("c", "qdrant", "bolt", false)]).is_none());
        let split = split_stores(&[servers.clone(), embedded.clone()]).expect("a split");
        assert!(
            split.contains("QDRANT_URL") && split.contains("b on h (/d)"),
            "{split}"
        );
        assert!(split_stores(&[servers, worker("d", "qdrant", "embedded", false)]).is_some());
        let allowed = [
            worker("e", "embedded", "embedded", true),
            worker("f", "embedded", "embedded", true),
        ];
        assert!(split_stores(&allowed).is_none(), "separate stores meant");
        assert!(split_stores(&[allowed[0].clone(), embedded]).is_some());
    }
}
