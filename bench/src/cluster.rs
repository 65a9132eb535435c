//! A Qdrant cluster against one Qdrant server: bulk ingest (chunks/s,
//! through jobs) and search (requests/s, p95) with two `ragwire-worker`
//! processes and the instant fake embedder, on one server and on three
//! nodes (`scripts/qdrant-cluster`; collections of 3 shards and 2
//! replicas, the settings docs/operations.md gives), then on the cluster
//! with one node killed. Each store is started by the benchmark, on ports
//! and folders of its own, and stopped after.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ragwire_schemas::Subject;
use ragwire_tests::{unique_prefix, FakeOpenAi, QdrantCluster};
use serde_json::json;

use crate::load::{measure, rag_call};
use crate::scale::{ingest, SEARCHES_IN_FLIGHT};
use crate::vectors::sentence;

/// A Qdrant server of the benchmark's own (`scripts/qdrant`), stopped when
/// dropped.
struct Single {
    dir: std::path::PathBuf,
    grpc: u16,
}

impl Single {
    fn start(dir: &Path) -> anyhow::Result<Single> {
        let free = || -> anyhow::Result<u16> {
            Ok(std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port())
        };
        let single = Single {
            dir: dir.to_owned(),
            grpc: free()?,
        };
        let status = single.script(free()?).arg("start").status()?;
        anyhow::ensure!(status.success(), "scripts/qdrant start failed");
        Ok(single)
    }

    fn script(&self, http: u16) -> Command {
        let mut command =
            Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/qdrant"));
        command
            .env("RAGWIRE_QDRANT_DIR", &self.dir)
            .env("RAGWIRE_QDRANT_HTTP_PORT", http.to_string())
            .env("RAGWIRE_QDRANT_GRPC_PORT", self.grpc.to_string());
        // The binary scripts/qdrant unpacked for the tests, when it did.
        let shared = Path::new("/var/tmp/ragwire-qdrant/qdrant");
        if std::env::var_os("QDRANT_BIN").is_none() && shared.is_file() {
            command.env("QDRANT_BIN", shared);
        }
        command
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc)
    }
}

impl Drop for Single {
    fn drop(&mut self) {
        let _ = self.script(0).arg("stop").status();
    }
}

/// One row: ingest `chunks` (documents from `first_doc`) into `collection`
/// and search it, through workers on `prefix`.
async fn row(
    label: &str,
    prefix: &str,
    collection: &str,
    chunks: usize,
    first_doc: usize,
    seconds: f64,
) -> anyhow::Result<()> {
    let rag = crate::rag(prefix).with_timeout(Duration::from_secs(60));
    let chunks_per_second = ingest(&rag, collection, chunks, first_doc).await?;
    let collection = collection.to_owned();
    let search = rag_call(rag, Subject::Search, move |n| {
        serde_json::to_vec(
            &json!({"query": sentence(n + 1_000_000), "collection": collection, "top_k": 5}),
        )
        .unwrap()
        .into()
    });
    let o = measure(search, SEARCHES_IN_FLIGHT, seconds).await;
    println!(
        "{label:<34} {chunks_per_second:>9.0} {:>9.0} {:>7.1} {:>7.1} {:>6}",
        o.rps, o.p50, o.p95, o.errors
    );
    Ok(())
}

pub async fn run(
    nats: &async_nats::Client,
    chunks: usize,
    seconds: f64,
    dim: usize,
) -> anyhow::Result<()> {
    let fake = FakeOpenAi::start_with(Default::default(), dim).await;
    fake.stop_recording();
    let root = std::env::temp_dir().join("ragwire-bench-cluster");
    let _ = std::fs::remove_dir_all(&root);
    println!();
    println!(
        "Qdrant cluster: {chunks} chunks ingested as jobs by 2 workers, then searches with \
         {SEARCHES_IN_FLIGHT} in flight for {seconds} s; instant fake embedder ({dim} dimensions):"
    );
    println!(
        "{:<34} {:>9} {:>9} {:>7} {:>7} {:>6}",
        "store", "chunks/s", "search/s", "p50 ms", "p95 ms", "errors"
    );
    let env = |url: String, cluster: bool| {
        let mut env = vec![
            ("RAGWIRE_EMBED_BASE_URL", fake.base_url.clone()),
            ("RAGWIRE_EMBED_MODEL", "fake".to_owned()),
            ("RAGWIRE_LIMITS_MAX_IN_FLIGHT", "4096".to_owned()),
            ("QDRANT_URL", url),
        ];
        if cluster {
            env.push(("RAGWIRE_VECTORS_SHARDS", "3".to_owned()));
            env.push(("RAGWIRE_VECTORS_REPLICATION_FACTOR", "2".to_owned()));
        }
        env
    };

    {
        let single = Single::start(&root.join("single"))?;
        let prefix = unique_prefix();
        let workers =
            crate::procs::start(nats, &prefix, 2, &env(single.url(), false), &root).await?;
        let collection = format!("cluster-{prefix}");
        row("one server", &prefix, &collection, chunks, 0, seconds).await?;
        drop(workers);
        crate::procs::clean_up(nats, &prefix, &root).await;
    }

    let cluster = QdrantCluster::start(&root.join("cluster"));
    let prefix = unique_prefix();
    // Both workers on node 1; node 3 is the one that goes down.
    let workers =
        crate::procs::start(nats, &prefix, 2, &env(cluster.grpc_url(1), true), &root).await?;
    let collection = format!("cluster-{prefix}");
    row(
        "3 nodes, 3 shards x 2 replicas",
        &prefix,
        &collection,
        chunks,
        0,
        seconds,
    )
    .await?;
    cluster.kill(3);
    let docs = chunks.div_ceil(100);
    row(
        "the same, node 3 down",
        &prefix,
        &collection,
        chunks,
        docs,
        seconds,
    )
    .await?;
    drop(workers);
    crate::procs::clean_up(nats, &prefix, &root).await;
    drop(cluster);
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}
