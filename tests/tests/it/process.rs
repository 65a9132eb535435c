//! The `ragwire-worker` binary as deployed: start-up without a NATS server,
//! and SIGTERM with a request in flight.

use std::process::Stdio;
use std::time::{Duration, Instant};

use ragwire_schemas::chat::ChatRequest;
use ragwire_schemas::Subject;
use ragwire_tests::*;
use serde_json::Value;

#[tokio::test]
async fn without_nats_the_worker_fails_fast_and_says_how_to_start_one() {
    let data = test_data_dir(&unique_prefix());
    let started = Instant::now();
    let run = tokio::process::Command::new(binary("ragwire-worker"))
        .env_clear()
        // Nothing listens on port 1: the connection is refused.
        .env("NATS_URL", "nats://127.0.0.1:1")
        .env("RAGWIRE_DATA_DIR", &data)
        .env("RAGWIRE_EMBED_BASE_URL", "http://127.0.0.1:9/v1")
        .stdin(Stdio::null())
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the worker gives up instead of retrying")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        stderr.contains("cannot connect to NATS at nats://127.0.0.1:1"),
        "{stderr}"
    );
    assert!(stderr.contains("nats-server -js"), "{stderr}");
}

#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_then_exits_0() {
    let t = Fixture::new().await;
    let p = t.config.common.prefix.clone();
    let log_path = t.config.worker.data_dir.join("child.log");
    let mut child = Killed(
        worker_command(&t.config)
            .env("RAGWIRE_JOBS_ENABLED", "false")
            .spawn()
            .unwrap(),
    );
    let nats = t.rag.nats();
    let subject = Subject::Chat.subject(&p);
    let chat = bytes::Bytes::from(serde_json::to_vec(&ChatRequest::user("hi")).unwrap());
    let started = Instant::now();
    while nats.request(subject.clone(), chat.clone()).await.is_err() {
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "the worker exited; see {}",
            log_path.display()
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the worker did not start; see {}",
            log_path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    t.fake.set(Behaviour {
        delay: Duration::from_millis(1500),
        ..Default::default()
    });
    let calls = t.fake.chat_calls();
    let in_flight = tokio::spawn({
        let nats = nats.clone();
        let subject = subject.clone();
        let chat = chat.clone();
        async move { nats.request(subject, chat).await }
    });
    // The signal comes once the request is at the backend.
    while t.fake.chat_calls() == calls {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let signalled = Instant::now();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());

    let reply = in_flight
        .await
        .unwrap()
        .expect("the request in flight is answered");
    let v: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert!(reply
        .headers
        .is_none_or(|h| h.get("Nats-Service-Error-Code").is_none()));
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(15),
            "the worker did not exit; see {}",
            log_path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status}; see {}", log_path.display());
    // Gone from the queue group: nobody answers any more.
    assert!(nats.request(subject, chat).await.is_err());
}

#[tokio::test]
async fn ragwire_ping_finds_this_hosts_worker_and_fails_without_one() {
    let t = Fixture::started().await;
    let ping = |prefix: String| {
        tokio::process::Command::new(binary("ragwire"))
            .args(["ping", "--local", "--wait-ms", "500"])
            .env("NATS_URL", nats_url())
            .env("RAGWIRE_PREFIX", prefix)
            .env_remove("RAGWIRE_CONFIG")
            .stdin(Stdio::null())
            .output()
    };
    let out = ping(t.config.common.prefix.clone()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(t.worker().id.as_str()), "{stdout}");

    let out = ping(unique_prefix()).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no ragwire worker with prefix"), "{stderr}");
}
