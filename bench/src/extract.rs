//! graph.extract over a three-provider chain whose latencies have a long
//! tail (log-normal, median 1 s, p95 5 s, each call drawn independently):
//! the serial chain (the next provider only after a failure) against the
//! hedged one (the next also after the hedge delay), in the same run.

use std::time::{Duration, Instant};

use futures::StreamExt;
use hdrhistogram::Histogram;
use ragwire_schemas::Subject;
use ragwire_tests::{start_worker, test_config, FakeOpenAi, Scripted};
use serde_json::json;

const CHAIN: [&str; 3] = [
    "graph-extractor",
    "graph-extractor-mini",
    "graph-extractor-gemini",
];

pub async fn run(requests: usize, concurrency: usize) -> anyhow::Result<()> {
    let fake = FakeOpenAi::start().await;
    let graph = json!({
        "nodes": [{"id": "Ada Lovelace", "type": "Person"}, {"id": "Charles Babbage", "type": "Person"}],
        "edges": [{"src": "Ada Lovelace", "dst": "Charles Babbage", "type": "WORKED_WITH"}]
    })
    .to_string();
    for alias in CHAIN {
        fake.script(
            alias,
            vec![Scripted::answer(graph.clone())
                .long_tail(Duration::from_secs(1), Duration::from_secs(5))],
        );
    }
    println!();
    println!(
        "graph.extract, 3 providers each answering after log-normal latency (median 1 s, p95 5 s), {requests} requests, {concurrency} in flight:"
    );
    println!(
        "{:<22} {:>9} {:>9} {:>9} {:>11} {:>7}",
        "chain", "p50 ms", "p95 ms", "p99 ms", "LLM calls", "errors"
    );
    let mut p95s = Vec::new();
    for (name, hedge_ms) in [
        ("serial", u64::MAX / 4),
        ("hedged (1.5 s delay)", 1500),
        ("hedged (1.0 s delay)", 1000),
    ] {
        let mut config = test_config(&fake);
        config.extract.chain = CHAIN.iter().map(|s| s.to_string()).collect();
        config.extract.hedge_delay = Duration::from_millis(hedge_ms);
        config.llm.timeout = Duration::from_millis(60_000);
        config.limits.request_timeout = Duration::from_millis(120_000);
        let worker = start_worker(&config).await;
        let calls_before = fake.chat_calls();
        let rag = crate::rag(&config.common.prefix).with_timeout(Duration::from_secs(120));
        let body: bytes::Bytes = serde_json::to_vec(&json!({
            "context": "Ada Lovelace worked with Charles Babbage on the Analytical Engine."
        }))?
        .into();
        let results: Vec<Option<u64>> = futures::stream::iter(0..requests)
            .map(|_| {
                let rag = rag.clone();
                let body = body.clone();
                async move {
                    let started = Instant::now();
                    let reply = rag.request(Subject::GraphExtract, body, None).await.ok()?;
                    let ok = serde_json::from_slice::<serde_json::Value>(&reply.payload).ok()?
                        ["ok"]
                        == true;
                    ok.then(|| started.elapsed().as_micros() as u64)
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let mut hist = Histogram::<u64>::new(3)?;
        let mut errors = 0;
        for r in results {
            match r {
                Some(us) => hist.record(us)?,
                None => errors += 1,
            }
        }
        let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "{:<22} {:>9.0} {:>9.0} {:>9.0} {:>11} {:>7}",
            name,
            ms(0.5),
            ms(0.95),
            ms(0.99),
            fake.chat_calls() - calls_before,
            errors
        );
        p95s.push(ms(0.95));
        worker.shutdown().await;
        let _ = std::fs::remove_dir_all(&config.worker.data_dir);
    }
    println!(
        "hedged p95 is {:.1}% (1.5 s delay) and {:.1}% (1.0 s delay) lower than serial",
        100.0 * (1.0 - p95s[1] / p95s[0]),
        100.0 * (1.0 - p95s[2] / p95s[0])
    );
    Ok(())
}
