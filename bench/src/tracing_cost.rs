//! What traces cost: one worker process answering embed requests (64 in
//! flight, each text new, so each is an embedding call), then searches
//! among 2,000 chunks of its embedded store, with traces off, then
//! exported over OTLP to a receiver in this process that keeps what it is
//! sent, one trace in ten, one in a hundred and every one; rounds
//! alternate, medians compared. The spans received are counted once a
//! round is measured (decoding them meanwhile would take CPU from what is
//! measured). The same rows can be counted in instructions instead
//! ([`instructions`]), which no other load on the machine moves.

use std::sync::{Arc, Mutex};

use axum::body::Bytes as Body;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use ragwire_schemas::Subject;
use ragwire_tests::{unique_prefix, Behaviour, FakeOpenAi};

/// What the receiver was sent.
type Exports = Arc<Mutex<Vec<Body>>>;

/// An OTLP/HTTP receiver that keeps what it is sent.
async fn receive(State(exports): State<Exports>, body: Body) -> &'static str {
    exports.lock().expect("not poisoned").push(body);
    ""
}

/// CPU time (ns) the process `pid` has run, all its threads, from
/// `/proc` (Linux); 0 elsewhere.
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// The spans and bytes received since the last call, which forgets them.
fn take(exports: &Exports) -> anyhow::Result<(usize, usize)> {
    let bodies = std::mem::take(&mut *exports.lock().expect("not poisoned"));
    let mut spans = 0;
    for body in &bodies {
        let request = ExportTraceServiceRequest::decode(body.clone())?;
        spans += request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum::<usize>();
    }
    Ok((spans, bodies.iter().map(|b| b.len()).sum()))
}

/// Each row's name and worker settings: traces off, one trace in ten
/// exported, one in a hundred, every one.
type Rows = Vec<(&'static str, Vec<(&'static str, String)>)>;

/// What the rows run against: the fake embedding service (kept running),
/// the OTLP receiver, and each row's worker settings.
struct Setup {
    _fake: FakeOpenAi,
    exports: Exports,
    rows: Rows,
    root: std::path::PathBuf,
}

