//! Starting ragwire in-process against the real NATS server, one unique
//! subject prefix per test so tests run in parallel.
//!
//! A test usually owns a [`Fixture`]: a prefix of its own, a fake model
//! server, a worker (and a producer when it asks for one), all stopped when
//! the fixture is dropped, the job streams of its prefix included.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use async_nats::Client;
use ragwire_client::{CallError, ConnectOptions, RagClient};
use ragwire_common::NatsConfig;
use ragwire_producer::HttpConfig;
use ragwire_schemas::{Endpoint, Subject};
use ragwire_worker::{Config, WorkerHandle};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::fake::{Behaviour, FakeOpenAi};

pub use ragwire_client::error_code;

/// `NATS_URL`, or the local default.
pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A subject prefix no other test uses.
pub fn unique_prefix() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Connects to the real NATS server; a missing server fails the test.
pub async fn nats() -> Client {
    let options = ConnectOptions::new(nats_url()).name("ragwire-test");
    ragwire_client::connect::connect(&options)
        .await
        .unwrap_or_else(|e| panic!("the tests need a NATS server: {e}"))
}

/// Connects to the NATS server of a worker's settings.
async fn connect(nats: &NatsConfig) -> Result<Client, CallError> {
    let options = nats
        .connect_options("ragwire-test")
        .expect("the test's NATS settings are valid");
    ragwire_client::connect::connect(&options).await
}

/// A client of the subjects under `prefix` on `nats`, as tests use it: 30 s
/// per request, and "no responders" asked again for up to a second (on a
/// loaded machine a worker's subscription can be briefly absent while its
/// connection is re-established).
pub fn rag(nats: &Client, prefix: &str) -> RagClient {
    RagClient::new(nats.clone(), prefix)
        .with_timeout(Duration::from_secs(30))
        .retry_no_responders(Duration::from_secs(1))
}

/// A fresh data directory for one test, under `RAGWIRE_TEST_DATA` (which
/// `scripts/test` empties before a run) or the system's temp folder.
pub fn test_data_dir(prefix: &str) -> PathBuf {
    let root = std::env::var_os("RAGWIRE_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("ragwire-tests"));
    root.join(prefix)
}

/// The local embedding model: `RAGWIRE_EMBED_MODEL_DIR`, or where
/// `scripts/test` puts it. A missing model fails the test.
pub fn model_dir() -> PathBuf {
    let dir = std::env::var_os("RAGWIRE_EMBED_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/ragwire-models/all-MiniLM-L6-v2"));
    assert!(
        dir.join("model.safetensors").is_file(),
        "the local embedding model is missing at {}: run `scripts/fetch-model {}` (scripts/test does)",
        dir.display(),
        dir.display()
    );
    dir
}

/// A configuration for tests: unique prefix and data directory, backends on
/// `fake` (embeddings included), short timeouts and backoff.
pub fn test_config(fake: &FakeOpenAi) -> Config {
    let prefix = unique_prefix();
    let mut c = Config::default();
    c.worker.data_dir = test_data_dir(&prefix);
    c.common.prefix = prefix;
    c.common.nats.url = nats_url();
    c.embed.base_url = Some(fake.base_url.clone());
    c.llm.base_url = fake.base_url.clone();
    c.llm.timeout = Duration::from_millis(5_000);
    c.retry.backoff = Duration::from_millis(5);
    c.llm
        .aliases
        .push(("rag-answer".into(), "fake-answer-model".into()));
    c.embed.model = "fake-embed".into();
    // Tests count backend calls; the cache has tests of its own.
    c.embed.cache = 0;
    c.rerank.url = Some(format!("{}/rerank", fake.root));
    c.limits.request_timeout = Duration::from_millis(20_000);
    c.limits.shutdown_grace = Duration::from_millis(10_000);
    // Each worker with jobs on makes JetStream streams: only the job tests
    // turn them on (`with_jobs`), and remove them after.
    c.jobs.enabled = false;
    c
}

/// The producer's settings for tests: a reply wait shorter than the
/// default, longer than the test worker's deadline.
pub fn test_http() -> HttpConfig {
    HttpConfig {
        timeout: Duration::from_millis(20_000),
        ..HttpConfig::default()
    }
}

