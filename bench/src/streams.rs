//! Streamed chat completions (`stream: true`) against the fake model server
//! called directly, in the same run, by two routes: through the producer
//! (HTTP, server-sent events) and over NATS with `RagClient::stream`
//! straight to the worker, so that the producer's part and the worker's are
//! measured apart. The worker and the producer run as processes of their
//! own, as deployed (`--stream-in-process`: in the benchmark's). Per number
//! of streams in flight, at a model's pace (11 chunks 50 ms apart) with
//! every stream starting at once, then with their starts spread over a
//! stream's length, and flat out (11 chunks at once): the time to the first
//! chunk (p50, p95, p99) and streams per second; then chunks per second
//! with 64 long streams.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use ragwire_client::stream::Streamed;
use ragwire_client::RagClient;
use ragwire_schemas::Subject;
use ragwire_tests::fake::StreamPlan;
use ragwire_tests::{start_producer, start_worker, test_config, test_http, FakeOpenAi};
use serde_json::json;

use crate::load::{connect, median, Connection};

/// Content chunks of a short stream; the fake adds the last (`stop`) one,
/// so a stream is 11 chunks.
const CHUNKS: usize = 10;
/// A model's pace: the fake waits this long before each chunk.
const MODEL_PACE: Duration = Duration::from_millis(50);

/// What is measured, and how long.
pub struct Plan {
    /// Seconds measured per cell and round.
    pub seconds: f64,
    /// Rounds over every cell; tables give medians.
    pub rounds: usize,
    /// Streams in flight.
    pub levels: Vec<usize>,
    /// `model` (chunks 50 ms apart, every stream starting at once),
    /// `model-spread` (the same, starts spread over a stream's length),
    /// `flat` (chunks at once).
    pub paces: Vec<String>,
    /// Routes besides `direct`: `producer`, `nats`.
    pub routes: Vec<String>,
    /// Also the chunks per second of 64 long streams.
    pub long: bool,
    /// The worker and the producer in processes of their own (the release
    /// binaries beside this one) rather than in the benchmark's.
    pub processes: bool,
    /// Only start the fake model (at a model's pace), the worker and the
    /// producer, and keep them up until interrupted.
    pub serve: bool,
}

/// How a stream reaches the model.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    /// HTTP straight to the fake.
    Direct,
    /// HTTP to the producer, NATS to the worker, HTTP to the fake.
    Producer,
    /// `RagClient::stream` to the worker, HTTP to the fake.
    Nats,
}

impl Route {
    fn name(self) -> &'static str {
        match self {
            Route::Direct => "direct",
            Route::Producer => "producer",
            Route::Nats => "nats",
        }
    }
}

/// Where the streams go.
struct Targets {
    fake: SocketAddr,
    /// The fake's counters (connections it accepted).
    model: std::sync::Arc<ragwire_tests::fake::FakeState>,
    /// The processes whose CPU time is read per cell.
    cpu: Cpu,
    producer: SocketAddr,
    rag: RagClient,
}

