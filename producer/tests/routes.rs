//! The producer's routing, in-process through `app()` (no socket): every
//! subject's route reaches its NATS subject with the body as sent, replies
//! and their statuses come back as they are, and the producer's own routes
//! and errors answer without a worker. A responder of the test's own stands
//! in for the workers, on the real NATS server (`NATS_URL`).

use std::time::Duration;

use async_nats::HeaderMap;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::StreamExt;
use http_body_util::BodyExt;
use ragwire_client::connect::{connect, subscriptions_live};
use ragwire_client::{ConnectOptions, RagClient};
use ragwire_producer::{app, AppState, HttpConfig};
use ragwire_schemas::{headers, Subject};
use serde_json::{json, Value};
use tower::ServiceExt;

async fn nats() -> async_nats::Client {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    connect(&ConnectOptions::new(url).name("ragwire-producer-test"))
        .await
        .unwrap_or_else(|e| panic!("the tests need a NATS server: {e}"))
}

fn prefix() -> String {
    format!("p{}", uuid::Uuid::new_v4().simple())
}

/// The app for `prefix`, with `http`'s settings.
async fn state(prefix: &str, http: &HttpConfig) -> AppState {
    AppState::new(http, RagClient::new(nats().await, prefix))
}

/// Answers every request under `prefix` with `{"ok": true, "subject", "body"}`,
/// or, for a body `{"fail": code}`, an error reply with that code.
async fn responder(prefix: &str) -> tokio::task::JoinHandle<()> {
    let nats = nats().await;
    let mut requests = nats.subscribe(format!("{prefix}.>")).await.unwrap();
    subscriptions_live(&nats).await.unwrap();
    tokio::spawn(async move {
        while let Some(m) = requests.next().await {
            let Some(reply) = m.reply else { continue };
            let body: Value = serde_json::from_slice(&m.payload).unwrap_or(Value::Null);
            let mut h = HeaderMap::new();
            let answer = match body["fail"].as_u64() {
                Some(code) => {
                    h.insert(headers::SERVICE_ERROR, "no");
                    h.insert(headers::SERVICE_ERROR_CODE, code.to_string().as_str());
                    json!({"ok": false, "error": {"code": code, "kind": "upstream", "message": "no"}})
                }
                None => json!({
                    "ok": true,
                    "subject": m.subject.as_str(),
                    "body": body,
                    "request_id": m.headers.as_ref()
                        .and_then(|h| h.get(headers::REQUEST_ID))
                        .map(|v| v.as_str().to_owned()),
                }),
            };
            let payload = serde_json::to_vec(&answer).unwrap().into();
            nats.publish_with_headers(reply, h, payload).await.unwrap();
        }
    })
}

async fn call(app: &axum::Router, request: Request<Body>) -> (StatusCode, Value, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let id = response.headers()[headers::REQUEST_ID]
        .to_str()
        .unwrap()
        .to_owned();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body, id)
}

fn post(path: &str, body: &Value) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn every_subject_route_reaches_its_subject() {
    let prefix = prefix();
    let _responder = responder(&prefix).await;
    let app = app(state(&prefix, &HttpConfig::default()).await);
    for &subject in Subject::ALL {
        let mut sent = json!({"n": subject.endpoint_name()});
        let request = if subject == Subject::V1Models {
            // A GET: the subject gets an empty object.
            sent = json!({});
            Request::get(subject.http_path())
                .body(Body::empty())
                .unwrap()
        } else {
            post(subject.http_path(), &sent)
        };
        let (status, body, _) = call(&app, request).await;
        let expected = if subject == Subject::JobsSubmit {
            StatusCode::ACCEPTED
        } else {
            StatusCode::OK
        };
        assert_eq!(status, expected, "{subject}: {body}");
        assert_eq!(body["subject"], subject.subject(&prefix), "{body}");
        assert_eq!(body["body"], sent, "the body goes as sent");
    }
    // The job routes that take the id from the path.
    let (status, body, _) = call(
        &app,
        Request::get("/jobs/abc123").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["subject"], format!("{prefix}.jobs.status"));
    assert_eq!(body["body"], json!({"job_id": "abc123"}));
    let (_, body, _) = call(
        &app,
        Request::post("/jobs/abc123/replay")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(body["subject"], format!("{prefix}.jobs.replay"));
    let (_, body, _) = call(
        &app,
        Request::get("/jobs/dead?limit=7")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(body["subject"], format!("{prefix}.jobs.dead"));
    assert_eq!(body["body"], json!({"limit": 7}));
}

#[tokio::test]
async fn error_replies_keep_their_status_and_the_request_id_travels() {
    let prefix = prefix();
    let _responder = responder(&prefix).await;
    let app = app(state(&prefix, &HttpConfig::default()).await);
    let (status, body, _) = call(&app, post("/chat", &json!({"fail": 429}))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"]["code"], 429);

    let request = Request::post("/embed")
        .header("content-type", "application/json")
        .header(headers::REQUEST_ID, "req-42")
        .body(Body::from("{}"))
        .unwrap();
    let (status, body, id) = call(&app, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["request_id"].as_str(), id.as_str()),
        (Some("req-42"), "req-42")
    );
}

#[tokio::test]
async fn the_producers_own_answers_need_no_worker() {
    let prefix = prefix();
    let http = HttpConfig {
        api_keys: vec!["k1".into()],
        timeout: Duration::from_millis(2_000),
        ..HttpConfig::default()
    };
    let app = app(state(&prefix, &http).await);
    let (status, body, _) = call(&app, Request::get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!(
        (status, &body["nats"]),
        (StatusCode::OK, &json!("connected"))
    );
    let (status, _, _) = call(&app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body, id) = call(&app, post("/nowhere", &json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(!id.is_empty(), "a generated request id");
    let (status, body, _) = call(&app, post("/embed", &json!({}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    let keyed = |path: &str| {
        Request::post(path)
            .header("x-api-key", "k1")
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap()
    };
    let started = std::time::Instant::now();
    let (status, body, _) = call(&app, keyed("/embed")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no worker is serving"),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no responders is at once"
    );
}