/// `config` with ingest jobs on, retrying fast.
pub fn with_jobs(mut config: Config) -> Config {
    config.jobs.enabled = true;
    config.jobs.backoff = Duration::from_millis(50);
    config.jobs.max_backoff = Duration::from_millis(500);
    config.jobs.ack_wait = Duration::from_millis(5_000);
    config
}

/// Deletes the job streams and bucket of `config`'s prefix, on its NATS
/// server when that still answers.
pub async fn drop_jobs(config: &Config) {
    let Ok(nats) = connect(&config.common.nats).await else {
        return;
    };
    let js = async_nats::jetstream::new(nats);
    let names = config.jobs.names(&config.common.prefix);
    let _ = js.delete_stream(&names.work_stream).await;
    let _ = js.delete_stream(&names.dead_stream).await;
    let _ = js.delete_key_value(&names.bucket).await;
}

/// The Bolt graph server the tests use: `RAGWIRE_TEST_NEO4J_URI`, or the
/// ArcadeDB that `scripts/graphdb start` runs (user `root`, password
/// `playwithdata`, database `kg`). A missing server fails the test.
pub fn bolt_uri() -> String {
    let uri =
        std::env::var("RAGWIRE_TEST_NEO4J_URI").unwrap_or_else(|_| "bolt://127.0.0.1:7687".into());
    let host = uri.split("://").nth(1).unwrap_or(&uri);
    let addr = host
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| panic!("`{uri}` is not host:port"));
    if std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err() {
        panic!("the Bolt graph tests need a server at {uri}: run `scripts/graphdb start` (scripts/test does)");
    }
    uri
}

/// The Qdrant server the tests use (its gRPC port): `RAGWIRE_TEST_QDRANT_URL`,
/// or the one `scripts/qdrant start` runs. A missing server fails the test.
pub fn qdrant_url() -> String {
    let url =
        std::env::var("RAGWIRE_TEST_QDRANT_URL").unwrap_or_else(|_| "http://127.0.0.1:6334".into());
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or(&url)
        .trim_end_matches('/');
    let reachable = host
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|addr| {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
        });
    assert!(
        reachable,
        "the Qdrant-server tests need a server at {url}: run `scripts/qdrant start` (scripts/test does)"
    );
    url
}

/// `config` switched to the Bolt test server, under a label of its own so
/// tests sharing the database see only their own nodes.
pub fn with_bolt(mut config: Config) -> Config {
    config.graph.neo4j_uri = Some(bolt_uri());
    config.graph.user = std::env::var("RAGWIRE_TEST_NEO4J_USER").unwrap_or_else(|_| "root".into());
    config.graph.password =
        std::env::var("RAGWIRE_TEST_NEO4J_PASSWORD").unwrap_or_else(|_| "playwithdata".into());
    config.graph.database =
        Some(std::env::var("RAGWIRE_TEST_NEO4J_DATABASE").unwrap_or_else(|_| "kg".into()));
    config.graph.label = format!("E{}", config.common.prefix);
    // The first query on a fresh ArcadeDB can take several seconds.
    config.graph.timeout = Duration::from_millis(30_000);
    config
}

/// An HTTP client for the producer, with a 30 s timeout.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

/// Starts a worker with `config` on its own NATS connection.
pub async fn start_worker(config: &Config) -> WorkerHandle {
    ragwire_worker::start(config.clone())
        .await
        .expect("worker starts")
}

/// A producer on an ephemeral port; stopped when dropped.
pub struct Producer {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: CancellationToken,
}

impl Producer {
    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The address of a fixture's producer. Cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct ProducerAt(pub SocketAddr);

impl ProducerAt {
    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.0)
    }
}

/// Starts a producer for `config`'s prefix and NATS server, with `http`'s
/// settings, on 127.0.0.1:0.
pub async fn start_producer(config: &Config, http: &HttpConfig) -> Producer {
    let rag = config
        .common
        .client("ragwire-test-producer")
        .await
        .expect("producer connects");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let stop = CancellationToken::new();
    let state = ragwire_producer::AppState::start(http, rag)
        .await
        .expect("the producer's state");
    tokio::spawn(ragwire_producer::serve(listener, state, stop.clone()));
    Producer { addr, stop }
}

