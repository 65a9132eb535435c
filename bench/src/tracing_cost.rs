//! What traces cost: one worker process answering embed requests (64 in
//! flight, each text new, so each is an embedding call), then searches
//! among 2,000 chunks of its embedded store, with traces off,
//! then exported over OTLP to a receiver in this process that keeps what
//! it is sent, every request sampled and one in ten; rounds alternate,
//! medians compared. The spans received are counted once a round is
//! measured (decoding them meanwhile would take CPU from what is measured).

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

/// The section: requests/s with traces off and on, `rounds` each.
pub async fn run(
    nats: &async_nats::Client,
    seconds: f64,
    rounds: usize,
    dim: usize,
) -> anyhow::Result<()> {
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
    let mut sampled = on.clone();
    sampled.push(("OTEL_TRACES_SAMPLER", "parentbased_traceidratio".to_owned()));
    sampled.push(("OTEL_TRACES_SAMPLER_ARG", "0.1".to_owned()));
    for work in [Work::Embed, Work::Search] {
        measure_work(
            nats,
            work,
            seconds,
            rounds,
            [&base, &on, &sampled],
            &exports,
            &root,
        )
        .await?;
    }
    Ok(())
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
}

/// Requests/s of `work` with traces off, every request exported and one
/// in ten (`envs`), `rounds` each, alternating.
async fn measure_work(
    nats: &async_nats::Client,
    work: Work,
    seconds: f64,
    rounds: usize,
    envs: [&Vec<(&str, String)>; 3],
    exports: &Exports,
    root: &std::path::Path,
) -> anyhow::Result<()> {
    let mut rates: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    // Spans received per request served, and bytes per span.
    let mut per_request: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let mut bytes_per_span = Vec::new();
    // The worker's CPU time per request, in microseconds: its own cost,
    // steadier than the throughput of a machine the load shares.
    let mut cpu_us: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..rounds {
        for (i, env) in envs.into_iter().enumerate() {
            let prefix = unique_prefix();
            let workers = crate::procs::start(nats, &prefix, 1, env, root).await?;
            let rag = crate::rag(&prefix);
            let call = match work {
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
            };
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
    let [off, on, sampled] = rates.map(crate::load::median);
    let [_, on_spans, sampled_spans] = per_request.map(crate::load::median);
    let [off_cpu, on_cpu, sampled_cpu] = cpu_us.map(crate::load::median);
    println!();
    println!(
        "traces, one worker, {} at 64 in flight ({rounds} rounds of {seconds} s, medians):",
        work.name()
    );
    println!(
        "{:<12} {:>10} {:>6} {:>16} {:>13}",
        "traces", "requests/s", "ratio", "worker CPU µs/req", "spans/request"
    );
    println!("{:<12} {:>10.0} {:>6.3} {:>16.1}", "off", off, 1.0, off_cpu);
    println!(
        "{:<12} {:>10.0} {:>6.3} {:>16.1} {:>13.2}",
        "OTLP",
        on,
        on / off,
        on_cpu,
        on_spans
    );
    println!(
        "{:<12} {:>10.0} {:>6.3} {:>16.1} {:>13.2}",
        "OTLP, 10 %",
        sampled,
        sampled / off,
        sampled_cpu,
        sampled_spans
    );
    println!(
        "{:.0} bytes of OTLP protobuf per span",
        crate::load::median(bytes_per_span)
    );
    Ok(())
}
