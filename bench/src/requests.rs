//! Request-reply throughput: ragwire's subjects against a bare NATS echo on
//! the same server, at several concurrency levels, in interleaved rounds.
//!
//! Scenarios:
//! - `nats-echo`: a bare NATS responder echoing the payload (the ceiling);
//! - `nats-embed` / `nats-embed-hit` / `nats-chat`: NATS -> worker (in this
//!   process) -> instant fake backend, embed with a new text each request
//!   (every one reaches the backend), embed with one repeated text (answered
//!   from the cache), chat; `nats-embed-b64` as `nats-embed` with the
//!   vectors asked as base64 (`encoding_format`);
//! - `nats-embed-inproc`: as `nats-embed` with the worker's embedding
//!   backend a function computing the fake's vectors in its process: the
//!   worker's own cost, without the HTTP exchange with the backend;
//! - `proc-embed`: as `nats-embed`, with the worker as a process of its own
//!   (the release `ragwire-worker` binary), as deployed;
//! - `http-embed`: HTTP -> producer -> NATS -> worker -> fake, new texts.
//!
//! Each round measures every scenario at every level once; a ratio is taken
//! within a round (echo and scenario measured moments apart) and the tables
//! give medians over the rounds, since a shared machine drifts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use ragwire_schemas::Subject;
use ragwire_tests::fake::fake_vector;
use ragwire_tests::{start_producer, start_worker, test_config, test_http, FakeOpenAi};
use ragwire_worker::testing::EmbedBackend;

use crate::load::{http_call_with, measure, nats_call, rag_call, Call, Outcome};

/// What the section measures.
pub struct Plan {
    pub seconds: f64,
    pub rounds: usize,
    pub concurrency: Vec<usize>,
    /// Scenarios besides `nats-echo` (empty: all).
    pub only: Vec<String>,
    /// Most embedding backend calls in flight per worker.
    pub embed_calls: usize,
    /// The batcher's window in microseconds.
    pub batch_window_us: u64,
    /// Embedding dimension of the fake backend.
    pub dim: usize,
}

const SCENARIOS: [&str; 8] = [
    "nats-echo",
    "nats-embed",
    "nats-embed-hit",
    "nats-embed-b64",
    "nats-embed-inproc",
    "nats-chat",
    "proc-embed",
    "http-embed",
];

