//! Tenants sharing a collection: the search latency of a tenant among 100
//! that share one collection of 100,000 points (partitioned by the payload
//! field `tenant`, which is what ragwire does), against the same tenant
//! alone in a collection of its own holding its 1,000 points (what one
//! collection per tenant would give). On the embedded store, and on the
//! Qdrant server when one answers at `--qdrant-url`. Vectors are random (384 dimensions), written straight
//! to the store: the embedder is not what is measured.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use ragwire_schemas::TenantId;
use ragwire_tests::{start_producer, start_worker, test_config, test_http, Behaviour, FakeOpenAi};

use crate::load::{http_call_as, measure, median};
use ragwire_worker::testing::{
    EmbeddedStore, Point, QdrantStore, Query, TenantVectors, VectorStore,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

const DIM: usize = 384;
const TENANTS: usize = 100;
const PER_TENANT: usize = 1000;

fn vector(rng: &mut StdRng) -> Vec<f32> {
    let v: Vec<f32> = (0..DIM).map(|_| rng.random::<f32>() - 0.5).collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

fn points(rng: &mut StdRng, tenant: usize) -> Vec<Point> {
    (0..PER_TENANT)
        .map(|i| Point {
            id: uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_OID,
                format!("{tenant}/{i}").as_bytes(),
            ),
            vector: vector(rng),
            keywords: Default::default(),
            payload: json!({"doc_id": format!("d{i}"), "text": "", "generation": 1})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        })
        .collect()
}

fn tenant(i: usize) -> TenantId {
    TenantId::parse(&format!("tenant{i:03}")).expect("a tenant id")
}

/// Latencies (ms) of `n` searches by `who(i)` in `collection`.
async fn searches(
    store: &Arc<dyn VectorStore>,
    collection: &str,
    n: usize,
    who: impl Fn(usize) -> TenantId,
    rng: &mut StdRng,
) -> anyhow::Result<Vec<f64>> {
    let mut ms = Vec::with_capacity(n);
    for i in 0..n {
        let view = TenantVectors::new(store.clone(), who(i));
        let query = Query::Dense(vector(rng));
        let started = Instant::now();
        let hits = view.search(collection, query, 10, &[]).await?;
        ms.push(started.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(hits.len() == 10, "{} hits", hits.len());
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms)
}

fn at(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

/// Waits until `collection` is searched as it will stay: its search index
/// built (embedded), or the server's optimisers idle (Qdrant).
async fn settle(store: &Settle, collection: &str) -> anyhow::Result<()> {
    match store {
        Settle::Embedded(store) => store.optimize_now(collection).await?,
        Settle::Qdrant(client) => loop {
            let info = client.collection_info(collection).await?;
            let green = info
                .result
                .is_some_and(|r| r.status == qdrant_client::qdrant::CollectionStatus::Green as i32);
            if green {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        },
    }
    Ok(())
}

/// How to wait for a collection to settle.
enum Settle {
    Embedded(Arc<EmbeddedStore>),
    Qdrant(qdrant_client::Qdrant),
}

async fn one_store(
    name: &str,
    store: Arc<dyn VectorStore>,
    settled: Settle,
    n: usize,
) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(7);
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (shared, alone) = (
        format!("shared{}", &run[..8]),
        format!("alone{}", &run[..8]),
    );
    let started = Instant::now();
    for t in 0..TENANTS {
        let view = TenantVectors::new(store.clone(), tenant(t));
        let points = points(&mut rng, t);
        if t == 0 {
            view.upsert(&alone, DIM, points.clone()).await?;
        }
        for part in points.chunks(250) {
            view.upsert(&shared, DIM, part.to_vec()).await?;
        }
    }
    store.flush().await?;
    settle(&settled, &shared).await?;
    settle(&settled, &alone).await?;
    let loaded = started.elapsed().as_secs_f64();
    // Warm both, then measure them in turns so that the machine's noise
    // falls on both alike.
    searches(&store, &shared, 50, |_| tenant(0), &mut rng).await?;
    searches(&store, &alone, 50, |_| tenant(0), &mut rng).await?;
    let (mut s, mut a, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        s.extend(searches(&store, &shared, n / 5, |_| tenant(0), &mut rng).await?);
        a.extend(searches(&store, &alone, n / 5, |_| tenant(0), &mut rng).await?);
        r.extend(
            searches(
                &store,
                &shared,
                n / 5,
                |i| tenant(i * 37 % TENANTS),
                &mut rng,
            )
            .await?,
        );
    }
    for v in [&mut s, &mut a, &mut r] {
        v.sort_by(f64::total_cmp);
    }
    println!("{name}: {TENANTS} tenants x {PER_TENANT} points loaded and indexed in {loaded:.1} s; {} searches each, top 10:", s.len());
    println!("{:<44} {:>8} {:>8} {:>8}", "", "p50 ms", "p95 ms", "p99 ms");
    for (label, v) in [
        ("one tenant alone (1,000 points)", &a),
        ("the same tenant in the shared collection", &s),
        ("any of the 100 tenants, shared collection", &r),
    ] {
        println!(
            "{label:<44} {:>8.2} {:>8.2} {:>8.2}",
            at(v, 0.5),
            at(v, 0.95),
            at(v, 0.99)
        );
    }
    println!(
        "p95 shared / alone: {:.2} (same tenant), {:.2} (any tenant)",
        at(&s, 0.95) / at(&a, 0.95),
        at(&r, 0.95) / at(&a, 0.95)
    );
    for collection in [&shared, &alone] {
        store.drop_collection(collection).await?;
    }
    Ok(())
}

pub async fn run(url: &str, searches: usize) -> anyhow::Result<()> {
    println!();
    let dir = std::env::temp_dir().join(format!("ragwire-bench-tenants-{}", std::process::id()));
    let embedded = EmbeddedStore::open(&dir, 10_000)?;
    let settle = Settle::Embedded(embedded.clone());
    one_store("embedded store (qdrant-edge)", embedded, settle, searches).await?;
    let _ = std::fs::remove_dir_all(&dir);
    let fake = FakeOpenAi::start().await;
    let config = test_config(&fake);
    match QdrantStore::connect(url, &config.vectors, &config.retry) {
        Ok(store) if store.collections().await.is_ok() => {
            let settle = Settle::Qdrant(qdrant_client::Qdrant::from_url(url).build()?);
            one_store(&format!("Qdrant server at {url}"), store, settle, searches).await?;
        }
        _ => println!("no Qdrant server at {url}: its rows are left out"),
    }
    Ok(())
}

/// Requests/s on the producer's `/embed` at 64 in flight, with a legacy key
/// (the `default` tenant) and with a tenant key made by the admin API; each
/// text new, so that every request reaches the (instant) fake embedder.
/// Rounds alternate the two; medians compared.
pub async fn keys(seconds: f64, rounds: usize, dim: usize) -> anyhow::Result<()> {
    const ADMIN: &str = "bench-admin-key-0123456789";
    const LEGACY: &str = "bench-legacy-key";
    let fake = FakeOpenAi::start_with(Behaviour::default(), dim).await;
    fake.stop_recording();
    let mut config = test_config(&fake);
    config.limits.max_in_flight = 4096;
    let _worker = start_worker(&config).await;
    let mut http = test_http();
    http.api_keys = vec![LEGACY.into()];
    http.tenants.admin_key = Some(ADMIN.into());
    let producer = start_producer(&config, &http).await;
    let made: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{}/admin/tenants", producer.addr))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "bench"}))
        .send()
        .await?
        .json()
        .await?;
    let tenant_key = made["api_key"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no tenant key: {made}"))?
        .to_owned();
    let fresh = |who: &'static str| {
        move |n: u64| Bytes::from(format!(r#"{{"texts":["the quick brown fox {who} {n}"]}}"#))
    };
    let legacy_call = http_call_as(producer.addr, "/embed", Some(LEGACY), fresh("legacy"));
    let tenant_call = http_call_as(producer.addr, "/embed", Some(&tenant_key), fresh("tenant"));
    // Warm both paths (connections, the tenant's client and state).
    measure(legacy_call.clone(), 64, 1.0).await;
    measure(tenant_call.clone(), 64, 1.0).await;
    let (mut legacy, mut tenant) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let l = measure(legacy_call.clone(), 64, seconds).await;
        let t = measure(tenant_call.clone(), 64, seconds).await;
        eprintln!(
            "round {round}: legacy {:.0} req/s, tenant {:.0} req/s",
            l.rps, t.rps
        );
        anyhow::ensure!(
            l.errors == 0 && t.errors == 0,
            "errors: {} and {}",
            l.errors,
            t.errors
        );
        legacy.push(l.rps);
        tenant.push(t.rps);
    }
    let (l, t) = (median(legacy), median(tenant));
    println!();
    println!(
        "producer /embed at 64 in flight, instant fake embedder, {rounds} rounds of {seconds} s:"
    );
    println!("{:<34} {:>10}", "key", "req/s");
    println!("{:<34} {:>10.0}", "legacy key (tenant `default`)", l);
    println!("{:<34} {:>10.0}", "tenant key (sk-{tenant}-...)", t);
    println!("tenant / legacy: {:.3}", t / l);
    Ok(())
}

/// `clients` loops sending `POST {path}` with `key` round-robin to
/// `producers` for `seconds`, each with a body from `body`.
async fn hammer(
    producers: &[String],
    path: &str,
    key: &str,
    clients: usize,
    seconds: f64,
    body: impl Fn(&mut StdRng) -> serde_json::Value + Send + Sync + Clone + 'static,
) -> Vec<u16> {
    let http = reqwest::Client::new();
    let began = Instant::now();
    let tasks = (0..clients).map(|c| {
        let (http, body) = (http.clone(), body.clone());
        let url = format!("{}{path}", producers[c % producers.len()]);
        let key = key.to_owned();
        tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(c as u64);
            let mut sent = Vec::new();
            while began.elapsed().as_secs_f64() < seconds {
                let status = match http
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&body(&mut rng))
                    .send()
                    .await
                {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let _ = r.bytes().await;
                        status
                    }
                    Err(_) => 0,
                };
                sent.push(status);
                if status == 429 {
                    // As a client honouring `Retry-After` would not retry
                    // at once; a short pause keeps the refusals cheap.
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
            sent
        })
    });
    let mut all = Vec::new();
    for task in futures::future::join_all(tasks).await {
        all.extend(task.expect("a client task"));
    }
    all
}

/// Quotas held by three producers together: requests per minute, requests
/// in flight and LLM tokens per day, each against its limit. One worker and
/// three producers in this process, a fake model answering each chat in
/// 200 ms with `usage` of 2 × words + 1 tokens.
pub async fn quotas() -> anyhow::Result<()> {
    const ADMIN: &str = "bench-admin-key-0123456789";
    let fake = FakeOpenAi::start_with(
        Behaviour {
            delay: std::time::Duration::from_millis(200),
            ..Behaviour::default()
        },
        64,
    )
    .await;
    fake.stop_recording();
    let mut config = test_config(&fake);
    config.limits.max_in_flight = 4096;
    let _worker = start_worker(&config).await;
    let mut http = test_http();
    http.tenants.admin_key = Some(ADMIN.into());
    let mut producers = Vec::new();
    let mut running = Vec::new();
    for _ in 0..3 {
        let p = start_producer(&config, &http).await;
        producers.push(format!("http://{}", p.addr));
        running.push(p);
    }
    let admin = reqwest::Client::new();
    let tenant = |name: &'static str, quotas: serde_json::Value| {
        let (admin, base) = (admin.clone(), producers[0].clone());
        async move {
            let made: serde_json::Value = admin
                .post(format!("{base}/admin/tenants"))
                .bearer_auth(ADMIN)
                .json(&json!({"name": name}))
                .send()
                .await?
                .json()
                .await?;
            let id = made["tenant_id"].as_str().unwrap_or_default().to_owned();
            let set = admin
                .put(format!("{base}/admin/tenants/{id}/quotas"))
                .bearer_auth(ADMIN)
                .json(&quotas)
                .send()
                .await?;
            anyhow::ensure!(
                set.status().is_success(),
                "quotas not set: {}",
                set.status()
            );
            let key = made["api_key"].as_str().unwrap_or_default().to_owned();
            anyhow::Ok((id, key))
        }
    };
    // A chat of 10 to 90 words: 21 to 181 tokens, 101 on average.
    let chat = |rng: &mut StdRng| {
        let words: Vec<String> = (0..rng.random_range(10..=90))
            .map(|i| format!("w{i}"))
            .collect();
        json!({"messages": [{"role": "user", "content": words.join(" ")}]})
    };
    println!();
    println!("quotas held by 3 producers together (48 clients spread over them, a chat answered in 200 ms):");
    println!(
        "{:<24} {:>9} {:>10} {:>10} {:>8}",
        "quota", "limit", "let in", "refused", "ratio"
    );

    // Requests per minute, within one calendar minute.
    let rpm = 1200;
    let (_, key) = tenant("rpm", json!({"requests_per_minute": rpm})).await?;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        % 60;
    if second > 40 {
        eprintln!("waiting {} s for the next minute", 60 - second);
        tokio::time::sleep(std::time::Duration::from_secs(60 - second + 1)).await;
    }
    let sent = hammer(&producers, "/chat", &key, 48, 12.0, chat).await;
    let ok = sent.iter().filter(|s| **s == 200).count();
    let refused = sent.iter().filter(|s| **s == 429).count();
    println!(
        "{:<24} {:>9} {:>10} {:>10} {:>8.3}",
        "requests_per_minute",
        rpm,
        ok,
        refused,
        ok as f64 / rpm as f64
    );

    // Requests in flight.
    let limit = 8;
    let (_, key) = tenant("inflight", json!({"concurrent_requests": limit})).await?;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    fake.most_chats_at_once();
    let sent = hammer(&producers, "/chat", &key, 48, 6.0, chat).await;
    let ok = sent.iter().filter(|s| **s == 200).count();
    let refused = sent.iter().filter(|s| **s == 429).count();
    let most = fake.most_chats_at_once();
    println!(
        "{:<24} {:>9} {:>10} {:>10} {:>8.3}   (most at the model at once; {ok} requests in 6 s, {:.0} at most)",
        "concurrent_requests",
        limit,
        most,
        refused,
        most as f64 / limit as f64,
        6.0 * limit as f64 / 0.2
    );

    // LLM tokens per day.
    let limit = 50_000u64;
    let (id, key) = tenant("tokens", json!({"tokens_per_day": limit})).await?;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let sent = hammer(&producers, "/chat", &key, 48, 10.0, chat).await;
    let ok = sent.iter().filter(|s| **s == 200).count();
    let refused = sent.iter().filter(|s| **s == 429).count();
    // The last answers' tokens reach the bucket within a flush.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let used: serde_json::Value = admin
        .get(format!("{}/admin/tenants/{id}/usage", producers[0]))
        .bearer_auth(ADMIN)
        .send()
        .await?
        .json()
        .await?;
    let tokens = used["tokens"].as_u64().unwrap_or_default();
    println!(
        "{:<24} {:>9} {:>10} {:>10} {:>8.3}   (tokens used; {ok} chats let in)",
        "tokens_per_day",
        limit,
        tokens,
        refused,
        tokens as f64 / limit as f64
    );
    Ok(())
}
