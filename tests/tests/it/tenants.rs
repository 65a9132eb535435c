//! Tenants share one deployment and see nothing of one another: twenty
//! tenants (`default` among them) write the same collection name, the same
//! document ids and the same graph ids, each with text only it knows; then,
//! in a random order, every tenant searches in every mode, retrieves with
//! the graph's neighbourhood, lists and shows collections, looks up jobs
//! (its own and the others'), replays and lists dead letters, runs raw
//! Cypher and deletes, and every answer holds its own data only. On both
//! vector stores, with the embedded graph store and the Bolt server.

use ragwire_schemas::{Subject, TenantId};
use ragwire_tests::*;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};

on_both_stores!(nothing_leaks_between_tenants);

#[tokio::test]
async fn nothing_leaks_between_tenants_on_bolt() {
    leak_test(Store::Embedded, true).await;
}

async fn nothing_leaks_between_tenants(store: Store) {
    leak_test(store, false).await;
}

/// A tenant of the test: its id and the words only its texts hold.
struct Tenant {
    id: TenantId,
    prefix: String,
    secret: String,
}

impl Tenant {
    fn owns(&self, text: &str) -> bool {
        text.contains(&self.secret)
    }
}

async fn ask(t: &Fixture, tenant: &Tenant, subject: Subject, body: Value) -> async_nats::Message {
    request(t.rag.nats(), &tenant.prefix, subject, &body).await
}

async fn ok(t: &Fixture, tenant: &Tenant, subject: Subject, body: Value) -> Value {
    let reply = ask(t, tenant, subject, body).await;
    let value = json(&reply);
    assert_eq!(
        error_code(&reply),
        None,
        "{} on {subject}: {value}",
        tenant.id
    );
    value
}