/// Which vector store a contract test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// Qdrant's embedded engine, under the fixture's data directory.
    Embedded,
    /// The Qdrant test server (`scripts/qdrant`).
    Qdrant,
}

/// Declares, for each `test(store: Store)` named, a test on the embedded
/// store (in a module `embedded`) and one on the Qdrant server (in
/// `qdrant`).
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(#[tokio::test]
            async fn $name() {
                super::$name($crate::Store::Embedded).await
            })*
        }
        mod qdrant {
            $(#[tokio::test]
            async fn $name() {
                super::$name($crate::Store::Qdrant).await
            })*
        }
    };
}

/// One test's world: a subject prefix and data directory of its own, a fake
/// model server, and, once started, a worker (and a producer when asked).
/// Dropping it stops them and deletes the job streams of its prefix.
pub struct Fixture {
    /// The fake OpenAI-compatible server (chat, embeddings, reranker).
    pub fake: FakeOpenAi,
    /// The worker's settings; change them before [`Fixture::start`].
    pub config: Config,
    /// The producer's settings; change them before [`Fixture::producer`].
    pub http: HttpConfig,
    /// A client of the fixture's prefix.
    pub rag: RagClient,
    worker: Option<WorkerHandle>,
    producer: Option<Producer>,
}

impl Fixture {
    /// A fake model server and a test configuration; nothing started.
    pub async fn new() -> Fixture {
        Fixture::with_fake(FakeOpenAi::start().await).await
    }

    /// Like [`Fixture::new`], with a fake of the test's own.
    pub async fn with_fake(fake: FakeOpenAi) -> Fixture {
        let config = test_config(&fake);
        let rag = rag(&nats().await, &config.common.prefix);
        Fixture {
            fake,
            config,
            http: test_http(),
            rag,
            worker: None,
            producer: None,
        }
    }

    /// Like [`Fixture::new`], with a fake that behaves as `behaviour` says
    /// (8-dimensional embeddings).
    pub async fn with_behaviour(behaviour: Behaviour) -> Fixture {
        Fixture::with_fake(FakeOpenAi::start_with(behaviour, 8).await).await
    }

    /// A fixture whose worker runs, with the test configuration as it is.
    pub async fn started() -> Fixture {
        let mut fixture = Fixture::new().await;
        fixture.start().await;
        fixture
    }

    /// Starts the worker with `config` as the test set it.
    pub async fn start(&mut self) -> &WorkerHandle {
        assert!(self.worker.is_none(), "the fixture's worker already runs");
        self.worker = Some(start_worker(&self.config).await);
        self.worker()
    }

    /// The running worker.
    pub fn worker(&self) -> &WorkerHandle {
        self.worker.as_ref().expect("the fixture's worker runs")
    }

    /// Stops the worker gracefully and returns when it has stopped.
    pub async fn stop(&mut self) {
        if let Some(worker) = self.worker.take() {
            worker.shutdown().await;
        }
    }

    /// Turns ingest jobs on (before [`Fixture::start`]); their streams are
    /// deleted when the fixture is dropped.
    pub fn enable_jobs(&mut self) {
        self.config = with_jobs(self.config.clone());
    }

    /// Switches the graph store to the Bolt test server (before
    /// [`Fixture::start`]).
    pub fn use_bolt(&mut self) {
        self.config = with_bolt(self.config.clone());
    }

    /// Switches the vector store to the Qdrant test server (before
    /// [`Fixture::start`]).
    pub fn use_qdrant(&mut self) {
        self.config.vectors.qdrant_url = Some(qdrant_url());
    }

    /// Puts the vectors on `store` (before [`Fixture::start`]).
    pub fn use_store(&mut self, store: Store) {
        if store == Store::Qdrant {
            self.use_qdrant();
        }
    }