pub async fn run(plan: &Plan) -> anyhow::Result<()> {
    let fake = FakeOpenAi::start().await;
    fake.stop_recording();
    let config = test_config(&fake);
    let prefix = config.common.prefix.clone();
    let root = std::env::temp_dir().join("ragwire-bench-streams");
    let (_in_process, processes, producer) = if plan.processes {
        let env = [
            ("RAGWIRE_LLM_BASE_URL", fake.base_url.clone()),
            (
                "RAGWIRE_LLM_ALIASES",
                "rag-answer=fake-answer-model".to_owned(),
            ),
            ("RAGWIRE_EMBED_BASE_URL", fake.base_url.clone()),
            ("RAGWIRE_JOBS_ENABLED", "false".to_owned()),
            ("RAGWIRE_HTTP_MAX_CONCURRENCY", "100000".to_owned()),
            ("RAGWIRE_HTTP_MAX_STREAMS", "100000".to_owned()),
        ];
        let nats = crate::rag(&prefix).nats().clone();
        let worker = crate::procs::start(&nats, &prefix, 1, &env, &root).await?;
        let (producer, addr) = crate::procs::producer(&prefix, &env).await?;
        (None, Some((worker, producer)), addr)
    } else {
        let worker = start_worker(&config).await;
        let mut http = test_http();
        http.max_concurrency = 100_000;
        http.max_streams = 100_000;
        let producer = start_producer(&config, &http).await;
        let addr = producer.addr;
        (Some((worker, producer)), None, addr)
    };
    let targets = Targets {
        fake: fake.root.trim_start_matches("http://").parse()?,
        model: fake.state.clone(),
        cpu: Cpu::of(processes.as_ref().map(|(w, p)| (w.pids()[0], p.pids()[0]))),
        producer,
        rag: crate::rag(&prefix),
    };
    if plan.serve {
        fake.stream_plan(StreamPlan {
            chunks: CHUNKS,
            gap: MODEL_PACE,
            ..Default::default()
        });
        println!(
            "model (chunks {} ms apart): http://{}/v1, producer: http://{}/v1, NATS prefix: {prefix}; Ctrl-C stops",
            MODEL_PACE.as_millis(),
            targets.fake,
            targets.producer
        );
        tokio::signal::ctrl_c().await?;
        drop(processes);
        crate::procs::clean_up(targets.rag.nats(), &prefix, &root).await;
        return Ok(());
    }
    let mut routes = vec![Route::Direct];
    for name in &plan.routes {
        match name.as_str() {
            "producer" => routes.push(Route::Producer),
            "nats" => routes.push(Route::Nats),
            "direct" => {}
            other => anyhow::bail!("unknown route {other} (producer, nats)"),
        }
    }

    println!();
    println!(
        "streamed chat completions of {} chunks: direct to the fake model, through the producer, over NATS to the worker; {} rounds of {} s, medians:",
        CHUNKS + 1,
        plan.rounds,
        plan.seconds
    );
    println!(
        "{:<12} {:>7} {:<9} {:>9} {:>9} {:>9} {:>10} {:>12} {:>12} {:>10} {:>7} {:>9} {:>28}",
        "pace",
        "streams",
        "route",
        "first p50",
        "first p95",
        "first p99",
        "streams/s",
        "p95 - direct",
        "p99 - direct",
        "/ direct",
        "errors",
        "conns/str",
        "CPU µs/stream: bench nats worker producer"
    );
    for pace in &plan.paces {
        // A stream at a model's pace lasts 11 gaps; `model-spread` starts
        // its slots over that time, one after the other, as independent
        // users would, where `model` starts them all at the same instant.
        let (gap, spread) = match pace.as_str() {
            "model" => (MODEL_PACE, Duration::ZERO),
            "model-spread" => (MODEL_PACE, MODEL_PACE * (CHUNKS as u32 + 1)),
            "flat" => (Duration::ZERO, Duration::ZERO),
            other => anyhow::bail!("unknown pace {other} (model, model-spread, flat)"),
        };
        fake.stream_plan(StreamPlan {
            chunks: CHUNKS,
            gap,
            ..Default::default()
        });
        for &streams in &plan.levels {
            // Per route: each round's figures; the differences and ratios
            // to `direct` are taken within a round.
            let mut rounds: Vec<Vec<Measured>> = routes.iter().map(|_| Vec::new()).collect();
            for _ in 0..plan.rounds {
                for (i, &route) in routes.iter().enumerate() {
                    rounds[i].push(measure(&targets, route, streams, plan.seconds, spread).await);
                }
            }
            for (i, &route) in routes.iter().enumerate() {
                let of = |f: fn(&Measured) -> f64| median(rounds[i].iter().map(f).collect());
                let against = |f: fn(&Measured, &Measured) -> f64| {
                    median(
                        rounds[i]
                            .iter()
                            .zip(&rounds[0])
                            .map(|(m, d)| f(m, d))
                            .collect(),
                    )
                };
                let (added, added_p99, ratio) = if route == Route::Direct {
                    (String::new(), String::new(), String::new())
                } else {
                    (
                        format!("{:+.1}", against(|m, d| m.p95 - d.p95)),
                        format!("{:+.1}", against(|m, d| m.p99 - d.p99)),
                        format!("{:.3}", against(|m, d| m.streams_per_s / d.streams_per_s)),
                    )
                };
                println!(
                    "{:<12} {:>7} {:<9} {:>9.2} {:>9.2} {:>9.2} {:>10.1} {:>12} {:>12} {:>10} {:>7} {:>9.3} {:>7.0} {:>6.0} {:>6.0} {:>6.0}",
                    pace,
                    streams,
                    route.name(),
                    of(|m| m.p50),
                    of(|m| m.p95),
                    of(|m| m.p99),
                    of(|m| m.streams_per_s),
                    added,
                    added_p99,
                    ratio,
                    rounds[i].iter().map(|m| m.errors).sum::<u64>(),
                    of(|m| m.connections),
                    of(|m| m.cpu[0]),
                    of(|m| m.cpu[1]),
                    of(|m| m.cpu[2]),
                    of(|m| m.cpu[3])
                );
            }
        }
    }
    if plan.long {
        long_streams(&fake, &targets, &routes, plan).await;
    }
    if plan.processes {
        drop(processes);
        crate::procs::clean_up(targets.rag.nats(), &prefix, &root).await;
    }
    Ok(())
}