async fn leak_test(store: Store, bolt: bool) {
    let mut t = Fixture::new().await;
    t.use_store(store);
    if bolt {
        t.use_bolt();
    }
    t.enable_jobs();
    t.start().await;
    let collection = t.collection("shared");
    let mut rng = rand::rng();
    let tenants: Vec<Tenant> = (0..20)
        .map(|i| {
            let id = if i == 0 {
                TenantId::default()
            } else {
                TenantId::parse(&format!("tn{i:02}{:04}", rng.random_range(0..10_000))).unwrap()
            };
            // A word of this tenant's texts alone.
            let letter = char::from(b'a' + i as u8);
            Tenant {
                prefix: id.prefix(t.prefix()),
                secret: format!("zq{letter}{letter}x"),
                id,
            }
        })
        .collect();

    // The same names everywhere: collection, documents, node ids.
    for tenant in &tenants {
        let s = &tenant.secret;
        ok(
            &t,
            tenant,
            Subject::Index,
            json!({"collection": collection, "chunks": [
                {"doc_id": "doc-a", "chunk_id": "1", "text": format!("alice works at acme {s} alpha")},
                {"doc_id": "doc-a", "chunk_id": "2", "text": format!("acme builds rockets {s} beta")},
                {"doc_id": "doc-b", "chunk_id": "1", "text": format!("bob lives in paris {s} gamma")},
            ]}),
        )
        .await;
        ok(
            &t,
            tenant,
            Subject::GraphUpsert,
            json!({"doc_id": "doc-a", "data": {
                "nodes": [
                    {"id": "alice", "type": "Person", "props": {"name": "Alice", "owner": s}},
                    {"id": "acme", "type": "Org", "props": {"name": "Acme", "owner": s}},
                ],
                "edges": [{"src": "alice", "dst": "acme", "type": "WORKS_AT", "props": {"owner": s}}]
            }}),
        )
        .await;
    }
    // A job of each tenant's, on the same document id.
    let mut jobs = Vec::new();
    for tenant in &tenants {
        let reply = ok(
            &t,
            tenant,
            Subject::JobsSubmit,
            json!({"collection": collection, "documents": [
                {"doc_id": "doc-c", "text": format!("carol writes reports {} delta", tenant.secret)}
            ]}),
        )
        .await;
        let id = reply["jobs"][0]["job_id"].as_str().unwrap().to_owned();
        assert_eq!(reply["jobs"][0]["duplicate"], false, "{}", tenant.id);
        jobs.push(id);
    }
    let mut unique = jobs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), tenants.len(), "one job id per tenant");
    for (tenant, job) in tenants.iter().zip(&jobs) {
        wait_done(&t, tenant, job).await;
    }

    let mut order: Vec<usize> = (0..tenants.len()).collect();
    order.shuffle(&mut rng);
    for &i in &order {
        let me = &tenants[i];
        // Every mode of search sees the tenant's four chunks, none other.
        for mode in ["dense", "keyword", "hybrid"] {
            let reply = ok(
                &t,
                me,
                Subject::Search,
                json!({"collection": collection, "query": format!("alice acme bob carol {}", me.secret),
                       "top_k": 100, "mode": mode}),
            )
            .await;
            let hits = reply["hits"].as_array().unwrap();
            for hit in hits {
                let text = hit["payload"]["text"].as_str().unwrap();
                assert!(me.owns(text), "{} saw `{text}` ({mode})", me.id);
            }
            if mode != "keyword" {
                assert_eq!(hits.len(), 4, "{}: {mode}: {reply}", me.id);
            }
        }
        // Retrieve with the graph: the tenant's nodes and edges only.
        let reply = ok(
            &t,
            me,
            Subject::Retrieve,
            json!({"collection": collection, "query": "what does alice do at acme",
                   "top_k": 50, "include_subgraph": true, "max_hops": 2}),
        )
        .await;
        for hit in reply["hits"].as_array().unwrap() {
            // Facts of the graph are checked below, with the subgraph.
            if hit["citations"][0]["source"] == "graph" {
                continue;
            }
            let text = hit["text"].as_str().unwrap();
            assert!(me.owns(text), "{} retrieved `{text}`: {hit}", me.id);
        }
        let graph = &reply["subgraph"];
        let nodes = graph["nodes"].as_array().unwrap();
        assert_eq!(
            sorted_ids(&graph["nodes"]),
            ["acme", "alice"],
            "{}: {graph}",
            me.id
        );
        for element in nodes.iter().chain(graph["edges"].as_array().unwrap()) {
            assert_eq!(
                element["props"]["owner"],
                me.secret.as_str(),
                "{}: {graph}",
                me.id
            );
        }
        assert_eq!(graph["edges"].as_array().unwrap().len(), 1, "{}", me.id);
        // Collections: the shared name, with the tenant's points only.
        let shown = ok(
            &t,
            me,
            Subject::CollectionsShow,
            json!({"collection": collection}),
        )
        .await;
        assert_eq!(shown["points"], 4, "{}: {shown}", me.id);
        let listed = ok(&t, me, Subject::CollectionsList, json!({})).await;
        let entry = listed["collections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == collection.as_str())
            .unwrap_or_else(|| panic!("{}: {listed}", me.id));
        assert_eq!(entry["points"], 4, "{}", me.id);
        // Jobs: its own is found, every other tenant's is a 404, by
        // status and by replay.
        let mine = ok(&t, me, Subject::JobsStatus, json!({"job_id": jobs[i]})).await;
        assert_eq!(mine["state"], "done");
        let other = (i + 1 + rng.random_range(0..tenants.len() - 1)) % tenants.len();
        for subject in [Subject::JobsStatus, Subject::JobsReplay] {
            let reply = ask(&t, me, subject, json!({"job_id": jobs[other]})).await;
            assert_eq!(
                error_code(&reply),
                Some(404),
                "{} read {}'s job",
                me.id,
                tenants[other].id
            );
        }
        let dead = ok(&t, me, Subject::JobsDead, json!({"limit": 100})).await;
        assert_eq!(dead["dead"].as_array().map_or(0, Vec::len), 0, "{dead}");
        // Raw Cypher is refused to a tenant; `default` keeps it.
        if bolt && !me.id.is_default() {
            let reply = ask(
                &t,
                me,
                Subject::GraphQuery,
                json!({"query": "MATCH (n) RETURN count(n) AS c"}),
            )
            .await;
            assert_error(&reply, 403, "cannot run raw Cypher");
        }
        // An id holding the mark of tenants' ids is refused, not stored
        // where it could name another tenant's node.
        let forged = format!("{}\u{1f}alice", tenants[other].id);
        let reply = ask(
            &t,
            me,
            Subject::GraphUpsert,
            json!({"data": {"nodes": [{"id": forged, "type": "Person"}]}}),
        )
        .await;
        assert_error(&reply, 400, "U+001F");
    }

    // Deletes: a random tenant deletes its document, another drops the
    // collection, a third clears its graph; the others keep everything.
    order.shuffle(&mut rng);
    let (deleter, dropper, clearer) = (order[0], order[1], order[2]);
    let gone = ok(
        &t,
        &tenants[deleter],
        Subject::DocsDelete,
        json!({"collection": collection, "doc_id": "doc-a"}),
    )
    .await;
    assert_eq!(gone["deleted"], 2, "{gone}");
    ok(
        &t,
        &tenants[dropper],
        Subject::CollectionsDrop,
        json!({"collection": collection}),
    )
    .await;
    ok(
        &t,
        &tenants[clearer],
        Subject::GraphDelete,
        json!({"all": true}),
    )
    .await;
    for (i, me) in tenants.iter().enumerate() {
        let expected = match i {
            _ if i == dropper => None,
            _ if i == deleter => Some(2),
            _ => Some(4),
        };
        let reply = ask(
            &t,
            me,
            Subject::CollectionsShow,
            json!({"collection": collection}),
        )
        .await;
        match expected {
            None if me.id.is_default() => assert_eq!(json(&reply)["points"], 0),
            None => assert_eq!(error_code(&reply), Some(404), "{}", me.id),
            Some(n) => assert_eq!(json(&reply)["points"], n, "{}: {}", me.id, json(&reply)),
        }
        if i == dropper {
            continue;
        }
        let reply = ok(
            &t,
            me,
            Subject::Retrieve,
            json!({"collection": collection, "query": "alice acme", "top_k": 5,
                   "include_subgraph": true}),
        )
        .await;
        // `deleter` lost doc-a's contribution (both nodes); `clearer` all.
        let nodes = reply["subgraph"]["nodes"].as_array().map_or(0, Vec::len);
        let want = if i == deleter || i == clearer { 0 } else { 2 };
        assert_eq!(nodes, want, "{}: {reply}", me.id);
    }
}