    /// A collection name of this test's own: on a shared server, tests
    /// must not write into one another's collections.
    pub fn collection(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix())
    }

    /// Moves the fixture to the NATS server at `url` (before
    /// [`Fixture::start`]): its worker, producer and client.
    pub async fn use_nats(&mut self, url: &str) {
        self.config.common.nats.url = url.to_owned();
        let nats = connect(&self.config.common.nats)
            .await
            .expect("the test's NATS server answers");
        self.rag = rag(&nats, self.prefix());
    }

    /// The fixture's subject prefix.
    pub fn prefix(&self) -> &str {
        &self.config.common.prefix
    }

    /// Where this fixture's producer listens; it starts on first use, with
    /// `http`.
    pub async fn producer(&mut self) -> ProducerAt {
        if self.producer.is_none() {
            self.producer = Some(start_producer(&self.config, &self.http).await);
        }
        ProducerAt(self.producer.as_ref().expect("just started").addr)
    }

    /// Sends `body` as JSON on `subject` and returns the reply message.
    pub async fn request<T: Serialize + ?Sized>(
        &self,
        subject: Subject,
        body: &T,
    ) -> async_nats::Message {
        request(self.rag.nats(), self.prefix(), subject, body).await
    }

    /// Sends `request` on `E`'s subject and returns the reply message as
    /// it came, for tests that look at the reply's JSON.
    pub async fn send<E: Endpoint>(&self, request: &E::Request) -> async_nats::Message {
        self.request(E::SUBJECT, request).await
    }

    /// Sends raw bytes on `subject` and returns the reply message.
    pub async fn request_raw(
        &self,
        subject: Subject,
        payload: impl Into<bytes::Bytes>,
    ) -> async_nats::Message {
        request_raw(self.rag.nats(), self.prefix(), subject, payload.into()).await
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.producer.take();
        // Dropping the handle starts the worker's shutdown.
        self.worker.take();
        if self.config.jobs.enabled {
            let config = self.config.clone();
            // An async clean-up cannot run in `drop`: a thread of its own,
            // with a runtime of its own, does it before the test ends.
            let cleanup = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime")
                    .block_on(drop_jobs(&config));
            });
            let _ = cleanup.join();
        }
    }
}

/// Sends a request (JSON-encoded `body`) on `subject` under `prefix` and
/// returns the reply message.
pub async fn request<T: Serialize + ?Sized>(
    nats: &Client,
    prefix: &str,
    subject: Subject,
    body: &T,
) -> async_nats::Message {
    request_raw(
        nats,
        prefix,
        subject,
        serde_json::to_vec(body).unwrap().into(),
    )
    .await
}

/// Sends raw bytes on `subject` under `prefix`; see [`rag`] for the retry.
pub async fn request_raw(
    nats: &Client,
    prefix: &str,
    subject: Subject,
    payload: bytes::Bytes,
) -> async_nats::Message {
    rag(nats, prefix)
        .request(subject, payload, None)
        .await
        .unwrap_or_else(|e| panic!("request on {subject} failed: {e}"))
}

/// The reply as JSON.
pub fn json(message: &async_nats::Message) -> serde_json::Value {
    serde_json::from_slice(&message.payload).expect("reply is JSON")
}

/// Asserts an error reply: its code (body and `Nats-Service-Error-Code`
/// header) and a phrase of its message.
pub fn assert_error(reply: &async_nats::Message, code: u16, needle: &str) {
    let body = json(reply);
    assert_eq!(body["ok"], false, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(error_code(reply), Some(code), "header of {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(needle),
        "`{message}` should mention `{needle}`"
    );
}

/// The `id`s of a JSON array of nodes, sorted.
pub fn sorted_ids(nodes: &serde_json::Value) -> Vec<&str> {
    let mut ids: Vec<&str> = nodes
        .as_array()
        .expect("an array of nodes")
        .iter()
        .map(|n| n["id"].as_str().expect("a node id"))
        .collect();
    ids.sort();
    ids
}

/// A workspace binary (`ragwire`, `ragwire-worker`) beside the test binary;
/// a missing one fails the test.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("the target folder")
        .join(name);
    assert!(
        bin.is_file(),
        "{} is missing: `cargo build --workspace --bins` first (scripts/test does)",
        bin.display()
    );
    bin
}

