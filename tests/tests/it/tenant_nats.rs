//! A NATS server confines each tenant's services to that tenant: a real
//! `nats-server` started with the shipped configuration
//! (`deploy/nats/tenants.conf`, its prefix made the test's), a worker
//! connected as the services' user, and clients connected as tenant
//! `acme01`, tenant `beta02` and the `default` tenant's `legacy` user. Each
//! reaches its own subjects; every attempt at another's subjects, jobs,
//! events, replies or the job streams is refused by the server, and the
//! other tenant's data stays as it was.

use std::time::Duration;

use ragwire_client::{ConnectOptions, RagClient};
use ragwire_schemas::{Subject, TenantId};
use ragwire_tests::*;
use serde_json::{json, Value};

const CONFIG: &str = include_str!("../../../deploy/nats/tenants.conf");

/// A client of `user`, its replies on `inbox`, on the subjects of `tenant`.
async fn client(url: &str, user: &str, inbox: &str, prefix: &str, tenant: &str) -> RagClient {
    let mut options = ConnectOptions::new(url).name(user);
    options.user_and_password = Some((user.into(), format!("pw-{user}")));
    options.inbox_prefix = Some(inbox.into());
    let nats = ragwire_client::connect::connect(&options)
        .await
        .unwrap_or_else(|e| panic!("{user} connects: {e}"));
    let tenant = TenantId::parse(tenant).unwrap();
    rag(&nats, prefix)
        .for_tenant(&tenant)
        .with_timeout(Duration::from_secs(3))
}

async fn call(rag: &RagClient, subject: Subject, body: Value) -> Result<Value, String> {
    let reply = rag
        .request(subject, serde_json::to_vec(&body).unwrap().into(), None)
        .await
        .map_err(|e| e.to_string())?;
    match error_code(&reply) {
        None => Ok(json(&reply)),
        Some(code) => Err(format!("{code}: {}", json(&reply))),
    }
}

#[tokio::test]
async fn a_tenant_user_reaches_its_own_subjects_only() {
    let _own = servers_of_their_own().await;
    let mut t = Fixture::new().await;
    let prefix = t.prefix().to_owned();
    let config = CONFIG.replace("\"rag.", &format!("\"{prefix}."));
    let passwords = [
        ("RAGWIRE_NATS_PASSWORD", "pw-ragwire"),
        ("LEGACY_NATS_PASSWORD", "pw-legacy"),
        ("ACME01_NATS_PASSWORD", "pw-acme01"),
        ("BETA02_NATS_PASSWORD", "pw-beta02"),
    ];
    let dir = test_data_dir(&prefix);
    let server = OwnNats::with_config(&dir, &config, &passwords);
    t.config.common.nats.user = Some("ragwire".into());
    t.config.common.nats.password = Some("pw-ragwire".into());
    t.use_nats(&server.url()).await;
    t.enable_jobs();
    t.start().await;
    let url = server.url();
    let acme = client(&url, "acme01", "_INBOX_acme01", &prefix, "acme01").await;
    let beta = client(&url, "beta02", "_INBOX_beta02", &prefix, "beta02").await;
    let legacy = client(&url, "legacy", "_INBOX_default", &prefix, "default").await;

    // Each tenant writes and reads its own data.
    let collection = t.collection("kb");
    for (rag, word) in [(&acme, "anvil"), (&beta, "bellows"), (&legacy, "lantern")] {
        let body = json!({"collection": collection, "chunks": [{"doc_id": "d1", "text": format!("the {word} is here")}]});
        call(rag, Subject::Index, body).await.unwrap();
        let found = call(
            rag,
            Subject::Search,
            json!({"collection": collection, "query": word, "mode": "keyword"}),
        )
        .await
        .unwrap();
        assert_eq!(found["hits"].as_array().unwrap().len(), 1, "{found}");
        assert!(found["hits"][0]["payload"]["text"]
            .as_str()
            .unwrap()
            .contains(word));
    }

    // acme aimed at beta's subjects, the default tenant's and the job
    // stream: refused by the server (the request never reaches a worker).
    // Refused publishes get no reply: wait for one briefly.
    let base = rag(acme.nats(), &prefix).with_timeout(Duration::from_secs(2));
    let beta_id = TenantId::parse("beta02").unwrap();
    let forged = json!({"collection": collection, "doc_id": "d1"});
    for target in [base.for_tenant(&beta_id), base.clone()] {
        let attempt = call(&target, Subject::DocsDelete, forged.clone()).await;
        assert!(
            attempt.is_err(),
            "acme reached {}: {attempt:?}",
            target.prefix()
        );
    }
    let names = ragwire_client::names::JobNames::new(&prefix);
    acme.nats()
        .publish(names.work_subject.clone(), "{}".into())
        .await
        .unwrap();
    let js = async_nats::jetstream::new(acme.nats().clone());
    let stream =
        tokio::time::timeout(Duration::from_secs(3), js.get_stream(&names.work_stream)).await;
    assert!(!matches!(stream, Ok(Ok(_))), "acme reached JetStream's API");
    // Nor can acme read beta's replies or job events.
    let mut snoop = acme.nats().subscribe("_INBOX_beta02.>").await.unwrap();
    let mut events = acme
        .nats()
        .subscribe(
            names
                .events_subject(">")
                .replace(&prefix, &beta_id.prefix(&prefix)),
        )
        .await
        .unwrap();
    let submitted = call(
        &beta,
        Subject::JobsSubmit,
        json!({"collection": collection, "documents": [{"doc_id": "d2", "text": "beta's job text"}]}),
    )
    .await
    .unwrap();
    let job = submitted["jobs"][0]["job_id"].as_str().unwrap().to_owned();
    let quiet = tokio::time::timeout(Duration::from_secs(2), async {
        tokio::select! {
            m = futures::StreamExt::next(&mut snoop) => m.map(|m| m.subject.to_string()),
            m = futures::StreamExt::next(&mut events) => m.map(|m| m.subject.to_string()),
        }
    })
    .await;
    assert!(matches!(quiet, Err(_) | Ok(None)), "acme read {quiet:?}");
    // And beta's job, looked up on acme's own subjects, does not exist.
    let lookup = call(&acme, Subject::JobsStatus, json!({"job_id": job})).await;
    assert!(lookup.unwrap_err().starts_with("404"));

    // Beta's data is as beta left it.
    let found = call(
        &beta,
        Subject::Search,
        json!({"collection": collection, "query": "bellows", "mode": "keyword"}),
    )
    .await
    .unwrap();
    assert_eq!(found["hits"].as_array().unwrap().len(), 1, "{found}");
    // The default tenant's user cannot reach a tenant's subjects either.
    let attempt = call(
        &rag(legacy.nats(), &prefix)
            .with_timeout(Duration::from_secs(2))
            .for_tenant(&beta_id),
        Subject::Search,
        json!({"collection": collection, "query": "bellows"}),
    )
    .await;
    assert!(attempt.is_err(), "legacy reached beta: {attempt:?}");
    drop(t);
    drop(server);
}
