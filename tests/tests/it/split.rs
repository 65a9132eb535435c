//! No silent split of data: workers announce where their data lives, a
//! second worker with a store of its own refuses to join a prefix, and a
//! split that happens anyway (separate stores allowed on one side) is
//! reported by `ragwire ping` and the producer's `/health`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use ragwire_client::discovery::workers;
use ragwire_tests::*;
use serde_json::Value;

async fn infos(t: &Fixture) -> Vec<Value> {
    workers(t.rag.nats(), t.prefix(), Duration::from_millis(300))
        .await
        .unwrap()
}

#[tokio::test]
async fn workers_announce_their_stores() {
    let t = Fixture::started().await;
    let found = infos(&t).await;
    assert_eq!(found.len(), 1);
    let meta = &found[0]["metadata"];
    assert_eq!(
        (meta["vectors"].as_str(), meta["graph"].as_str()),
        (Some("embedded"), Some("embedded"))
    );
    let dir = std::fs::canonicalize(&t.config.worker.data_dir).unwrap();
    assert_eq!(meta["data_dir"], dir.display().to_string());
    assert!(!meta["host"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn a_second_worker_with_a_store_of_its_own_refuses_to_join() {
    let t = Fixture::started().await;
    let mut second = t.config.clone();
    second.worker.data_dir = t.config.worker.data_dir.join("second");
    let started = Instant::now();
    let mut command = worker_command(&second);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    // Waited for without blocking: the first worker answers on this runtime.
    let out = tokio::time::timeout(
        Duration::from_secs(15),
        tokio::process::Command::from(command)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the second worker stops by itself")
    .expect("the worker binary runs");
    assert!(
        !out.status.success(),
        "a second embedded-store worker started"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    let log = std::fs::read_to_string(second.worker.data_dir.join("child.log")).unwrap_or_default()
        + &String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("refusing to serve prefix"), "{log}");
    assert!(
        log.contains("QDRANT_URL") && log.contains("RAGWIRE_ALLOW_SEPARATE_STORES"),
        "{log}"
    );
    assert_eq!(infos(&t).await.len(), 1, "the first worker serves alone");

    // In-process the same, as an error.
    let err = match ragwire_worker::start(second.clone()).await {
        Ok(_) => panic!("joined"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("refusing to serve prefix"), "{err}");
}

#[tokio::test]
async fn a_split_that_happens_anyway_is_reported() {
    let mut t = Fixture::started().await;
    let health = t.producer().await.url("/health");
    let mut second = t.config.clone();
    second.worker.data_dir = t.config.worker.data_dir.join("second");
    second.worker.allow_separate_stores = true;
    let _second = start_worker(&second).await;
    assert_eq!(infos(&t).await.len(), 2);

    let ping = tokio::process::Command::new(binary("ragwire"))
        .args(["ping"])
        .env("NATS_URL", &t.config.common.nats.url)
        .env("RAGWIRE_PREFIX", t.prefix())
        .output()
        .await
        .unwrap();
    assert!(!ping.status.success(), "ping passes a split");
    let said = String::from_utf8_lossy(&ping.stderr);
    assert!(said.contains("embedded store"), "{said}");

    let http = reqwest::Client::new();
    let started = Instant::now();
    let body = loop {
        let r = http.get(&health).send().await.unwrap();
        if r.status() == 503 {
            break r.json::<Value>().await.unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "/health did not report the split"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        body["split"].as_str().unwrap().contains("QDRANT_URL"),
        "{body}"
    );
    assert_eq!(body["nats"], "connected");
}

#[tokio::test]
async fn workers_on_the_servers_share_a_prefix() {
    let mut t = Fixture::new().await;
    t.use_qdrant();
    t.use_bolt();
    t.start().await;
    let _second = start_worker(&t.config).await;
    let found = infos(&t).await;
    assert_eq!(found.len(), 2);
    assert!(ragwire_client::discovery::split_stores(&found).is_none());
}