/// A child process killed when dropped, so a failing test leaves none behind.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `ragwire-worker` binary set up like `config` (NATS, prefix, data
/// directory, the fake's URLs), its output going to `child.log` in the data
/// directory; callers add settings and spawn it.
pub fn worker_command(config: &Config) -> std::process::Command {
    let data_dir = &config.worker.data_dir;
    std::fs::create_dir_all(data_dir).expect("the test's data directory");
    let log = std::fs::File::create(data_dir.join("child.log")).expect("a log file");
    let mut command = std::process::Command::new(binary("ragwire-worker"));
    command
        .env_clear()
        .env("NATS_URL", &config.common.nats.url)
        .env("RAGWIRE_PREFIX", &config.common.prefix)
        .env("RAGWIRE_DATA_DIR", data_dir)
        .env("RAGWIRE_EMBED_MODEL", "fake-embed")
        .env("RAGWIRE_LLM_BASE_URL", &config.llm.base_url)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().expect("a log file"))
        .stderr(log);
    if let Some(url) = &config.embed.base_url {
        command.env("RAGWIRE_EMBED_BASE_URL", url);
    }
    command
}

/// A NATS server of the test's own (`nats-server -js`, from `NATS_SERVER`
/// or the `PATH`), on a free loopback port with its own store, so a test can
/// kill it and start it again; killed when dropped. Several make a cluster
/// ([`OwnNats::cluster`]).
pub struct OwnNats {
    /// Its client port.
    pub port: u16,
    /// Its server name.
    pub name: String,
    store: PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    process: Option<Killed>,
}

