//! Traces across NATS, exported over OTLP to a receiver in this test that
//! decodes them with the official OTLP definitions: one chat, one search
//! and one ingest job each form one trace, parent to child, from the
//! producer's HTTP span through the NATS request and the worker's handler
//! to the backend calls; the trace id comes back in `X-Trace-Id`, and a
//! caller's `traceparent` is continued, a sampled-out one too: nothing
//! exported, its context passed on.
//!
//! Its own test binary: the process's tracing set-up is global.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use ragwire_tests::*;
use serde_json::json;

/// One received span.
#[derive(Debug, Clone)]
struct Received {
    trace: String,
    id: String,
    parent: String,
    name: String,
    kind: i32,
}

type Spans = Arc<Mutex<Vec<Received>>>;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn receive(State(spans): State<Spans>, body: Bytes) -> Vec<u8> {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP trace export");
    let mut got = spans.lock().unwrap();
    for resource in request.resource_spans {
        for scope in resource.scope_spans {
            for s in scope.spans {
                got.push(Received {
                    trace: hex(&s.trace_id),
                    id: hex(&s.span_id),
                    parent: hex(&s.parent_span_id),
                    name: s.name,
                    kind: s.kind,
                });
            }
        }
    }
    ExportTraceServiceResponse::default().encode_to_vec()
}

/// OTLP span kinds.
const SERVER: i32 = 2;
const CLIENT: i32 = 3;
const PRODUCER: i32 = 4;
const CONSUMER: i32 = 5;

/// The chain of spans from `leaf` up to the root of its trace, leaf first.
fn ancestry(spans: &[Received], leaf: &Received) -> Vec<Received> {
    let by_id: HashMap<&str, &Received> = spans.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut chain = vec![leaf.clone()];
    let mut at = leaf;
    while !at.parent.is_empty() {
        match by_id.get(at.parent.as_str()) {
            Some(parent) => {
                assert_eq!(parent.trace, leaf.trace, "one trace");
                chain.push((*parent).clone());
                at = parent;
            }
            None => break,
        }
    }
    chain
}