async fn setup(dim: usize) -> anyhow::Result<Setup> {
    let root = std::env::temp_dir().join("ragwire-bench-tracing");
    let fake = FakeOpenAi::start_with(Behaviour::default(), dim).await;
    fake.stop_recording();
    let exports = Exports::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let collector = format!("http://{}", listener.local_addr()?);
    let app = Router::new()
        .route("/v1/traces", post(receive))
        .with_state(exports.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let base = vec![
        ("RAGWIRE_EMBED_BASE_URL", fake.base_url.clone()),
        ("RAGWIRE_EMBED_MODEL", "fake".to_owned()),
        ("RAGWIRE_JOBS_ENABLED", "false".to_owned()),
    ];
    let mut on = base.clone();
    on.push(("OTEL_EXPORTER_OTLP_ENDPOINT", collector));
    let sampled = |ratio: &str| {
        let mut env = on.clone();
        env.push(("OTEL_TRACES_SAMPLER", "parentbased_traceidratio".to_owned()));
        env.push(("OTEL_TRACES_SAMPLER_ARG", ratio.to_owned()));
        env
    };
    let rows = vec![
        ("off", base),
        ("OTLP, 1 in 10", sampled("0.1")),
        ("OTLP, 1 in 100", sampled("0.01")),
        ("OTLP, every", on),
    ];
    Ok(Setup {
        _fake: fake,
        exports,
        rows,
        root,
    })
}

/// The section: requests/s with traces off and on, `rounds` each.
pub async fn run(
    nats: &async_nats::Client,
    seconds: f64,
    rounds: usize,
    dim: usize,
) -> anyhow::Result<()> {
    let setup = setup(dim).await?;
    for work in [Work::Embed, Work::Search] {
        measure_work(nats, work, seconds, rounds, &setup).await?;
    }
    Ok(())
}

/// Instructions the worker runs per request in each row, counted by
/// callgrind (valgrind must be installed): the same count for the same
/// binary and requests whatever else the machine is doing, where
/// throughput on a shared machine moves by several percent from one run
/// to the next. `requests` of `rag.embed` at 64 in flight after a warm-up
/// (a fortieth as many searches), counted from the worker's zeroed counters
/// to a dump, all its threads (exporter included). Before each, the worker
/// is left idle past the batch exporter's delay, so that the spans of the
/// warm-up are exported before the count and those of the count within
/// it.
pub async fn instructions(
    nats: &async_nats::Client,
    requests: usize,
    dim: usize,
) -> anyhow::Result<()> {
    let setup = setup(dim).await?;
    let dir = setup.root.join("callgrind");
    std::fs::create_dir_all(&dir)?;
    for work in [Work::Embed, Work::Search] {
        let requests = match work {
            Work::Embed => requests,
            Work::Search => (requests / 40).max(64),
        };
        let mut counted = Vec::new();
        for (_, env) in &setup.rows {
            let prefix = unique_prefix();
            let out = dir.join(&prefix);
            let under = [
                "valgrind".to_owned(),
                "--tool=callgrind".to_owned(),
                "--quiet".to_owned(),
                format!("--callgrind-out-file={}", out.display()),
            ];
            let workers = crate::procs::start_under(
                nats,
                &prefix,
                1,
                env,
                &setup.root,
                &under,
                std::time::Duration::from_secs(600),
            )
            .await?;
            let pid = workers.pids()[0];
            let call = work.call(crate::rag(&prefix)).await?;
            let failed = crate::load::run_count(call.clone(), 64, 640).await;
            anyhow::ensure!(failed == 0, "{failed} requests failed");
            tokio::time::sleep(EXPORT_DELAY).await;
            // Zeroed, then dumped at once: the first dump shows the
            // zeroing took (callgrind_control reports success whatever
            // happened).
            callgrind_control("-z", pid)?;
            callgrind_control("-d", pid)?;
            let failed = crate::load::run_count(call, 64, requests).await;
            anyhow::ensure!(failed == 0, "{failed} requests failed");
            tokio::time::sleep(EXPORT_DELAY).await;
            callgrind_control("-d", pid)?;
            drop(workers);
            crate::procs::clean_up(nats, &prefix, &setup.root).await;
            // The spans are not counted here: what they cost is.
            setup.exports.lock().expect("not poisoned").clear();
            let zeroed = dumped_instructions(&dir, &prefix, 1)?;
            let total = dumped_instructions(&dir, &prefix, 2)?;
            anyhow::ensure!(
                zeroed < total / 100,
                "callgrind's counters were not zeroed ({zeroed} instructions before the count)"
            );
            // What callgrind writes when the worker ends (killed: nothing).
            let _ = std::fs::remove_file(&out);
            counted.push(total as f64 / requests as f64);
        }
        let off = counted[0];
        println!();
        println!(
            "traces, one worker, {} at 64 in flight: instructions per request (callgrind, {requests} requests):",
            work.name()
        );
        println!(
            "{:<15} {:>16} {:>9} {:>26}",
            "traces", "instructions/req", "added", "throughput it allows (off=1)"
        );
        for ((name, _), count) in setup.rows.iter().zip(counted) {
            println!(
                "{:<15} {:>16.0} {:>8.1}% {:>26.3}",
                name,
                count,
                (count / off - 1.0) * 100.0,
                off / count
            );
        }
    }
    Ok(())
}

/// Longer than the batch exporter's delay (`OTEL_BSP_SCHEDULE_DELAY`, 5 s
/// by default): every span ended before it has been exported after it.
const EXPORT_DELAY: std::time::Duration = std::time::Duration::from_secs(6);

/// Runs `callgrind_control {command} {pid}` (`-z` zeroes the counters,
/// `-d` dumps them).
fn callgrind_control(command: &str, pid: u32) -> anyhow::Result<()> {
    let status = std::process::Command::new("callgrind_control")
        .arg(command)
        .arg(pid.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "callgrind_control {command}: {status}");
    Ok(())
}

/// The instructions in dump `part` callgrind wrote for the worker run as
/// `name` in `dir` (`{name}.{part}`, its `summary:` or `totals:` line);
/// the file is removed.
fn dumped_instructions(dir: &std::path::Path, name: &str, part: u32) -> anyhow::Result<u64> {
    let dump = dir.join(format!("{name}.{part}"));
    let text = std::fs::read_to_string(&dump)
        .map_err(|e| anyhow::anyhow!("callgrind's dump {}: {e}", dump.display()))?;
    std::fs::remove_file(&dump)?;
    let total = text.lines().find_map(|line| {
        let count = line
            .strip_prefix("summary:")
            .or_else(|| line.strip_prefix("totals:"))?;
        count.split_whitespace().next()?.parse().ok()
    });
    total.ok_or_else(|| anyhow::anyhow!("no total in {}", dump.display()))
}

/// The requests measured.
#[derive(Clone, Copy)]
enum Work {
    /// `rag.embed` of one new text: the cheapest request there is.
    Embed,
    /// `rag.search` among 2,000 chunks in the embedded store.
    Search,
}

/// Chunks indexed before `rag.search` is measured.
const SEARCHED: usize = 2_000;

impl Work {
    fn name(self) -> &'static str {
        match self {
            Work::Embed => "rag.embed",
            Work::Search => "rag.search",
        }
    }

    /// The request, each with a new text; for a search, once the chunks
    /// searched are indexed.
    async fn call(self, rag: ragwire_client::RagClient) -> anyhow::Result<crate::load::Call> {
        Ok(match self {
            Work::Embed => crate::load::rag_call(rag, Subject::Embed, |n| {
                Bytes::from(format!(
                    r#"{{"texts": ["text number {n} of the tracing bench"]}}"#
                ))
            }),
            Work::Search => {
                let bodies = (0..SEARCHED / 100)
                    .map(|b| {
                        let chunks: Vec<_> = (0..100)
                            .map(|i| {
                                serde_json::json!({"doc_id": format!("d{b}-{i}"),
                                "text": format!("chunk {i} of batch {b} in the tracing bench")})
                            })
                            .collect();
                        serde_json::json!({"collection": "traced", "chunks": chunks})
                    })
                    .collect();
                crate::load::index_all(&rag, bodies).await?;
                crate::load::rag_call(rag, Subject::Search, |n| {
                    Bytes::from(format!(
                        r#"{{"collection": "traced", "query": "query {n} of the tracing bench", "top_k": 5}}"#
                    ))
                })
            }
        })
    }
}