static SERVERS_OF_THEIR_OWN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Held by a test that starts servers of its own (a NATS server or
/// cluster, a Qdrant cluster) for as long as they run: such tests kill and
/// restart servers on ports they picked free, which another of them could
/// take meanwhile, and each loads the machine's cores on its own.
pub async fn servers_of_their_own() -> tokio::sync::MutexGuard<'static, ()> {
    SERVERS_OF_THEIR_OWN.lock().await
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl OwnNats {
    /// Starts a server on a free port, its store under `dir`.
    pub fn start(dir: &std::path::Path) -> OwnNats {
        let port = free_port();
        let mut server = OwnNats {
            port,
            name: format!("n{port}"),
            store: dir.join(format!("nats-{port}")),
            args: Vec::new(),
            envs: Vec::new(),
            process: None,
        };
        server.restart();
        server
    }

    /// Starts a server on a free port with the configuration file `config`
    /// (its `port` overridden), the variables `envs` in its environment
    /// (for the `$NAME`s the file refers to), its store under `dir`.
    pub fn with_config(dir: &std::path::Path, config: &str, envs: &[(&str, &str)]) -> OwnNats {
        let port = free_port();
        let store = dir.join(format!("nats-{port}"));
        std::fs::create_dir_all(&store).expect("a store folder");
        let file = store.join("server.conf");
        std::fs::write(&file, config).expect("the configuration written");
        let mut server = OwnNats {
            port,
            name: format!("n{port}"),
            store,
            args: vec!["-c".into(), file.display().to_string()],
            envs: envs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            process: None,
        };
        server.restart();
        server
    }

    /// Starts `n` servers routed into one JetStream cluster, their stores
    /// under `dir`, and returns once each accepts connections (JetStream
    /// elects its leader a moment later).
    pub fn cluster(dir: &std::path::Path, n: usize) -> Vec<OwnNats> {
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let routes = ports
            .iter()
            .map(|(_, route)| format!("nats://127.0.0.1:{route}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes: Vec<OwnNats> = ports
            .iter()
            .map(|&(port, route)| OwnNats {
                port,
                name: format!("n{port}"),
                store: dir.join(format!("nats-{port}")),
                envs: Vec::new(),
                args: vec![
                    "--cluster_name".into(),
                    "ragwire-test".into(),
                    "--cluster".into(),
                    format!("nats://127.0.0.1:{route}"),
                    "--routes".into(),
                    routes.clone(),
                ],
                process: None,
            })
            .collect();
        nodes.iter_mut().for_each(OwnNats::restart);
        nodes
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        self.process.take();
    }

    /// Starts the server again on the same port and store, and returns once
    /// it accepts connections.
    pub fn restart(&mut self) {
        assert!(self.process.is_none(), "the server runs");
        std::fs::create_dir_all(&self.store).expect("a store folder");
        let binary = std::env::var("NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
        let child = std::process::Command::new(&binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-n",
                &self.name,
            ])
            .args(["-js", "-sd"])
            .arg(&self.store)
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("these tests need `{binary}` (Debian package nats-server): {e}")
            });
        self.process = Some(Killed(child));
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        for _ in 0..100 {
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("nats-server did not come up on port {}", self.port);
    }
}

/// A three-node Qdrant cluster of the test's own, run by
/// `scripts/qdrant-cluster` on free loopback ports with its storage under
/// a folder of the test; stopped when dropped. The Qdrant binary must be
/// there (`../shared/bin`, or `QDRANT_BIN`): a missing one fails the test.
pub struct QdrantCluster {
    base: u16,
    dir: PathBuf,
}

impl QdrantCluster {
    /// Nodes of the cluster.
    pub const NODES: usize = 3;

    /// Starts the cluster, its storage under `dir`, and returns once its
    /// three peers agree.
    pub fn start(dir: &std::path::Path) -> QdrantCluster {
        let cluster = QdrantCluster {
            base: free_port_block(),
            dir: dir.to_owned(),
        };
        cluster.script(&["start"]);
        cluster
    }

    fn script(&self, args: &[&str]) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/qdrant-cluster");
        let out = std::process::Command::new(&script)
            .args(args)
            .env("RAGWIRE_QDRANT_CLUSTER_PORT", self.base.to_string())
            .env("RAGWIRE_QDRANT_CLUSTER_DIR", &self.dir)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{} does not run: {e}", script.display()));
        assert!(
            out.status.success(),
            "`scripts/qdrant-cluster {}` failed (the Qdrant cluster tests need the Qdrant \
             binary of ../shared/bin, or QDRANT_BIN): {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Node `n`'s (1 to 3) gRPC URL, as `QDRANT_URL` takes it.
    pub fn grpc_url(&self, n: usize) -> String {
        format!("http://127.0.0.1:{}", self.port(n) + 1)
    }

    /// Node `n`'s (1 to 3) HTTP URL.
    pub fn http_url(&self, n: usize) -> String {
        format!("http://127.0.0.1:{}", self.port(n))
    }

    fn port(&self, n: usize) -> u16 {
        assert!((1..=Self::NODES).contains(&n), "no node {n}");
        self.base + 10 * (n as u16 - 1)
    }

    /// Kills node `n` at once (SIGKILL), as a crash would; its storage stays.
    pub fn kill(&self, n: usize) {
        self.script(&["kill", &n.to_string()]);
    }

    /// Starts node `n` again on its storage, and returns once it is ready
    /// and sees its peers.
    pub fn restart(&self, n: usize) {
        self.script(&["restart", &n.to_string()]);
    }
}

impl Drop for QdrantCluster {
    fn drop(&mut self) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/qdrant-cluster");
        let _ = std::process::Command::new(script)
            .arg("stop")
            .env("RAGWIRE_QDRANT_CLUSTER_PORT", self.base.to_string())
            .env("RAGWIRE_QDRANT_CLUSTER_DIR", &self.dir)
            .status();
    }
}

/// A first port of `scripts/qdrant-cluster`'s layout (each node takes the
/// port, the next two, and the node after it ten above) whose ports are all
/// free now.
fn free_port_block() -> u16 {
    for _ in 0..100 {
        let base = free_port();
        if base > 65_000 {
            continue;
        }
        let ports =
            (0..QdrantCluster::NODES as u16).flat_map(|n| (0..3).map(move |p| base + 10 * n + p));
        let free = ports
            .into_iter()
            .all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        if free {
            return base;
        }
    }
    panic!("no block of free ports for a Qdrant cluster");
}