/// Waits until a span named `name` of trace `trace` has arrived.
async fn wait_for(spans: &Spans, trace: &str, name: &str) -> Vec<Received> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let all = spans.lock().unwrap().clone();
        if all.iter().any(|s| s.trace == trace && s.name == name) {
            return all.into_iter().filter(|s| s.trace == trace).collect();
        }
        assert!(
            Instant::now() < deadline,
            "no span `{name}` in trace {trace}: {:#?}",
            all.iter()
                .filter(|s| s.trace == trace)
                .map(|s| &s.name)
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The names and kinds from `leaf` up to the root.
fn path(spans: &[Received], leaf: &str) -> Vec<(String, i32)> {
    let leaf = spans
        .iter()
        .find(|s| s.name == leaf)
        .unwrap_or_else(|| panic!("no {leaf}"));
    ancestry(spans, leaf)
        .into_iter()
        .map(|s| (s.name, s.kind))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_search_and_an_ingest_job_are_each_one_trace() {
    let spans: Spans = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/v1/traces", post(receive))
        .with_state(spans.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    // Set before the set-up reads them, while no other thread reads the
    // environment.
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}"));
    std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "100");
    let _telemetry = ragwire_common::telemetry::init(false, "ragwire-test");
    assert!(ragwire_client::trace::enabled());

    let mut t = Fixture::new().await;
    t.enable_jobs();
    t.start().await;
    let p = t.producer().await;
    let http = http_client();
    let prefix = t.prefix().to_owned();

    // A chat in a trace the caller sampled out: its id still comes back and
    // travels on the NATS request with the sampled flag unset, and nothing
    // of it is exported (checked at the end, after the other traces).
    let unsampled = "0af7651916cd43dd8448eb211c80319c";
    let watcher = nats().await;
    let mut seen = watcher.subscribe(format!("{prefix}.chat")).await.unwrap();
    watcher.flush().await.unwrap();
    let reply = http
        .post(p.url("/chat"))
        .header("traceparent", format!("00-{unsampled}-b7ad6b7169203331-00"))
        .json(&json!({"messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.headers()["x-trace-id"], unsampled);
    let sent = tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut seen))
        .await
        .unwrap()
        .unwrap();
    let parent = sent.headers.as_ref().and_then(|h| h.get("traceparent"));
    let parent = parent.map(|v| v.as_str()).unwrap_or_default();
    assert!(
        parent.starts_with(&format!("00-{unsampled}-")) && parent.ends_with("-00"),
        "{parent}"
    );
    drop(seen);

    // A chat, continuing the caller's trace.
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let reply = http
        .post(p.url("/chat"))
        .header(
            "traceparent",
            format!("00-{caller_trace}-00f067aa0ba902b7-01"),
        )
        .json(&json!({"messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let header = reply.headers()["x-trace-id"].to_str().unwrap().to_owned();
    assert_eq!(header, caller_trace, "the caller's trace is continued");
    let chat = wait_for(&spans, caller_trace, "llm").await;
    let send = format!("send {prefix}.chat");
    let process = format!("process {prefix}.chat");
    assert_eq!(
        path(&chat, "llm"),
        [
            ("llm".to_owned(), CLIENT),
            (process.clone(), CONSUMER),
            (send.clone(), PRODUCER),
            ("POST /chat".to_owned(), SERVER),
        ],
        "{chat:#?}"
    );
    let root = chat.iter().find(|s| s.name == "POST /chat").unwrap();
    assert_eq!(
        root.parent, "00f067aa0ba902b7",
        "child of the caller's span"
    );

    // A search: a trace of its own, its id in the header.
    let kb = t.collection("kb");
    let reply = http
        .post(p.url("/index/chunks"))
        .json(&json!({"collection": kb, "chunks": [{"doc_id": "d", "text": "traces join spans"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(body["upserted"], 1, "{body}");
    let reply = http
        .post(p.url("/search"))
        .json(&json!({"collection": kb, "query": "spans"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let search_trace = reply.headers()["x-trace-id"].to_str().unwrap().to_owned();
    assert_eq!(search_trace.len(), 32);
    let search = wait_for(&spans, &search_trace, "embedded_vectors").await;
    let process = format!("process {prefix}.search");
    let send = format!("send {prefix}.search");
    for backend in ["embeddings", "embedded_vectors"] {
        assert_eq!(
            path(&search, backend),
            [
                (backend.to_owned(), CLIENT),
                (process.clone(), CONSUMER),
                (send.clone(), PRODUCER),
                ("POST /search".to_owned(), SERVER),
            ],
            "{search:#?}"
        );
    }

    // An ingest job: its processing joins the trace of its submission.
    let reply = http
        .post(p.url("/ingest"))
        .json(&json!({"collection": kb, "documents": [{"doc_id": "j", "text": "a job's trace"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 202);
    let job_trace = reply.headers()["x-trace-id"].to_str().unwrap().to_owned();
    let work = format!("process {prefix}.jobs.work");
    let job = wait_for(&spans, &job_trace, &work).await;
    let job = wait_for(&spans, &job_trace, "embedded_vectors")
        .await
        .len()
        .max(job.len());
    let job_spans: Vec<Received> = spans
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.trace == job_trace)
        .cloned()
        .collect();
    assert!(job >= 5, "{job_spans:#?}");
    let worked = job_spans.iter().find(|s| s.name == work).unwrap();
    let names: Vec<(String, i32)> = ancestry(&job_spans, worked)
        .into_iter()
        .map(|s| (s.name, s.kind))
        .collect();
    assert_eq!(
        names,
        [
            (work.clone(), CONSUMER),
            (format!("process {prefix}.jobs.submit"), CONSUMER),
            (format!("send {prefix}.jobs.submit"), PRODUCER),
            ("POST /ingest".to_owned(), SERVER),
        ],
        "{job_spans:#?}"
    );
    // The job's own backend calls hang under its processing.
    let store = job_spans
        .iter()
        .filter(|s| s.name == "embedded_vectors")
        .any(|s| ancestry(&job_spans, s).iter().any(|a| a.name == work));
    assert!(store, "{job_spans:#?}");
    let sampled_out: Vec<Received> = spans
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.trace == unsampled)
        .cloned()
        .collect();
    assert!(sampled_out.is_empty(), "{sampled_out:#?}");
}