/// Waits for `tenant`'s job to be done.
async fn wait_done(t: &Fixture, tenant: &Tenant, job: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let status = ok(t, tenant, Subject::JobsStatus, json!({"job_id": job})).await;
        match status["state"].as_str() {
            Some("done") => return,
            Some("failed") => panic!("{}'s job failed: {status}", tenant.id),
            _ if std::time::Instant::now() > deadline => panic!("job not done: {status}"),
            _ => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
}

/// Through the producer: tenants made with the admin API, their keys, and
/// a legacy key, each reaching its own data only, whatever tenant a body
/// names; another tenant's job is a 404, raw Cypher a 403, a suspended
/// tenant's key a 401.
#[tokio::test]
async fn tenant_keys_reach_their_own_data_over_http() {
    const ADMIN: &str = "admin-key-of-the-test-0123";
    const LEGACY: &str = "legacy-key-of-the-test";
    let mut t = Fixture::new().await;
    t.http.api_keys = vec![LEGACY.into()];
    t.http.tenants.admin_key = Some(ADMIN.into());
    t.enable_jobs();
    t.start().await;
    let p = t.producer().await;
    let http = http_client();
    let send = |method: reqwest::Method, path: &str, key: &str, body: Option<Value>| {
        let mut request = http
            .request(method, p.url(path))
            .header("authorization", format!("Bearer {key}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let mut keys = Vec::new();
    for name in ["apricot", "blueberry"] {
        let (status, made) = send(
            reqwest::Method::POST,
            "/admin/tenants",
            ADMIN,
            Some(json!({"name": name})),
        )
        .await;
        assert_eq!(status, 201, "{made}");
        keys.push((
            name,
            made["api_key"].as_str().unwrap().to_owned(),
            made["tenant_id"].as_str().unwrap().to_owned(),
        ));
    }
    keys.push(("lemon", LEGACY.to_owned(), "default".to_owned()));
    let collection = t.collection("kb");
    let other = keys[1].2.clone();
    for (word, key, _) in &keys {
        // The body names another tenant: ignored.
        let (status, reply) = send(
            reqwest::Method::POST,
            "/index/chunks",
            key,
            Some(json!({"collection": collection, "tenant_id": other,
                        "chunks": [{"doc_id": "d", "text": format!("the {word} tree")}]})),
        )
        .await;
        assert_eq!(status, 200, "{reply}");
    }
    for (word, key, _) in &keys {
        let (status, reply) = send(
            reqwest::Method::POST,
            "/search",
            key,
            Some(json!({"collection": collection, "query": "tree", "top_k": 10})),
        )
        .await;
        assert_eq!(status, 200, "{reply}");
        let hits = reply["hits"].as_array().unwrap();
        assert_eq!(hits.len(), 1, "{word}: {reply}");
        assert_eq!(hits[0]["payload"]["text"], format!("the {word} tree"));
    }
    // Usage: each tenant's own points and requests, by the admin API and
    // on /metrics (counted in the background, at most a minute old).
    let (status, used) = send(
        reqwest::Method::GET,
        &format!("/admin/tenants/{}/usage", keys[1].2),
        ADMIN,
        None,
    )
    .await;
    assert_eq!(status, 200, "{used}");
    assert_eq!(used["stored_points"], 1, "{used}");
    let started = std::time::Instant::now();
    loop {
        let metrics = http.get(p.url("/metrics")).send().await.unwrap();
        let metrics = metrics.text().await.unwrap();
        let points: Vec<String> = keys
            .iter()
            .map(|(_, _, id)| format!("ragwire_tenant_points{{tenant=\"{id}\"}} 1\n"))
            .collect();
        if points.iter().all(|line| metrics.contains(line.as_str())) {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{points:?} not in {metrics}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // A job of apricot's is no job to blueberry.
    let (status, submitted) = send(
        reqwest::Method::POST,
        "/ingest",
        &keys[0].1,
        Some(json!({"collection": collection,
                    "documents": [{"doc_id": "j", "text": "apricot jam"}]})),
    )
    .await;
    assert_eq!(status, 202, "{submitted}");
    let job = submitted["jobs"][0]["job_id"].as_str().unwrap();
    let (status, _) = send(
        reqwest::Method::GET,
        &format!("/jobs/{job}"),
        &keys[0].1,
        None,
    )
    .await;
    assert_eq!(status, 200);
    for key in [&keys[1].1, &keys[2].1] {
        let (status, reply) = send(reqwest::Method::GET, &format!("/jobs/{job}"), key, None).await;
        assert_eq!(status, 404, "{reply}");
    }
    // Raw Cypher: a tenant's is refused before any store sees it.
    let (status, reply) = send(
        reqwest::Method::POST,
        "/graph/query",
        &keys[1].1,
        Some(json!({"query": "MATCH (n) RETURN count(n) AS c"})),
    )
    .await;
    assert_eq!(status, 403, "{reply}");
    // Suspended: apricot's key is refused, blueberry's still works.
    let (status, _) = send(
        reqwest::Method::PUT,
        &format!("/admin/tenants/{}/status", keys[0].2),
        ADMIN,
        Some(json!({"status": "suspended"})),
    )
    .await;
    assert_eq!(status, 200);
    let search = json!({"collection": collection, "query": "tree"});
    let (status, _) = send(
        reqwest::Method::POST,
        "/search",
        &keys[0].1,
        Some(search.clone()),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = send(reqwest::Method::POST, "/search", &keys[1].1, Some(search)).await;
    assert_eq!(status, 200);
}

/// Deleting a tenant deletes its data by a durable job with progress: its
/// points, graph and jobs go, another tenant's stay; a tenant still active
/// cannot be purged (409), and a tenant cannot purge anyone (403).
#[tokio::test]
async fn deleting_a_tenant_deletes_its_data() {
    const ADMIN: &str = "admin-key-of-the-test-4567";
    let mut t = Fixture::new().await;
    t.http.tenants.admin_key = Some(ADMIN.into());
    t.enable_jobs();
    t.start().await;
    let p = t.producer().await;
    let http = http_client();
    let admin = |method: reqwest::Method, path: String| {
        let request = http
            .request(method, p.url(&path))
            .header("authorization", format!("Bearer {ADMIN}"));
        async move {
            let response = request.json(&json!({"name": "x"})).send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let collection = t.collection("kb");
    let mut tenants = Vec::new();
    for word in ["quince", "rhubarb"] {
        let (status, made) = admin(reqwest::Method::POST, "/admin/tenants".into()).await;
        assert_eq!(status, 201, "{made}");
        let id = TenantId::parse(made["tenant_id"].as_str().unwrap()).unwrap();
        let me = Tenant {
            prefix: id.prefix(t.prefix()),
            secret: word.into(),
            id,
        };
        ok(
            &t,
            &me,
            Subject::Index,
            json!({"collection": collection, "chunks": [{"doc_id": "d", "text": format!("a {word} pie")}]}),
        )
        .await;
        ok(
            &t,
            &me,
            Subject::GraphUpsert,
            json!({"data": {"nodes": [{"id": "pie", "type": "Dish"}, {"id": word, "type": "Fruit"}],
                            "edges": [{"src": "pie", "dst": word, "type": "HAS"}]}}),
        )
        .await;
        let submitted = ok(
            &t,
            &me,
            Subject::JobsSubmit,
            json!({"collection": collection, "documents": [{"doc_id": "j", "text": format!("{word} jam")}]}),
        )
        .await;
        let job = submitted["jobs"][0]["job_id"].as_str().unwrap().to_owned();
        wait_done(&t, &me, &job).await;
        tenants.push((me, job));
    }
    let (gone, gone_job) = &tenants[0];
    let (kept, kept_job) = &tenants[1];
    // Neither a tenant, nor anyone for a tenant still active, purges.
    let reply = ask(&t, kept, Subject::TenantsPurge, json!({"tenant": gone.id})).await;
    assert_error(&reply, 403, "cannot purge");
    let reply = request(
        t.rag.nats(),
        t.prefix(),
        Subject::TenantsPurge,
        &json!({"tenant": kept.id}),
    )
    .await;
    assert_error(&reply, 409, "not deleted");

    let (status, deleted) = admin(
        reqwest::Method::DELETE,
        format!("/admin/tenants/{}", gone.id),
    )
    .await;
    assert_eq!(status, 200, "{deleted}");
    let job = deleted["job_id"].as_str().expect("a purge job").to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let done = loop {
        let (status, job_status) = admin(
            reqwest::Method::GET,
            format!("/admin/tenants/{}/deletion", gone.id),
        )
        .await;
        assert_eq!(status, 200, "{job_status}");
        assert_eq!(job_status["job_id"], job.as_str());
        if job_status["state"] == "done" {
            break job_status;
        }
        assert!(std::time::Instant::now() < deadline, "{job_status}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    // One collection, the graph, the records: three steps, all done.
    assert_eq!(done["chunks_total"], 3, "{done}");
    assert_eq!(done["chunks_done"], 3, "{done}");

    // The deleted tenant's data is gone, as its own subjects see it...
    let reply = ask(
        &t,
        gone,
        Subject::CollectionsShow,
        json!({"collection": collection}),
    )
    .await;
    assert_eq!(error_code(&reply), Some(404), "{}", json(&reply));
    let reply = ask(&t, gone, Subject::JobsStatus, json!({"job_id": gone_job})).await;
    assert_eq!(error_code(&reply), Some(404));
    let state = t.worker().state();
    let seeds = state.graph.for_tenant(&gone.id);
    assert!(seeds.find_seeds("quince pie", 10).await.unwrap().is_empty());
    let points = state.vectors.for_tenant(&gone.id);
    assert_eq!(points.count(&collection).await.unwrap(), 0);
    // ...and the other tenant's is all there.
    let shown = ok(
        &t,
        kept,
        Subject::CollectionsShow,
        json!({"collection": collection}),
    )
    .await;
    assert_eq!(shown["points"], 2, "{shown}");
    let status = ok(&t, kept, Subject::JobsStatus, json!({"job_id": kept_job})).await;
    assert_eq!(status["state"], "done");
    let graph = ok(
        &t,
        kept,
        Subject::Retrieve,
        json!({"collection": collection, "query": "rhubarb pie", "include_subgraph": true}),
    )
    .await;
    assert_eq!(
        sorted_ids(&graph["subgraph"]["nodes"]),
        ["pie", "rhubarb"],
        "{graph}"
    );
}

#[tokio::test]
async fn a_tenants_tokens_and_embedded_texts_are_counted() {
    use ragwire_common::usage::{self, Counter, UsageBucket};
    const ADMIN: &str = "admin-key-of-the-test-0123";
    const LEGACY: &str = "legacy-key-of-the-test";
    let mut t = Fixture::new().await;
    t.http.api_keys = vec![LEGACY.into()];
    t.http.tenants.admin_key = Some(ADMIN.into());
    t.config.worker.usage_flush = std::time::Duration::from_millis(50);
    // The bucket a producer reading the registry makes; the worker counts
    // once it exists.
    let bucket = UsageBucket::open(t.rag.nats(), t.prefix(), 1)
        .await
        .unwrap();
    t.start().await;
    let acme = TenantId::parse("acme0001").unwrap();
    let prefix = acme.prefix(t.prefix());
    let chat = request(
        t.rag.nats(),
        &prefix,
        Subject::Chat,
        &json!({"messages": [{"role": "user", "content": "hello there"}]}),
    )
    .await;
    let chat = json(&chat);
    let chat_tokens = chat["meta"]["usage"]["total_tokens"]
        .as_u64()
        .expect("a usage");
    assert!(chat_tokens > 0, "{chat}");
    let embedded = request(
        t.rag.nats(),
        &prefix,
        Subject::Embed,
        &json!({"texts": ["one", "two", "three"]}),
    )
    .await;
    assert_eq!(error_code(&embedded), None);

    // Streamed answers count too: the model is asked for its usage, which
    // a client that did not ask for it does not see.
    let p = t.producer().await;
    let stream = |usage: bool| {
        let mut body = json!({
            "model": "rag-answer",
            "stream": true,
            "messages": [{"role": "user", "content": "count these words"}],
        });
        if usage {
            body["stream_options"] = json!({"include_usage": true});
        }
        let request = http_client()
            .post(p.url("/v1/chat/completions"))
            .header("authorization", format!("Bearer {LEGACY}"))
            .json(&body);
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let plain = stream(false).await;
    assert!(plain.contains("data: [DONE]"), "{plain}");
    assert!(!plain.contains("total_tokens"), "{plain}");
    let asked = stream(true).await;
    let usage_event = asked
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .find(|l| l.contains("total_tokens"))
        .expect("the usage chunk asked for");
    let stream_tokens = serde_json::from_str::<Value>(usage_event).unwrap()["usage"]
        ["total_tokens"]
        .as_u64()
        .unwrap();

    let today = usage::day(std::time::SystemTime::now());
    let default = TenantId::default();
    let expected = [
        (Counter::Tokens, &acme, chat_tokens),
        (Counter::EmbeddedTexts, &acme, 3),
        (Counter::Tokens, &default, 2 * stream_tokens),
    ];
    let started = std::time::Instant::now();
    loop {
        let mut counts = Vec::new();
        for (counter, tenant, _) in &expected {
            let entry = usage::entry(*counter, tenant, &today);
            counts.push(bucket.read(&entry).await.unwrap().0);
        }
        let wanted: Vec<u64> = expected.iter().map(|e| e.2).collect();
        if counts == wanted {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "counted {counts:?}, expected {wanted:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let js = async_nats::jetstream::new(t.rag.nats().clone());
    let _ = js.delete_key_value(bucket.name()).await;
}
