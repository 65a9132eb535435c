//! `ragwire ping`: the workers that answer on this NATS server and prefix,
//! through the NATS service API (`$SRV.INFO.ragwire`), and the state of
//! their Qdrant cluster when they use one (`rag.info`).

use std::time::Duration;

use anyhow::ensure;
use ragwire_client::discovery::{host_name, split_stores, workers, VECTORS};
use ragwire_common::CommonConfig;
use ragwire_schemas::endpoint::Info;
use ragwire_schemas::info::{InfoRequest, VectorCluster};

/// `ragwire ping`.
#[derive(clap::Args)]
pub struct Ping {
    #[command(flatten)]
    common: CommonConfig,
    /// Only workers on this host (by host name): a container's health check.
    #[arg(long)]
    local: bool,
    /// How long to collect answers, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    wait_ms: u64,
}

/// Prints one line per answering worker, then one on their Qdrant cluster
/// when they use one; fails when no worker answers, or when the workers
/// split the prefix's data between embedded stores.
pub async fn run(args: Ping) -> anyhow::Result<()> {
    let rag = args.common.client("ragwire-ping").await?;
    let prefix = rag.prefix();
    let host = host_name();
    let mut found = 0;
    let all = workers(rag.nats(), prefix, Duration::from_millis(args.wait_ms)).await?;
    for info in &all {
        let meta = &info["metadata"];
        if args.local && meta["host"] != host.as_str() {
            continue;
        }
        found += 1;
        println!(
            "{} {} {}",
            info["id"].as_str().unwrap_or("?"),
            info["version"].as_str().unwrap_or("?"),
            meta["host"].as_str().unwrap_or("?"),
        );
    }
    let place = if args.local {
        format!(" on host {host}")
    } else {
        String::new()
    };
    ensure!(
        found > 0,
        "no ragwire worker with prefix `{prefix}` answered{place}"
    );
    if let Some(split) = split_stores(&all) {
        anyhow::bail!("prefix `{prefix}`: {split}");
    }
    // Not with `--local`, a container's health check: that stays a NATS
    // round trip, and a busy Qdrant does not make a worker unhealthy.
    if !args.local && all.iter().any(|w| w["metadata"][VECTORS] == "qdrant") {
        let info = rag
            .with_timeout(Duration::from_secs(8))
            .call::<Info>(&InfoRequest::default())
            .await;
        match info {
            Ok(info) => {
                if let Some(cluster) = info.vector_cluster {
                    println!("{}", describe(&cluster));
                }
            }
            // The workers answered: they are up, whatever the cluster says.
            Err(e) => eprintln!("the Qdrant cluster's state is unknown: rag.info: {e}"),
        }
    }
    Ok(())
}

/// One line on a Qdrant cluster: its peers and replicas, then each replica
/// that is not active.
fn describe(cluster: &VectorCluster) -> String {
    let mut line = format!(
        "qdrant cluster: {} peers, {} replicas of {} collections, {} not active",
        cluster.peers,
        cluster.replicas,
        cluster.collections,
        cluster.dead_replicas.len()
    );
    for dead in &cluster.dead_replicas {
        line.push_str(&format!(
            "; {} shard {} on peer {}: {}",
            dead.collection, dead.shard, dead.peer, dead.state
        ));
    }
    if let Some(error) = &cluster.error {
        line.push_str(&format!("; incomplete: {error}"));
    }
    line
}