/// Chunks per second with 64 streams of 500 chunks at once.
async fn long_streams(fake: &FakeOpenAi, targets: &Targets, routes: &[Route], plan: &Plan) {
    fake.stream_plan(StreamPlan {
        chunks: 500,
        ..Default::default()
    });
    let mut rates: Vec<Vec<f64>> = routes.iter().map(|_| Vec::new()).collect();
    let mut ratios: Vec<Vec<f64>> = routes.iter().map(|_| Vec::new()).collect();
    for _ in 0..plan.rounds {
        let mut direct = f64::NAN;
        for (i, &route) in routes.iter().enumerate() {
            let rate = measure(targets, route, 64, plan.seconds, Duration::ZERO)
                .await
                .chunks_per_s;
            if route == Route::Direct {
                direct = rate;
            }
            rates[i].push(rate);
            ratios[i].push(rate / direct);
        }
    }
    let line: Vec<String> = routes
        .iter()
        .enumerate()
        .map(|(i, route)| {
            let rate = median(rates[i].clone());
            if *route == Route::Direct {
                format!("direct {rate:.0}")
            } else {
                let share = 100.0 * median(ratios[i].clone());
                format!("{} {rate:.0} ({share:.0}% of direct)", route.name())
            }
        })
        .collect();
    println!("chunks/s, 64 streams of 500 chunks: {}", line.join(", "));
}

/// One cell: `streams` slots, each streaming one request after another
/// for `seconds`.
struct Measured {
    p50: f64,
    p95: f64,
    p99: f64,
    streams_per_s: f64,
    chunks_per_s: f64,
    errors: u64,
    /// Connections the model accepted per stream measured.
    connections: f64,
    /// CPU time per stream (µs) of the bench (client and model), the NATS
    /// server, the worker and the producer.
    cpu: [f64; 4],
}

/// What one slot saw.
#[derive(Default)]
struct Slot {
    firsts: Vec<Duration>,
    streams: u64,
    chunks: u64,
    errors: u64,
}

/// Each slot is a task of its own, with a connection of its own for the
/// HTTP routes (kept alive, one stream at a time, as an SDK holds it): the
/// load generator's cost per stream stays small and spread over the
/// runtime's threads, and one slot's chunks never wait for another's.
async fn measure(
    targets: &Targets,
    route: Route,
    streams: usize,
    seconds: f64,
    spread: Duration,
) -> Measured {
    let addr = match route {
        Route::Direct => targets.fake,
        _ => targets.producer,
    };
    // Every slot runs one stream unmeasured first (its connection opened,
    // the worker's pool to the model grown); then slot `i` of `n` starts
    // `i / n` of `spread` after the first.
    // Connections the model accepts, the slots' first streams' included.
    let accepted = || {
        targets
            .model
            .connections
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let accepted_before = accepted();
    let cpu_before = targets.cpu.seconds();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(streams));
    let start = std::sync::Arc::new(std::sync::OnceLock::<Instant>::new());
    let slots: Vec<_> = (0..streams)
        .map(|i| {
            let rag = targets.rag.clone();
            let (barrier, start) = (barrier.clone(), start.clone());
            tokio::spawn(async move {
                let mut slot = Slot::default();
                let mut conn = None;
                let body = |n: u64| {
                    Bytes::from(
                        json!({"model": "rag-answer", "stream": true,
                        "messages": [{"role": "user", "content": format!("stream {} {i} {n}", route.name())}]})
                        .to_string(),
                    )
                };
                let _ = one(route, &rag, &mut conn, addr, body(0)).await;
                barrier.wait().await;
                let begun = *start.get_or_init(Instant::now);
                let deadline = begun + Duration::from_secs_f64(seconds);
                tokio::time::sleep_until(
                    (begun + spread.mul_f64(i as f64 / streams as f64)).into(),
                )
                .await;
                let mut n = 0;
                while Instant::now() < deadline {
                    n += 1;
                    match one(route, &rag, &mut conn, addr, body(n)).await {
                        Some((first, chunks)) => {
                            slot.firsts.push(first);
                            slot.streams += 1;
                            slot.chunks += chunks;
                        }
                        None => slot.errors += 1,
                    }
                }
                (slot, Instant::now())
            })
        })
        .collect();
    let mut hist = Histogram::<u64>::new(3).expect("histogram");
    let (mut done, mut chunks, mut errors) = (0, 0, 0);
    let mut last = None::<Instant>;
    for slot in slots {
        let (slot, ended) = slot.await.expect("a stream slot");
        for first in slot.firsts {
            let _ = hist.record(first.as_micros() as u64);
        }
        done += slot.streams;
        chunks += slot.chunks;
        errors += slot.errors;
        last = last.max(Some(ended));
    }
    let started = start.get().copied().unwrap_or_else(Instant::now);
    let elapsed = last
        .map_or(Duration::ZERO, |l| l.duration_since(started))
        .as_secs_f64();
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1e3;
    Measured {
        p50: ms(0.50),
        p95: ms(0.95),
        p99: ms(0.99),
        streams_per_s: done as f64 / elapsed,
        chunks_per_s: chunks as f64 / elapsed,
        errors,
        connections: accepted().saturating_sub(accepted_before) as f64 / done.max(1) as f64,
        cpu: targets.cpu.per_stream(cpu_before, done),
    }
}

