//! The worker's Prometheus metrics: served on `RAGWIRE_METRICS_ADDR`,
//! counting requests, latency, waits, embedding batches, backend calls and
//! jobs, in an exposition `promtool check metrics` accepts.

use std::process::Command;
use std::time::{Duration, SystemTime};

use ragwire_schemas::embed::EmbedRequest;
use ragwire_schemas::endpoint::Embed;
use ragwire_schemas::{headers, Subject};
use ragwire_tests::*;
use serde_json::json;

/// The value of the series `name{labels}` in `text` (labels as written by
/// the exposition, sorted by name), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

fn promtool() -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/promtool");
    let out = Command::new(script)
        .output()
        .expect("scripts/promtool runs");
    assert!(
        out.status.success(),
        "scripts/promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn a_worker_serves_its_metrics_and_promtool_accepts_them() {
    let mut t = Fixture::new().await;
    t.enable_jobs();
    t.config.worker.metrics_addr = Some("127.0.0.1:0".into());
    t.start().await;
    let addr = t.worker().metrics.expect("metrics served");

    let embed = json(&t.send::<Embed>(&EmbedRequest::new(["metrics"])).await);
    assert_eq!(embed["ok"], true, "{embed}");
    let bad = t.request(Subject::Embed, &json!({"texts": []})).await;
    assert_eq!(error_code(&bad), Some(400));
    // One sent a while ago, over a short wait bound: shed and counted.
    let mut h = async_nats::HeaderMap::new();
    let long_ago = SystemTime::now() - Duration::from_secs(600);
    h.insert(
        headers::SENT_AT,
        headers::epoch_millis(long_ago).to_string().as_str(),
    );
    let shed = t
        .rag
        .nats()
        .request_with_headers(
            Subject::Embed.subject(t.prefix()),
            h,
            serde_json::to_vec(&EmbedRequest::new(["late"]))
                .unwrap()
                .into(),
        )
        .await
        .unwrap();
    assert_eq!(error_code(&shed), Some(503));
    let kb = t.collection("kb");
    let job = json(
        &t.request(
            Subject::JobsSubmit,
            &json!({"collection": kb, "documents": [{"doc_id": "d", "text": "metrics of a job"}]}),
        )
        .await,
    );
    let id = job["jobs"][0]["job_id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let s = json(&t.request(Subject::JobsStatus, &json!({"job_id": id})).await);
        if s["state"] == "done" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let response = http_client()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let at_least_one = |series: &str| {
        let v = value(&text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"));
        assert!(v >= 1.0, "{series} = {v}");
    };
    at_least_one(r#"ragwire_worker_requests_total{code="200",subject="embed"}"#);
    at_least_one(r#"ragwire_worker_requests_total{code="400",subject="embed"}"#);
    at_least_one(r#"ragwire_worker_requests_shed_total{subject="embed"}"#);
    at_least_one(r#"ragwire_worker_request_duration_seconds_count{subject="embed"}"#);
    at_least_one(r#"ragwire_worker_request_wait_seconds_count{subject="embed"}"#);
    at_least_one(r#"ragwire_worker_embed_batch_texts_count{kind="interactive"}"#);
    at_least_one(r#"ragwire_worker_embed_batch_texts_count{kind="bulk"}"#);
    at_least_one(r#"ragwire_worker_backend_duration_seconds_count{backend="embeddings"}"#);
    at_least_one(r#"ragwire_worker_jobs_total{outcome="done"}"#);
    // The job gauges are read from JetStream at the scrape: nothing waits.
    assert_eq!(
        value(&text, "ragwire_worker_jobs_pending"),
        Some(0.0),
        "{text}"
    );
    assert!(
        value(&text, "ragwire_worker_jobs_dead_letters").is_some(),
        "{text}"
    );
    assert!(!text.contains("sk-"), "no secret in the metrics");

    promtool_accepts("worker", &text);

    // The producer's, after a request through it.
    let p = t.producer().await;
    let http = http_client();
    let r = http
        .post(p.url("/embed"))
        .json(&json!({"texts": ["through http"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = http
        .get(p.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("ragwire_http_requests_total"), "{text}");
    promtool_accepts("producer", &text);
}

/// Runs `promtool check metrics` on the exposition `text`.
fn promtool_accepts(what: &str, text: &str) {
    let dir = test_data_dir(&unique_prefix());
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{what}.prom"));
    std::fs::write(&file, text).unwrap();
    let check = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "promtool check metrics of the {what}: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}
