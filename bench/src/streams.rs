//! Streamed chat completions (`stream: true`) through the producer, against
//! the fake model server called directly, in the same run: time to first
//! chunk with 1 and 64 streams in flight (chunks as fast as they come, and
//! at a model's pace), and chunks per second with 64.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ragwire_tests::fake::StreamPlan;
use ragwire_tests::{start_producer, start_worker, test_config, test_http, FakeOpenAi};
use serde_json::json;

use crate::load::median;

/// Rounds per cell; the tables give medians.
const ROUNDS: usize = 3;

pub async fn run(seconds: f64) -> anyhow::Result<()> {
    let fake = FakeOpenAi::start().await;
    fake.stop_recording();
    let config = test_config(&fake);
    let _worker = start_worker(&config).await;
    let mut http = test_http();
    http.max_concurrency = 100_000;
    let producer = start_producer(&config, &http).await;
    let direct = format!("{}/chat/completions", fake.base_url);
    let through = format!("http://{}/v1/chat/completions", producer.addr);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .build()?;

    println!();
    println!(
        "streamed chat completions through the producer against the fake model called directly, {ROUNDS} rounds of {seconds} s, medians:"
    );
    println!(
        "{:<44} {:>10} {:>10} {:>11} {:>11} {:>10}",
        "", "direct p50", "direct p99", "ragwire p50", "ragwire p99", "added p50"
    );
    // Short streams: time to the first chunk, with chunks as fast as the
    // fake makes them (the machine saturates at 64), then at a model's pace
    // (a chunk every 20 ms, 50 tokens/s per stream).
    let pace = Duration::from_millis(20);
    for (concurrency, gap) in [(1, Duration::ZERO), (64, Duration::ZERO), (64, pace)] {
        fake.stream_plan(StreamPlan {
            chunks: 10,
            gap,
            ..Default::default()
        });
        let mut cells = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
        for _ in 0..ROUNDS {
            for (i, url) in [&direct, &through].into_iter().enumerate() {
                let m = measure(&client, url, concurrency, seconds).await;
                cells[2 * i].push(m.first_p50);
                cells[2 * i + 1].push(m.first_p99);
            }
        }
        let [dp50, dp99, rp50, rp99] = cells.map(median);
        let pace = if gap.is_zero() {
            "at once".to_owned()
        } else {
            format!("every {} ms", gap.as_millis())
        };
        println!(
            "{:<44} {:>10.3} {:>10.3} {:>11.3} {:>11.3} {:>10.3}",
            format!("first chunk ms, {concurrency} in flight, {pace}"),
            dp50,
            dp99,
            rp50,
            rp99,
            rp50 - dp50
        );
    }
    // Long streams: chunks per second.
    fake.stream_plan(StreamPlan {
        chunks: 500,
        ..Default::default()
    });
    let (mut direct_rates, mut ratios) = (Vec::new(), Vec::new());
    let mut ragwire_rates = Vec::new();
    for _ in 0..ROUNDS {
        let d = measure(&client, &direct, 64, seconds).await.chunks_per_s;
        let r = measure(&client, &through, 64, seconds).await.chunks_per_s;
        direct_rates.push(d);
        ragwire_rates.push(r);
        ratios.push(r / d);
    }
    println!(
        "chunks/s, 64 streams of 500 chunks: direct {:.0}, through ragwire {:.0} ({:.0}% of direct)",
        median(direct_rates),
        median(ragwire_rates),
        100.0 * median(ratios)
    );
    Ok(())
}

struct Measured {
    first_p50: f64,
    first_p99: f64,
    chunks_per_s: f64,
}

/// `concurrency` clients streaming one request after another for
/// `seconds`.
async fn measure(
    client: &reqwest::Client,
    url: &str,
    concurrency: usize,
    seconds: f64,
) -> Measured {
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let runs = futures::future::join_all((0..concurrency).map(|i| {
        let (client, url) = (client.clone(), url.to_owned());
        async move {
            let mut firsts = Vec::new();
            let mut chunks = 0u64;
            let mut n = 0u64;
            while Instant::now() < until {
                n += 1;
                let body = json!({"model": "rag-answer", "stream": true,
                    "messages": [{"role": "user", "content": format!("stream {i} {n}")}]});
                if let Some((first, count)) = one(&client, &url, &body).await {
                    firsts.push(first);
                    chunks += count;
                }
            }
            (firsts, chunks)
        }
    }))
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut hist = Histogram::<u64>::new(3).expect("histogram");
    let mut chunks = 0;
    for (firsts, count) in runs {
        chunks += count;
        for f in firsts {
            let _ = hist.record(f.as_micros() as u64);
        }
    }
    Measured {
        first_p50: hist.value_at_quantile(0.5) as f64 / 1e3,
        first_p99: hist.value_at_quantile(0.99) as f64 / 1e3,
        chunks_per_s: chunks as f64 / elapsed,
    }
}

/// One stream: the time to its first `data:` event, and its chunks.
async fn one(
    client: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> Option<(Duration, u64)> {
    let started = Instant::now();
    let mut response = client.post(url).json(body).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let mut first = None;
    let mut events = 0u64;
    // The last bytes of the previous piece, so that a `data: ` split
    // between two pieces is counted once.
    let mut tail: Vec<u8> = Vec::new();
    while let Some(piece) = response.chunk().await.ok()? {
        let mut joined = std::mem::take(&mut tail);
        joined.extend_from_slice(&piece);
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

fn count(haystack: &[u8], needle: &[u8]) -> u64 {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count() as u64
}
