//! The load generator: a fixed number of requests in flight for a fixed
//! time, latencies in an HDR histogram.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use ragwire_client::error_code;
use ragwire_client::RagClient;
use ragwire_schemas::Subject;

pub struct Outcome {
    pub rps: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub errors: u64,
}

pub type Call = Arc<dyn Fn() -> futures::future::BoxFuture<'static, bool> + Send + Sync>;

pub async fn measure(call: Call, concurrency: usize, seconds: f64) -> Outcome {
    // Warm connections and caches first.
    futures::future::join_all((0..concurrency).map(|_| call())).await;
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut hist = Histogram::<u64>::new(3).expect("histogram");
                let mut errors = 0;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    if call().await {
                        hist.record(t.elapsed().as_micros() as u64)
                            .expect("in range");
                    } else {
                        errors += 1;
                    }
                }
                (hist, errors)
            })
        })
        .collect();
    let mut total = Histogram::<u64>::new(3).expect("histogram");
    let mut errors = 0;
    for task in tasks {
        let (hist, e) = task.await.expect("load task");
        total.add(hist).expect("same bounds");
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ms = |q: f64| total.value_at_quantile(q) as f64 / 1000.0;
    Outcome {
        rps: total.len() as f64 / elapsed,
        p50: ms(0.50),
        p95: ms(0.95),
        p99: ms(0.99),
        errors,
    }
}

/// Makes `total` calls, `concurrency` at a time; the number that failed.
pub async fn run_count(call: Call, concurrency: usize, total: usize) -> u64 {
    let left = Arc::new(std::sync::atomic::AtomicUsize::new(total));
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (call, left) = (call.clone(), left.clone());
            tokio::spawn(async move {
                let mut errors = 0;
                let take = |n: usize| n.checked_sub(1);
                let order = std::sync::atomic::Ordering::Relaxed;
                while left.fetch_update(order, order, take).is_ok() {
                    if !call().await {
                        errors += 1;
                    }
                }
                errors
            })
        })
        .collect();
    let mut errors = 0;
    for task in tasks {
        errors += task.await.expect("load task");
    }
    errors
}

/// A bare NATS request to `subject` with the same payload every time: the
/// echo baseline, which is not one of ragwire's subjects.
pub fn nats_call(nats: async_nats::Client, subject: String, payload: Bytes) -> Call {
    Arc::new(move || {
        let (nats, subject, payload) = (nats.clone(), subject.clone(), payload.clone());
        Box::pin(async move { nats.request(subject, payload).await.is_ok() })
    })
}

/// A request to one of ragwire's subjects, through the client every NATS
/// client of ragwire uses, whose payload is made from a call counter; an
/// error reply counts as a failure.
pub fn rag_call(
    rag: RagClient,
    subject: Subject,
    payload: impl Fn(u64) -> Bytes + Send + Sync + 'static,
) -> Call {
    let counter = std::sync::atomic::AtomicU64::new(0);
    Arc::new(move || {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let rag = rag.clone();
        let payload = payload(n);
        Box::pin(async move {
            match rag.request(subject, payload, None).await {
                Ok(reply) => error_code(&reply).is_none(),
                Err(_) => false,
            }
        })
    })
}

/// An HTTP/1.1 POST to `path` on `addr`, whose body is made from a call
/// counter, over kept-alive connections that each carry one request at a
/// time (as wrk does). A bare hyper connection costs the load generator a
/// fraction of a pooled client's CPU, which on a shared machine would be
/// taken from the server being measured.
pub fn http_call_with(
    addr: std::net::SocketAddr,
    path: &str,
    payload: impl Fn(u64) -> Bytes + Send + Sync + 'static,
) -> Call {
    http_call_as(addr, path, None, payload)
}

/// [`http_call_with`] sending `key` as `Authorization: Bearer`.
pub fn http_call_as(
    addr: std::net::SocketAddr,
    path: &str,
    key: Option<&str>,
    payload: impl Fn(u64) -> Bytes + Send + Sync + 'static,
) -> Call {
    let auth = key.map(|k| {
        hyper::header::HeaderValue::from_str(&format!("Bearer {k}")).expect("a header value")
    });
    let counter = std::sync::atomic::AtomicU64::new(0);
    let idle: Arc<std::sync::Mutex<Vec<Connection>>> = Arc::default();
    let uri: hyper::Uri = path.parse().expect("a request path");
    let host = hyper::header::HeaderValue::from_str(&addr.to_string()).expect("a host");
    Arc::new(move || {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut request = hyper::Request::post(uri.clone())
            .header(hyper::header::HOST, host.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(auth) = &auth {
            request = request.header(hyper::header::AUTHORIZATION, auth.clone());
        }
        let request = request
            .body(Full::new(payload(n)))
            .expect("a valid request");
        let idle = idle.clone();
        Box::pin(async move {
            // A kept connection the server has closed is dropped, not used.
            let reused = {
                let mut idle = idle.lock().unwrap_or_else(|p| p.into_inner());
                std::iter::from_fn(|| idle.pop()).find(|c| !c.is_closed())
            };
            let mut conn = match reused {
                Some(conn) => conn,
                None => match connect(addr).await {
                    Ok(conn) => conn,
                    Err(_) => return false,
                },
            };
            if conn.ready().await.is_err() {
                return false;
            }
            let Ok(response) = conn.send_request(request).await else {
                return false;
            };
            let success = response.status().is_success();
            // A reply read to its end leaves the connection reusable, an
            // error status included.
            if response.into_body().collect().await.is_err() {
                return false;
            }
            idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
            success
        })
    })
}

/// One HTTP/1 connection's sending half.
pub type Connection = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Opens an HTTP/1 connection to `addr` (no Nagle delay).
pub async fn connect(addr: std::net::SocketAddr) -> anyhow::Result<Connection> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(send)
}

/// The median of `values` (the upper one of an even count); NaN for none.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Sends every `rag.index` body, 4 in flight; fails when one fails.
pub async fn index_all(rag: &RagClient, bodies: Vec<serde_json::Value>) -> anyhow::Result<()> {
    use futures::StreamExt;
    let results: Vec<bool> = futures::stream::iter(bodies)
        .map(|body| {
            let rag = rag.clone();
            async move {
                let payload = serde_json::to_vec(&body).unwrap_or_default().into();
                matches!(rag.request(Subject::Index, payload, None).await,
                         Ok(r) if error_code(&r).is_none())
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    anyhow::ensure!(results.iter().all(|ok| *ok), "an index request failed");
    Ok(())
}