pub async fn run(plan: &Plan, fake: &FakeOpenAi, nats: &async_nats::Client) -> anyhow::Result<()> {
    let wanted = |name: &str| {
        name == "nats-echo" || plan.only.is_empty() || plan.only.iter().any(|o| o == name)
    };
    let mut config = test_config(fake);
    config.limits.max_in_flight = 4096;
    config.embed.max_concurrency = plan.embed_calls;
    config.embed.batch_window = Duration::from_micros(plan.batch_window_us);
    // The default cache: `nats-embed-hit` repeats one text.
    config.embed.cache = ragwire_worker::Config::default().embed.cache;
    let worker = start_worker(&config).await;
    let producer = start_producer(&config, &test_http()).await;
    // The same worker with its embedding backend a function call.
    let mut inproc_config = test_config(fake);
    inproc_config.limits = config.limits.clone();
    inproc_config.embed = config.embed.clone();
    let inproc = if wanted("nats-embed-inproc") {
        let dim = plan.dim;
        let client = ragwire_tests::nats().await;
        let state = ragwire_worker::testing::State::builder(inproc_config.clone())
            .embed_backend(Arc::new(InProcess { dim }))
            .build(&client)
            .await?;
        Some(ragwire_worker::testing::start_with_state(state, client).await?)
    } else {
        None
    };

    let echo_subject = format!("{}.echo", config.common.prefix);
    let mut echo = nats
        .queue_subscribe(echo_subject.clone(), "echo".into())
        .await?;
    ragwire_client::connect::subscriptions_live(nats).await?;
    let responder = nats.clone();
    tokio::spawn(async move {
        while let Some(m) = echo.next().await {
            if let Some(reply) = m.reply {
                let _ = responder.publish(reply, m.payload).await;
            }
        }
    });

    // The same worker settings, in a process of its own.
    let proc_prefix = ragwire_tests::unique_prefix();
    let _process = if wanted("proc-embed") {
        let env = [
            ("RAGWIRE_LLM_BASE_URL", fake.base_url.clone()),
            ("RAGWIRE_EMBED_BASE_URL", fake.base_url.clone()),
            ("RAGWIRE_EMBED_MODEL", "fake-embed".to_owned()),
            (
                "RAGWIRE_EMBED_MAX_CONCURRENCY",
                plan.embed_calls.to_string(),
            ),
            (
                "RAGWIRE_EMBED_BATCH_WINDOW_US",
                plan.batch_window_us.to_string(),
            ),
            ("RAGWIRE_LIMITS_MAX_IN_FLIGHT", "4096".to_owned()),
            ("RAGWIRE_JOBS_ENABLED", "false".to_owned()),
        ];
        let root = std::env::temp_dir().join("ragwire-bench-procs");
        Some(crate::procs::start(nats, &proc_prefix, 1, &env, &root).await?)
    } else {
        None
    };

    let embed = Bytes::from_static(br#"{"texts":["the quick brown fox jumps over the lazy dog"]}"#);
    // A new text each time, and a word of its own per scenario (scenarios
    // share a worker and its cache): every request is a cache miss and
    // reaches the backend.
    let fresh = |scenario: &'static str, extra: &'static str| {
        move |n: u64| {
            Bytes::from(format!(
                r#"{{"texts":["the quick brown fox jumps over the lazy dog {scenario} {n}"]{extra}}}"#
            ))
        }
    };
    let chat =
        Bytes::from_static(br#"{"messages":[{"role":"user","content":"the quick brown fox"}]}"#);
    let worker_rag = crate::rag(&config.common.prefix);
    let scenarios: Vec<(&str, Call)> = vec![
        (
            "nats-echo",
            nats_call(nats.clone(), echo_subject, embed.clone()),
        ),
        (
            "nats-embed",
            rag_call(worker_rag.clone(), Subject::Embed, fresh("embed", "")),
        ),
        (
            "nats-embed-hit",
            rag_call(worker_rag.clone(), Subject::Embed, move |_| embed.clone()),
        ),
        (
            "nats-embed-b64",
            rag_call(
                worker_rag.clone(),
                Subject::Embed,
                fresh("b64", r#","encoding_format":"base64""#),
            ),
        ),
        (
            "nats-embed-inproc",
            rag_call(
                crate::rag(&inproc_config.common.prefix),
                Subject::Embed,
                fresh("inproc", ""),
            ),
        ),
        (
            "nats-chat",
            rag_call(worker_rag.clone(), Subject::Chat, move |_| chat.clone()),
        ),
        (
            "proc-embed",
            rag_call(crate::rag(&proc_prefix), Subject::Embed, fresh("proc", "")),
        ),
        (
            "http-embed",
            http_call_with(producer.addr, "/embed", fresh("http", "")),
        ),
    ]
    .into_iter()
    .filter(|(name, _)| wanted(name))
    .collect();

    println!(
        "ragwire-bench: {} rounds of {} s per cell, fake backend, {} cores",
        plan.rounds,
        plan.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut cells: HashMap<(&str, usize), Vec<Outcome>> = HashMap::new();
    for round in 1..=plan.rounds {
        for &c in &plan.concurrency {
            for (name, call) in &scenarios {
                let o = measure(call.clone(), c, plan.seconds).await;
                eprintln!("round {round}: {name} at {c}: {:.0} req/s", o.rps);
                cells.entry((name, c)).or_default().push(o);
            }
        }
    }
    worker.shutdown().await;
    let _ = std::fs::remove_dir_all(&config.worker.data_dir);
    if let Some(inproc) = inproc {
        inproc.shutdown().await;
        let _ = std::fs::remove_dir_all(&inproc_config.worker.data_dir);
    }

    println!();
    println!("medians over the rounds:");
    println!(
        "{:<17} {:>5} {:>10} {:>9} {:>9} {:>9} {:>7}",
        "scenario", "conc", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"
    );
    for &c in &plan.concurrency {
        for (name, _) in &scenarios {
            let runs = &cells[&(*name, c)];
            let med = |f: fn(&Outcome) -> f64| median(runs.iter().map(f).collect());
            println!(
                "{:<17} {:>5} {:>10.0} {:>9.3} {:>9.3} {:>9.3} {:>7}",
                name,
                c,
                med(|o| o.rps),
                med(|o| o.p50),
                med(|o| o.p95),
                med(|o| o.p99),
                runs.iter().map(|o| o.errors).sum::<u64>()
            );
        }
    }
    println!();
    println!(
        "requests/s as a share of nats-echo at the same concurrency (median of per-round ratios):"
    );
    let others: Vec<&str> = SCENARIOS[1..]
        .iter()
        .copied()
        .filter(|n| scenarios.iter().any(|(s, _)| s == n))
        .collect();
    print!("{:>5}", "conc");
    for name in &others {
        print!(" {name:>17}");
    }
    println!();
    for &c in &plan.concurrency {
        print!("{c:>5}");
        let echo = &cells[&("nats-echo", c)];
        for name in &others {
            let ratios = cells[&(*name, c)]
                .iter()
                .zip(echo)
                .map(|(o, e)| o.rps / e.rps)
                .collect();
            print!(" {:>16.0}%", 100.0 * median(ratios));
        }
        println!();
    }
    println!(
        "backend calls: {} embedding calls for {} texts (micro-batching), {} chat calls",
        fake.embed_calls(),
        fake.embed_texts(),
        fake.chat_calls()
    );
    Ok(())
}

/// An embedding backend that is a function call: the fake's vectors,
/// without the HTTP exchange.
struct InProcess {
    dim: usize,
}

#[async_trait::async_trait]
impl EmbedBackend for InProcess {
    fn model(&self) -> &str {
        "fake-embed"
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ragwire_worker::Error> {
        Ok(texts.iter().map(|t| fake_vector(t, self.dim)).collect())
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}