/// Requests/s of `work` in each row of `setup`, `rounds` each,
/// alternating.
async fn measure_work(
    nats: &async_nats::Client,
    work: Work,
    seconds: f64,
    rounds: usize,
    setup: &Setup,
) -> anyhow::Result<()> {
    let (exports, root) = (&setup.exports, setup.root.as_path());
    let rows = setup.rows.len();
    let mut rates = vec![Vec::new(); rows];
    // Spans received per request served, and bytes per span.
    let mut per_request = vec![Vec::new(); rows];
    let mut bytes_per_span = Vec::new();
    // The worker's CPU time per request, in microseconds: its own cost,
    // steadier than the throughput of a machine the load shares.
    let mut cpu_us = vec![Vec::new(); rows];
    for _ in 0..rounds {
        for (i, (_, env)) in setup.rows.iter().enumerate() {
            let prefix = unique_prefix();
            let workers = crate::procs::start(nats, &prefix, 1, env, root).await?;
            let call = work.call(crate::rag(&prefix)).await?;
            let cpu_before: u64 = workers.pids().into_iter().map(cpu_ns).sum();
            let outcome = crate::load::measure(call, 64, seconds).await;
            let cpu: u64 = workers.pids().into_iter().map(cpu_ns).sum::<u64>() - cpu_before;
            anyhow::ensure!(outcome.errors == 0, "{} errors", outcome.errors);
            rates[i].push(outcome.rps);
            // The warm-up's requests, then the measured ones; what the
            // worker had not exported yet when killed is lost.
            let requests = 64.0 + outcome.rps * seconds;
            cpu_us[i].push(cpu as f64 / 1e3 / requests);
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            drop(workers);
            crate::procs::clean_up(nats, &prefix, root).await;
            let (spans, bytes) = take(exports)?;
            per_request[i].push(spans as f64 / requests);
            if spans > 0 {
                bytes_per_span.push(bytes as f64 / spans as f64);
            }
        }
    }
    let median = |values: Vec<Vec<f64>>| -> Vec<f64> {
        values.into_iter().map(crate::load::median).collect()
    };
    let (rates, spans, cpu) = (median(rates), median(per_request), median(cpu_us));
    println!();
    println!(
        "traces, one worker, {} at 64 in flight ({rounds} rounds of {seconds} s, medians):",
        work.name()
    );
    println!(
        "{:<15} {:>10} {:>6} {:>16} {:>13}",
        "traces", "requests/s", "ratio", "worker CPU µs/req", "spans/request"
    );
    for (i, (name, _)) in setup.rows.iter().enumerate() {
        println!(
            "{:<15} {:>10.0} {:>6.3} {:>16.1} {:>13.2}",
            name,
            rates[i],
            rates[i] / rates[0],
            cpu[i],
            spans[i]
        );
    }
    println!(
        "{:.0} bytes of OTLP protobuf per span",
        crate::load::median(bytes_per_span)
    );
    Ok(())
}
