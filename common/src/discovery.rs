//! Finding the workers ([`ragwire_client::discovery`]), with this crate's
//! errors.

use std::time::Duration;

pub use ragwire_client::discovery::{
    host_name, split_stores, DATA_DIR, GRAPH, SEPARATE_STORES, SERVICE_NAME, VECTORS,
};

use crate::Error;

/// The `$SRV.INFO` replies of the ragwire workers with `prefix` that answer
/// within `wait`, through the NATS service API.
pub async fn workers(
    client: &async_nats::Client,
    prefix: &str,
    wait: Duration,
) -> Result<Vec<serde_json::Value>, Error> {
    Ok(ragwire_client::discovery::workers(client, prefix, wait).await?)
}
