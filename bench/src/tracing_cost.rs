//! What traces cost: one worker process answering embed requests (64 in
//! flight, each text new, so each is an embedding call) with traces off,
//! then exported over OTLP to a receiver in this process that takes and
//! drops them, every request sampled and one in ten; rounds alternate,
//! medians compared.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes as Body;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use ragwire_schemas::Subject;
use ragwire_tests::{unique_prefix, Behaviour, FakeOpenAi};

/// An OTLP/HTTP receiver that counts what it is sent.
async fn receive(State(bytes): State<Arc<AtomicU64>>, body: Body) -> &'static str {
    bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    ""
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
    let received = Arc::new(AtomicU64::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let collector = format!("http://{}", listener.local_addr()?);
    let app = Router::new()
        .route("/v1/traces", post(receive))
        .with_state(received.clone());
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
    let mut rates: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..rounds {
        for (i, env) in [&base, &on, &sampled].into_iter().enumerate() {
            let prefix = unique_prefix();
            let workers = crate::procs::start(nats, &prefix, 1, env, &root).await?;
            let rag = crate::rag(&prefix);
            let call = crate::load::rag_call(rag, Subject::Embed, |n| {
                Bytes::from(format!(
                    r#"{{"texts": ["text number {n} of the tracing bench"]}}"#
                ))
            });
            let outcome = crate::load::measure(call, 64, seconds).await;
            anyhow::ensure!(outcome.errors == 0, "{} errors", outcome.errors);
            rates[i].push(outcome.rps);
            drop(workers);
            crate::procs::clean_up(nats, &prefix, &root).await;
        }
    }
    let [off, on, sampled] = rates.map(crate::load::median);
    println!();
    println!(
        "traces, one worker, rag.embed at 64 in flight ({rounds} rounds of {seconds} s, medians):"
    );
    println!("{:<12} {:>10}", "traces", "requests/s");
    println!("{:<12} {:>10.0}", "off", off);
    println!("{:<12} {:>10.0} {:>6.3}", "OTLP", on, on / off);
    println!(
        "{:<12} {:>10.0} {:>6.3}",
        "OTLP, 10 %",
        sampled,
        sampled / off
    );
    println!(
        "{} KB of spans received",
        received.load(Ordering::Relaxed) / 1024
    );
    Ok(())
}