/// One stream by `route`: the time to its first chunk, and its chunks.
async fn one(
    route: Route,
    rag: &RagClient,
    conn: &mut Option<Connection>,
    addr: SocketAddr,
    body: Bytes,
) -> Option<(Duration, u64)> {
    match route {
        Route::Nats => over_nats(rag, body).await,
        Route::Direct | Route::Producer => over_http(conn, addr, body).await,
    }
}

/// One stream through HTTP on `conn` (opened on `addr` when there is none,
/// or it was closed): the time to its first `data:` event, and its chunks.
async fn over_http(
    conn: &mut Option<Connection>,
    addr: SocketAddr,
    body: Bytes,
) -> Option<(Duration, u64)> {
    let started = Instant::now();
    if conn.as_ref().is_none_or(|c| c.is_closed()) {
        *conn = Some(connect(addr).await.ok()?);
    }
    let sender = conn.as_mut()?;
    sender.ready().await.ok()?;
    let request = hyper::Request::post("/v1/chat/completions")
        .header(hyper::header::HOST, addr.to_string())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .ok()?;
    let response = sender.send_request(request).await.ok()?;
    if !response.status().is_success() {
        let _ = response.into_body().collect().await;
        return None;
    }
    let mut body = response.into_body();
    let mut first = None;
    let mut events = 0u64;
    // The last bytes of the previous piece, so that a `data: ` split
    // between two pieces is counted once.
    let mut tail: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.ok()?.into_data() else {
            continue;
        };
        let mut joined = std::mem::take(&mut tail);
        joined.extend_from_slice(&data);
        let found = count(&joined, b"data: ");
        if found > 0 && first.is_none() {
            first = Some(started.elapsed());
        }
        events += found;
        let keep = joined.len().saturating_sub(5);
        tail = joined[keep..].to_vec();
    }
    // Less the `[DONE]` event.
    Some((first?, events.saturating_sub(1)))
}

/// One stream over NATS: the time to its first chunk, and its chunks.
async fn over_nats(rag: &RagClient, body: Bytes) -> Option<(Duration, u64)> {
    use futures::StreamExt;
    let started = Instant::now();
    let Streamed::Chunks(mut chunks) = rag
        .stream(Subject::V1ChatCompletions, body, None)
        .await
        .ok()?
    else {
        return None;
    };
    let first = started.elapsed();
    let mut count = 0u64;
    while let Some(chunk) = chunks.next().await {
        chunk.ok()?;
        count += 1;
    }
    Some((first, count))
}

fn count(haystack: &[u8], needle: &[u8]) -> u64 {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count() as u64
}

/// Reads the CPU time (user and system, all threads) of the bench's own
/// process, the NATS server and, when they run apart, the worker and the
/// producer: what a stream costs where, apart from how long it waits.
struct Cpu {
    pids: [Option<u32>; 4],
}

impl Cpu {
    fn of(apart: Option<(u32, u32)>) -> Cpu {
        Cpu {
            pids: [
                Some(std::process::id()),
                crate::procs::pid_of("nats-server"),
                apart.map(|a| a.0),
                apart.map(|a| a.1),
            ],
        }
    }

    /// Each process's CPU seconds so far (`None`: not known).
    fn seconds(&self) -> [Option<f64>; 4] {
        self.pids.map(|pid| pid.map(crate::procs::cpu_seconds))
    }

    /// CPU µs per stream of each process since `before` (NaN: not known).
    fn per_stream(&self, before: [Option<f64>; 4], streams: u64) -> [f64; 4] {
        let now = self.seconds();
        std::array::from_fn(|i| match (before[i], now[i]) {
            (Some(b), Some(n)) if streams > 0 => (n - b).max(0.0) * 1e6 / streams as f64,
            _ => f64::NAN,
        })
    }
}
