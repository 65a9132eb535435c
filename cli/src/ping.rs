//! `ragwire ping`: the workers that answer on this NATS server and prefix,
//! through the NATS service API (`$SRV.INFO.ragwire`).

use std::time::Duration;

use anyhow::ensure;
use futures::StreamExt;
use serde_json::Value;

#[derive(clap::Args)]
pub struct Ping {
    /// Only workers on this host (by host name): a container's health check.
    #[arg(long)]
    local: bool,
    /// How long to collect answers, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    wait_ms: u64,
}

/// Prints one line per answering worker; fails when none answers.
pub async fn run(nats: &async_nats::Client, prefix: &str, args: Ping) -> anyhow::Result<()> {
    let host = ragwire_worker::service::host_name();
    let inbox = nats.new_inbox();
    let mut replies = nats.subscribe(inbox.clone()).await?;
    nats.publish_with_reply("$SRV.INFO.ragwire", inbox, "".into())
        .await?;
    let mut found = 0;
    let wait = tokio::time::sleep(Duration::from_millis(args.wait_ms));
    tokio::pin!(wait);
    loop {
        tokio::select! {
            Some(m) = replies.next() => {
                let info: Value = serde_json::from_slice(&m.payload).unwrap_or_default();
                let meta = &info["metadata"];
                if meta["prefix"] != prefix || (args.local && meta["host"] != host.as_str()) {
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
            _ = &mut wait => break,
        }
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
    Ok(())
}
