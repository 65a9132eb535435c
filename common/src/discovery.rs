//! Finding the workers: each registers as the NATS micro-service
//! [`SERVICE_NAME`], with its prefix and host in the service metadata.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use crate::Error;

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
) -> Result<Vec<serde_json::Value>, Error> {
    let fail = |e: String| Error::Nats(format!("cannot ask for the workers: {e}"));
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
