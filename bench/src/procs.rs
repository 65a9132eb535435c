//! `ragwire-worker` child processes, as deployed: the release binary next to
//! this one, configured through its environment.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Worker processes, killed when dropped.
pub struct Workers {
    children: Vec<Child>,
}

impl Workers {
    /// The processes' ids.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(|c| c.id()).collect()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn worker_binary() -> anyhow::Result<PathBuf> {
    binary("ragwire-worker")
}

/// The release binary `name` beside this one.
fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let bin = std::env::current_exe()?
        .parent()
        .map(|d| d.join(name))
        .ok_or_else(|| anyhow::anyhow!("no folder"))?;
    anyhow::ensure!(
        bin.is_file(),
        "{} is missing: build it with the same profile (cargo build --release --workspace --bins)",
        bin.display()
    );
    Ok(bin)
}

/// Starts `processes` workers on `prefix`, each with its own data folder
/// under `root` and the settings in `env`, and returns once every one
/// answers its service ping.
pub async fn start(
    nats: &async_nats::Client,
    prefix: &str,
    processes: usize,
    env: &[(&str, String)],
    root: &Path,
) -> anyhow::Result<Workers> {
    start_under(
        nats,
        prefix,
        processes,
        env,
        root,
        &[],
        Duration::from_secs(60),
    )
    .await
}

/// [`start`], each worker run by the command `under` (a tool and its
/// arguments, the worker's path appended; none: the worker itself), given
/// `within` to answer its ping.
pub async fn start_under(
    nats: &async_nats::Client,
    prefix: &str,
    processes: usize,
    env: &[(&str, String)],
    root: &Path,
    under: &[String],
    within: Duration,
) -> anyhow::Result<Workers> {
    let bin = worker_binary()?;
    let mut workers = Workers {
        children: Vec::new(),
    };
    for i in 0..processes {
        let mut command = match under.split_first() {
            Some((tool, args)) => {
                let mut command = Command::new(tool);
                command.args(args).arg(&bin);
                command
            }
            None => Command::new(&bin),
        };
        command
            .env("NATS_URL", ragwire_tests::nats_url())
            .env("RAGWIRE_PREFIX", prefix)
            .env("RAGWIRE_DATA_DIR", root.join(prefix).join(i.to_string()))
            .env("RUST_LOG", "warn,qdrant_edge=error")
            // Throughput is measured, not answers: workers with stores of
            // their own (the graph store here) are meant.
            .env("RAGWIRE_ALLOW_SEPARATE_STORES", "true")
            .stdout(Stdio::null());
        for (k, v) in env {
            command.env(k, v);
        }
        workers.children.push(command.spawn()?);
    }
    let started = Instant::now();
    while ping(nats, prefix).await < processes {
        anyhow::ensure!(started.elapsed() < within, "workers did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(workers)
}

/// A `ragwire-producer` process on `prefix` with the settings in `env`,
/// killed when dropped, and where it listens; returns once it answers
/// `/health`.
pub async fn producer(
    prefix: &str,
    env: &[(&str, String)],
) -> anyhow::Result<(Workers, std::net::SocketAddr)> {
    let bin = binary("ragwire-producer")?;
    // A free port: taken, then let go for the producer to bind.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let mut command = Command::new(&bin);
    command
        .env("NATS_URL", ragwire_tests::nats_url())
        .env("RAGWIRE_PREFIX", prefix)
        .env("RAGWIRE_HTTP_ADDR", addr.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    let process = Workers {
        children: vec![command.spawn()?],
    };
    let started = Instant::now();
    loop {
        if let Ok(mut tcp) = tokio::net::TcpStream::connect(addr).await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let ask = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
            let mut answer = Vec::new();
            if tcp.write_all(ask).await.is_ok()
                && tcp.read_to_end(&mut answer).await.is_ok()
                && answer.starts_with(b"HTTP/1.1 200")
            {
                return Ok((process, addr));
            }
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the producer did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Service instances answering `$SRV.INFO.ragwire` with this prefix.
async fn ping(nats: &async_nats::Client, prefix: &str) -> usize {
    ragwire_client::discovery::workers(nats, prefix, Duration::from_millis(300))
        .await
        .map_or(0, |found| found.len())
}

/// Waits until every job of `ids` is done; fails on a failed job, or after
/// half an hour.
pub async fn wait_for_jobs(
    rag: &ragwire_client::RagClient,
    mut ids: Vec<String>,
) -> anyhow::Result<()> {
    use ragwire_client::endpoint::JobsStatus;
    use ragwire_schemas::jobs::{JobRef, JobState};
    let started = Instant::now();
    while !ids.is_empty() {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut open = Vec::new();
        for id in ids {
            let job = JobRef { job_id: id.clone() };
            let status = rag.call::<JobsStatus>(&job).await?.status;
            match status.state {
                JobState::Done => {}
                JobState::Failed => anyhow::bail!("a job failed: {:?}", status.last_error),
                _ => open.push(id),
            }
        }
        ids = open;
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(1800),
            "jobs did not finish"
        );
    }
    Ok(())
}

/// Deletes what a benchmark left under `prefix`: its job streams and
/// bucket, and its workers' data directories.
pub async fn clean_up(nats: &async_nats::Client, prefix: &str, root: &Path) {
    let js = async_nats::jetstream::new(nats.clone());
    let names = ragwire_client::names::JobNames::new(prefix);
    let _ = js.delete_stream(&names.work_stream).await;
    let _ = js.delete_stream(&names.dead_stream).await;
    let _ = js.delete_key_value(&names.bucket).await;
    let _ = std::fs::remove_dir_all(root.join(prefix));
}

/// Processor time of a process so far, in seconds (utime + stime).
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name may hold spaces: count fields after its `)`.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of the line, 12 and 13 after the name; ticks of 1/100 s.
    (ticks(11) + ticks(12)) / 100.0
}

/// The pid of the first process whose name is `name`.
pub fn pid_of(name: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.find_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        (comm.trim() == name).then_some(pid)
    })
}
