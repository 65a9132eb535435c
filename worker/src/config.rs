//! Settings for the worker and the producer: defaults, then an optional TOML
//! file (`RAGWIRE_CONFIG`), then environment variables. An invalid value stops
//! start-up with an error naming it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::error::Error;

/// All of ragwire's settings. Field docs name the environment variable.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Subject prefix (`RAGWIRE_PREFIX`, default `rag`): subjects are `rag.chat`, ...
    pub prefix: String,
    /// Queue group shared by all workers (`RAGWIRE_QUEUE_GROUP`, default `ragwire`).
    pub queue_group: String,
    /// Where embedded stores keep their files (`RAGWIRE_DATA_DIR`, default `./data`).
    pub data_dir: PathBuf,
    /// JSON log lines instead of text (`RAGWIRE_LOG_JSON`, default false).
    pub log_json: bool,
    /// Run retrieve's vector and graph stages one after the other instead of
    /// in parallel, to measure the difference (`RAGWIRE_RETRIEVE_SERIAL`,
    /// default false).
    pub retrieve_serial: bool,
    pub nats: NatsConfig,
    pub llm: LlmConfig,
    pub embed: EmbedConfig,
    pub rerank: RerankConfig,
    pub vectors: VectorConfig,
    pub graph: GraphConfig,
    pub extract: ExtractConfig,
    pub jobs: JobsConfig,
    pub limits: Limits,
    pub http: HttpConfig,
}

/// How to reach NATS.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsConfig {
    /// Server URL(s), comma-separated (`NATS_URL`, default `nats://127.0.0.1:4222`).
    pub url: String,
    /// User name (`NATS_USER`), with `password` (`NATS_PASSWORD`).
    pub user: Option<String>,
    pub password: Option<String>,
    /// Token authentication (`NATS_TOKEN`).
    pub token: Option<String>,
    /// A `.creds` file (`NATS_CREDS`).
    pub creds_file: Option<PathBuf>,
    /// CA certificate to trust (`NATS_TLS_CA`).
    pub tls_ca: Option<PathBuf>,
    /// Client certificate and key for mutual TLS (`NATS_TLS_CERT`, `NATS_TLS_KEY`).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Refuse to connect without TLS (`NATS_TLS_REQUIRED`, default false).
    pub tls_required: bool,
    /// Give up connecting at start after this long (`NATS_CONNECT_TIMEOUT_MS`, default 3000).
    pub connect_timeout_ms: u64,
}

/// One OpenAI-compatible endpoint in the provider chain.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Name shown in replies and logs.
    pub name: String,
    /// Base URL including `/v1`.
    pub base_url: String,
    #[serde(default)]
    pub api_key: Option<String>,
    /// Per-provider alias overrides (alias -> model name on this provider).
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
}

/// The chat LLM and its fallbacks.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// First provider's base URL (`RAGWIRE_LLM_BASE_URL`, default `http://127.0.0.1:4000/v1`).
    pub base_url: String,
    /// First provider's key (`RAGWIRE_LLM_API_KEY`).
    pub api_key: Option<String>,
    /// Fallback providers tried in order when one fails
    /// (`RAGWIRE_LLM_FALLBACK_URLS`, comma-separated, keys in
    /// `RAGWIRE_LLM_FALLBACK_API_KEYS` in the same order).
    pub fallbacks: Vec<ProviderConfig>,
    /// Model aliases, alias -> model name (`RAGWIRE_MODEL_ALIASES`,
    /// `alias=model,alias=model`).
    pub aliases: BTreeMap<String, String>,
    /// Alias used when a request names no model or an unknown one
    /// (`RAGWIRE_DEFAULT_MODEL`, default `rag-answer`).
    pub default_alias: String,
    /// Per attempt (`RAGWIRE_LLM_TIMEOUT_MS`, default 60000).
    pub timeout_ms: u64,
    /// Retries per provider on 429/5xx/connection errors (`RAGWIRE_LLM_MAX_RETRIES`, default 2).
    pub max_retries: u32,
    /// A `Retry-After` longer than this skips to the next provider
    /// (`RAGWIRE_LLM_MAX_RETRY_AFTER_MS`, default 10000).
    pub max_retry_after_ms: u64,
    /// First backoff step when the backend gives no hint (`RAGWIRE_LLM_BACKOFF_MS`, default 200).
    pub backoff_ms: u64,
}

/// Embeddings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedConfig {
    /// OpenAI-compatible base URL of an embedding service
    /// (`RAGWIRE_EMBED_BASE_URL`); unset = the local model in `model_dir`.
    pub base_url: Option<String>,
    /// Folder of the local sentence-transformers BERT model
    /// (`RAGWIRE_EMBED_MODEL_DIR`, default `{data_dir}/models/all-MiniLM-L6-v2`).
    pub model_dir: Option<PathBuf>,
    /// Key (`RAGWIRE_EMBED_API_KEY`, defaults to the LLM one).
    pub api_key: Option<String>,
    /// Model name (`RAGWIRE_EMBED_MODEL`, default `text-embedding-3-small`).
    pub model: String,
    /// Per backend call (`RAGWIRE_EMBED_TIMEOUT_MS`, default 30000).
    pub timeout_ms: u64,
    /// How long the batcher waits for more requests when all call slots are busy
    /// (`RAGWIRE_EMBED_BATCH_WINDOW_US`, default 2000; 0 sends at once).
    pub batch_window_us: u64,
    /// Most texts in one backend call (`RAGWIRE_EMBED_MAX_BATCH`, default 256).
    pub max_batch: usize,
    /// Most backend calls in flight (`RAGWIRE_EMBED_MAX_CONCURRENCY`, default 16).
    pub max_concurrency: usize,
    /// Most embed requests waiting for a batch (`RAGWIRE_EMBED_QUEUE`, default 10000).
    pub queue: usize,
    /// Vectors of recently embedded short texts kept, so a repeated text
    /// costs no backend call (`RAGWIRE_EMBED_CACHE`, default 10000; 0: off).
    pub cache: usize,
    /// How the embedding service sends vectors (`RAGWIRE_EMBED_ENCODING`,
    /// `base64` (default) or `float`).
    pub encoding: EmbedEncoding,
}

/// Wire encoding of vectors asked of an OpenAI-compatible embedding service
/// (its `encoding_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbedEncoding {
    /// Little-endian f32 bytes in base64: exact, and far cheaper to parse
    /// than decimal floats. OpenAI, vLLM, TEI and LiteLLM support it; a
    /// service that ignores it and sends floats is still understood.
    Base64,
    /// JSON arrays of floats, for services that refuse `encoding_format`.
    Float,
}

impl FromStr for EmbedEncoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        choice(s, "`base64` or `float`")
    }
}

/// Parses a setting that names one variant of `T` (its serde name).
fn choice<T: serde::de::DeserializeOwned>(s: &str, choices: &str) -> Result<T, String> {
    use serde::de::value::{Error, StrDeserializer};
    T::deserialize(StrDeserializer::<Error>::new(s)).map_err(|_| format!("`{s}` is not {choices}"))
}

/// The vector store.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VectorConfig {
    /// Qdrant server, gRPC port (`QDRANT_URL`, e.g. `http://127.0.0.1:6334`);
    /// unset = Qdrant's embedded engine under `{data_dir}/vectors`.
    pub qdrant_url: Option<String>,
    /// Qdrant API key (`QDRANT_API_KEY`).
    pub qdrant_api_key: Option<String>,
    /// Per Qdrant call (`RAGWIRE_VECTOR_TIMEOUT_MS`, default 30000).
    pub timeout_ms: u64,
    /// Embedded store: build the search index and merge segments after this
    /// many written points (`RAGWIRE_VECTOR_OPTIMIZE_EVERY`, default 10000).
    pub optimize_every: usize,
}

impl Default for VectorConfig {
    fn default() -> Self {
        VectorConfig {
            qdrant_url: None,
            qdrant_api_key: None,
            timeout_ms: 30_000,
            optimize_every: 10_000,
        }
    }
}

/// The graph store.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphConfig {
    /// Bolt server (`NEO4J_URI`, e.g. `bolt://127.0.0.1:7687`: Neo4j,
    /// Memgraph, ArcadeDB); unset = embedded SQLite in `{data_dir}/graph.sqlite`.
    pub neo4j_uri: Option<String>,
    /// Bolt user (`NEO4J_USER`, default `neo4j`).
    pub user: String,
    /// Bolt password (`NEO4J_PASSWORD`).
    pub password: String,
    /// Database name (`NEO4J_DATABASE`; unset = the server's default).
    pub database: Option<String>,
    /// Label every ragwire node carries besides its type, so several graphs
    /// can share one database (`RAGWIRE_GRAPH_LABEL`, default `Entity`).
    pub label: String,
    /// Per graph call (`RAGWIRE_GRAPH_TIMEOUT_MS`, default 10000).
    pub timeout_ms: u64,
    /// Bolt connections per worker (`RAGWIRE_GRAPH_MAX_CONNECTIONS`, default 16).
    pub max_connections: usize,
    /// Most rows a `graph.query` returns (`RAGWIRE_GRAPH_MAX_ROWS`, default 1000).
    pub max_rows: usize,
}

impl Default for GraphConfig {
    fn default() -> Self {
        GraphConfig {
            neo4j_uri: None,
            user: "neo4j".into(),
            password: String::new(),
            database: None,
            label: "Entity".into(),
            timeout_ms: 10_000,
            max_connections: 16,
            max_rows: 1000,
        }
    }
}

/// Knowledge-graph extraction (`graph.extract`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExtractConfig {
    /// Model aliases tried, hedged, in this order (`RAGWIRE_EXTRACT_CHAIN`,
    /// comma-separated, default `graph-extractor`); a request's
    /// `provider_chain` replaces it.
    pub chain: Vec<String>,
    /// Start the next provider when the running ones have no valid graph
    /// after this long (`RAGWIRE_EXTRACT_HEDGE_MS`, default 1500).
    pub hedge_delay_ms: u64,
    /// Attempts per provider: strict, then nudge (`RAGWIRE_EXTRACT_MAX_ATTEMPTS`, default 2).
    pub max_attempts: u32,
    /// Fewest nodes and edges of a successful extraction
    /// (`RAGWIRE_EXTRACT_MIN_NODES`, `RAGWIRE_EXTRACT_MIN_EDGES`, default 1 and 1).
    pub min_nodes: usize,
    pub min_edges: usize,
    /// Contexts longer than this many characters are split into windows
    /// (`RAGWIRE_EXTRACT_WINDOW_CHARS`, default 6000).
    pub window_chars: usize,
    /// Characters shared by neighbouring windows (`RAGWIRE_EXTRACT_WINDOW_OVERLAP`, default 400).
    pub window_overlap: usize,
    /// Windows extracted at once per request (`RAGWIRE_EXTRACT_WINDOW_CONCURRENCY`, default 4).
    pub window_concurrency: usize,
    /// Longest context accepted, in characters (`RAGWIRE_EXTRACT_MAX_CONTEXT_CHARS`, default 200000).
    pub max_context_chars: usize,
    /// Aliases whose servers reject `response_format: json_object`; they get
    /// the JSON instruction only (`RAGWIRE_EXTRACT_NO_RESPONSE_FORMAT`, comma-separated).
    pub no_response_format: Vec<String>,
    /// Sampling temperature (`RAGWIRE_EXTRACT_TEMPERATURE`, default 0).
    pub temperature: f32,
}

impl Default for ExtractConfig {
    fn default() -> Self {
        ExtractConfig {
            chain: vec!["graph-extractor".into()],
            hedge_delay_ms: 1500,
            max_attempts: 2,
            min_nodes: 1,
            min_edges: 1,
            window_chars: 6000,
            window_overlap: 400,
            window_concurrency: 4,
            max_context_chars: 200_000,
            no_response_format: Vec::new(),
            temperature: 0.0,
        }
    }
}

/// Durable ingest jobs on JetStream.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// Set up the job streams and serve the `jobs.*` subjects
    /// (`RAGWIRE_JOBS`, default true).
    pub enabled: bool,
    /// Process ingest jobs in this worker (`RAGWIRE_JOBS_CONSUME`, default
    /// true); submission, status and replay work either way.
    pub consume: bool,
    /// Work-queue stream (`RAGWIRE_JOBS_STREAM`, default `{PREFIX}_JOBS`,
    /// dots as `_`), on subject `{prefix}.jobs.work`.
    pub stream: Option<String>,
    /// Dead-letter stream (`RAGWIRE_JOBS_DEAD_STREAM`, default
    /// `{PREFIX}_JOBS_DEAD`), on subjects `{prefix}.jobs.dead.{job_id}`.
    pub dead_stream: Option<String>,
    /// Key-value bucket of job status (`RAGWIRE_JOBS_BUCKET`, default `{prefix}_jobs`).
    pub bucket: Option<String>,
    /// Durable consumer shared by all workers (`RAGWIRE_JOBS_CONSUMER`, default `ingest`).
    pub consumer: String,
    /// Deliveries of a job before it goes to the dead-letter stream
    /// (`RAGWIRE_JOBS_MAX_DELIVER`, default 5).
    pub max_deliver: u64,
    /// Jobs delivered and not yet acknowledged, over all workers
    /// (`RAGWIRE_JOBS_MAX_ACK_PENDING`, default 256).
    pub max_ack_pending: i64,
    /// Jobs one worker runs at once (`RAGWIRE_JOBS_CONCURRENCY`, default 8).
    pub concurrency: usize,
    /// A job not acknowledged (or marked in progress) for this long is
    /// delivered again (`RAGWIRE_JOBS_ACK_WAIT_MS`, default 30000).
    pub ack_wait_ms: u64,
    /// First retry delay after a transient failure, doubled each delivery
    /// (`RAGWIRE_JOBS_BACKOFF_MS`, default 1000).
    pub backoff_ms: u64,
    /// Longest retry delay (`RAGWIRE_JOBS_MAX_BACKOFF_MS`, default 60000).
    pub max_backoff_ms: u64,
    /// Chunks embedded and written per step; progress is reported after each
    /// (`RAGWIRE_JOBS_BATCH`, default 64).
    pub batch: usize,
    /// Bound of the work stream in bytes; submissions beyond it get 503
    /// (`RAGWIRE_JOBS_MAX_BYTES`, default 1073741824).
    pub max_bytes: i64,
    /// Window in which the server drops a resubmitted identical document
    /// (`RAGWIRE_JOBS_DUPLICATE_WINDOW_MS`, default 120000).
    pub duplicate_window_ms: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            enabled: true,
            consume: true,
            stream: None,
            dead_stream: None,
            bucket: None,
            consumer: "ingest".into(),
            max_deliver: 5,
            max_ack_pending: 256,
            concurrency: 8,
            ack_wait_ms: 30_000,
            backoff_ms: 1000,
            max_backoff_ms: 60_000,
            batch: 64,
            max_bytes: 1 << 30,
            duplicate_window_ms: 120_000,
        }
    }
}

/// Reranker wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RerankFormat {
    /// text-embeddings-inference: `{query, texts}` -> `[{index, score}]`.
    Tei,
    /// The Python gateway's: `{query, documents, top_n}` -> `{results: [{index, score}]}`.
    Seed,
}

impl FromStr for RerankFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        choice(s, "`tei` or `seed`")
    }
}

/// The reranker service.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RerankConfig {
    /// Full URL to POST to (`RAGWIRE_RERANK_URL`); unset = rerank answers 503.
    pub url: Option<String>,
    /// `tei` or `seed` (`RAGWIRE_RERANK_FORMAT`, default `tei`).
    pub format: RerankFormat,
    /// Bearer key (`RAGWIRE_RERANK_API_KEY`).
    pub api_key: Option<String>,
    /// Per call (`RAGWIRE_RERANK_TIMEOUT_MS`, default 15000).
    pub timeout_ms: u64,
}

/// Bounds on work and input.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Requests in flight per subject per worker (`RAGWIRE_MAX_IN_FLIGHT`, default 1024).
    pub max_in_flight: usize,
    /// Largest request body (`RAGWIRE_MAX_REQUEST_BYTES`, default 1048576).
    pub max_request_bytes: usize,
    /// Most texts in one embed request, chunks in one index request
    /// (`RAGWIRE_MAX_TEXTS`, default 2048).
    pub max_texts: usize,
    /// Most documents in one rerank request (`RAGWIRE_MAX_DOCUMENTS`, default 1000).
    pub max_documents: usize,
    /// Deadline for one request, all backend calls included
    /// (`RAGWIRE_REQUEST_TIMEOUT_MS`, default 120000).
    pub request_timeout_ms: u64,
    /// On SIGTERM/SIGINT, wait this long for in-flight requests
    /// (`RAGWIRE_SHUTDOWN_GRACE_MS`, default 30000).
    pub shutdown_grace_ms: u64,
}

/// The HTTP producer.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Listen address (`RAGWIRE_HTTP_ADDR`, default `127.0.0.1:8080`).
    pub addr: String,
    /// Accepted API keys (`RAGWIRE_API_KEYS`, comma-separated; empty = no auth).
    pub api_keys: Vec<String>,
    /// NATS request timeout (`RAGWIRE_HTTP_TIMEOUT_MS`, default 125000: longer
    /// than the worker's deadline, so the worker's own 504 gets through).
    pub timeout_ms: u64,
    /// Largest request body (`RAGWIRE_HTTP_MAX_BODY_BYTES`, default 1048576).
    pub max_body_bytes: usize,
    /// Requests in flight before new ones get 503 (`RAGWIRE_HTTP_MAX_CONCURRENCY`, default 4096).
    pub max_concurrency: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            prefix: "rag".into(),
            queue_group: "ragwire".into(),
            data_dir: PathBuf::from("./data"),
            log_json: false,
            retrieve_serial: false,
            nats: NatsConfig::default(),
            llm: LlmConfig::default(),
            embed: EmbedConfig::default(),
            rerank: RerankConfig::default(),
            vectors: VectorConfig::default(),
            graph: GraphConfig::default(),
            extract: ExtractConfig::default(),
            jobs: JobsConfig::default(),
            limits: Limits::default(),
            http: HttpConfig::default(),
        }
    }
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            url: "nats://127.0.0.1:4222".into(),
            user: None,
            password: None,
            token: None,
            creds_file: None,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            tls_required: false,
            connect_timeout_ms: 3000,
        }
    }
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            base_url: "http://127.0.0.1:4000/v1".into(),
            api_key: None,
            fallbacks: Vec::new(),
            aliases: BTreeMap::new(),
            default_alias: "rag-answer".into(),
            timeout_ms: 60_000,
            max_retries: 2,
            max_retry_after_ms: 10_000,
            backoff_ms: 200,
        }
    }
}

impl Default for EmbedConfig {
    fn default() -> Self {
        EmbedConfig {
            base_url: None,
            model_dir: None,
            api_key: None,
            model: "text-embedding-3-small".into(),
            timeout_ms: 30_000,
            batch_window_us: 2000,
            max_batch: 256,
            max_concurrency: 16,
            queue: 10_000,
            cache: 10_000,
            encoding: EmbedEncoding::Base64,
        }
    }
}

impl Default for RerankConfig {
    fn default() -> Self {
        RerankConfig {
            url: None,
            format: RerankFormat::Tei,
            api_key: None,
            timeout_ms: 15_000,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_in_flight: 1024,
            max_request_bytes: 1 << 20,
            max_texts: 2048,
            max_documents: 1000,
            request_timeout_ms: 120_000,
            shutdown_grace_ms: 30_000,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            addr: "127.0.0.1:8080".into(),
            api_keys: Vec::new(),
            timeout_ms: 125_000,
            max_body_bytes: 1 << 20,
            max_concurrency: 4096,
        }
    }
}

impl Config {
    /// Defaults, then the TOML file named by `RAGWIRE_CONFIG`, then the
    /// process environment.
    pub fn load() -> Result<Config, Error> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Config::load`], reading variables through `lookup` (tests pass a
    /// map instead of the process environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let env = Env(&lookup);
        let mut config = match env.get("RAGWIRE_CONFIG") {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| Error::config("RAGWIRE_CONFIG", format!("{path}: {e}")))?;
                toml::from_str(&text)
                    .map_err(|e| Error::config("RAGWIRE_CONFIG", format!("{path}: {e}")))?
            }
            None => Config::default(),
        };
        config.apply_env(&env)?;
        config.validate()?;
        Ok(config)
    }

    fn apply_env(&mut self, env: &Env<'_>) -> Result<(), Error> {
        env.set("RAGWIRE_PREFIX", &mut self.prefix)?;
        env.set("RAGWIRE_QUEUE_GROUP", &mut self.queue_group)?;
        env.set("RAGWIRE_DATA_DIR", &mut self.data_dir)?;
        env.set("RAGWIRE_LOG_JSON", &mut self.log_json)?;
        env.set("RAGWIRE_RETRIEVE_SERIAL", &mut self.retrieve_serial)?;

        let n = &mut self.nats;
        env.set("NATS_URL", &mut n.url)?;
        env.set_opt("NATS_USER", &mut n.user)?;
        env.set_opt("NATS_PASSWORD", &mut n.password)?;
        env.set_opt("NATS_TOKEN", &mut n.token)?;
        env.set_opt("NATS_CREDS", &mut n.creds_file)?;
        env.set_opt("NATS_TLS_CA", &mut n.tls_ca)?;
        env.set_opt("NATS_TLS_CERT", &mut n.tls_cert)?;
        env.set_opt("NATS_TLS_KEY", &mut n.tls_key)?;
        env.set("NATS_TLS_REQUIRED", &mut n.tls_required)?;
        env.set("NATS_CONNECT_TIMEOUT_MS", &mut n.connect_timeout_ms)?;

        let l = &mut self.llm;
        env.set("RAGWIRE_LLM_BASE_URL", &mut l.base_url)?;
        env.set_opt("RAGWIRE_LLM_API_KEY", &mut l.api_key)?;
        if let Some(urls) = env.get("RAGWIRE_LLM_FALLBACK_URLS") {
            let keys: Vec<String> = env
                .get("RAGWIRE_LLM_FALLBACK_API_KEYS")
                .map(|k| split_list(&k))
                .unwrap_or_default();
            l.fallbacks = split_list(&urls)
                .into_iter()
                .enumerate()
                .map(|(i, base_url)| ProviderConfig {
                    name: format!("fallback-{}", i + 1),
                    base_url,
                    api_key: keys.get(i).cloned(),
                    aliases: BTreeMap::new(),
                })
                .collect();
        }
        if let Some(aliases) = env.get("RAGWIRE_MODEL_ALIASES") {
            for pair in split_list(&aliases) {
                let (alias, model) = pair.split_once('=').ok_or_else(|| {
                    Error::config(
                        "RAGWIRE_MODEL_ALIASES",
                        format!("`{pair}` is not alias=model"),
                    )
                })?;
                l.aliases.insert(alias.trim().into(), model.trim().into());
            }
        }
        env.set("RAGWIRE_DEFAULT_MODEL", &mut l.default_alias)?;
        env.set("RAGWIRE_LLM_TIMEOUT_MS", &mut l.timeout_ms)?;
        env.set("RAGWIRE_LLM_MAX_RETRIES", &mut l.max_retries)?;
        env.set("RAGWIRE_LLM_MAX_RETRY_AFTER_MS", &mut l.max_retry_after_ms)?;
        env.set("RAGWIRE_LLM_BACKOFF_MS", &mut l.backoff_ms)?;

        let e = &mut self.embed;
        env.set_opt("RAGWIRE_EMBED_BASE_URL", &mut e.base_url)?;
        env.set_opt("RAGWIRE_EMBED_MODEL_DIR", &mut e.model_dir)?;
        env.set_opt("RAGWIRE_EMBED_API_KEY", &mut e.api_key)?;
        env.set("RAGWIRE_EMBED_MODEL", &mut e.model)?;
        env.set("RAGWIRE_EMBED_TIMEOUT_MS", &mut e.timeout_ms)?;
        env.set("RAGWIRE_EMBED_BATCH_WINDOW_US", &mut e.batch_window_us)?;
        env.set("RAGWIRE_EMBED_MAX_BATCH", &mut e.max_batch)?;
        env.set("RAGWIRE_EMBED_MAX_CONCURRENCY", &mut e.max_concurrency)?;
        env.set("RAGWIRE_EMBED_QUEUE", &mut e.queue)?;
        env.set("RAGWIRE_EMBED_ENCODING", &mut e.encoding)?;
        env.set("RAGWIRE_EMBED_CACHE", &mut e.cache)?;

        let r = &mut self.rerank;
        env.set_opt("RAGWIRE_RERANK_URL", &mut r.url)?;
        env.set("RAGWIRE_RERANK_FORMAT", &mut r.format)?;
        env.set_opt("RAGWIRE_RERANK_API_KEY", &mut r.api_key)?;
        env.set("RAGWIRE_RERANK_TIMEOUT_MS", &mut r.timeout_ms)?;

        let v = &mut self.vectors;
        env.set_opt("QDRANT_URL", &mut v.qdrant_url)?;
        env.set_opt("QDRANT_API_KEY", &mut v.qdrant_api_key)?;
        env.set("RAGWIRE_VECTOR_TIMEOUT_MS", &mut v.timeout_ms)?;
        env.set("RAGWIRE_VECTOR_OPTIMIZE_EVERY", &mut v.optimize_every)?;

        let g = &mut self.graph;
        env.set_opt("NEO4J_URI", &mut g.neo4j_uri)?;
        env.set("NEO4J_USER", &mut g.user)?;
        env.set("NEO4J_PASSWORD", &mut g.password)?;
        env.set_opt("NEO4J_DATABASE", &mut g.database)?;
        env.set("RAGWIRE_GRAPH_LABEL", &mut g.label)?;
        env.set("RAGWIRE_GRAPH_TIMEOUT_MS", &mut g.timeout_ms)?;
        env.set("RAGWIRE_GRAPH_MAX_CONNECTIONS", &mut g.max_connections)?;
        env.set("RAGWIRE_GRAPH_MAX_ROWS", &mut g.max_rows)?;

        let x = &mut self.extract;
        if let Some(chain) = env.get("RAGWIRE_EXTRACT_CHAIN") {
            x.chain = split_list(&chain);
        }
        env.set("RAGWIRE_EXTRACT_HEDGE_MS", &mut x.hedge_delay_ms)?;
        env.set("RAGWIRE_EXTRACT_MAX_ATTEMPTS", &mut x.max_attempts)?;
        env.set("RAGWIRE_EXTRACT_MIN_NODES", &mut x.min_nodes)?;
        env.set("RAGWIRE_EXTRACT_MIN_EDGES", &mut x.min_edges)?;
        env.set("RAGWIRE_EXTRACT_WINDOW_CHARS", &mut x.window_chars)?;
        env.set("RAGWIRE_EXTRACT_WINDOW_OVERLAP", &mut x.window_overlap)?;
        env.set(
            "RAGWIRE_EXTRACT_WINDOW_CONCURRENCY",
            &mut x.window_concurrency,
        )?;
        env.set(
            "RAGWIRE_EXTRACT_MAX_CONTEXT_CHARS",
            &mut x.max_context_chars,
        )?;
        if let Some(aliases) = env.get("RAGWIRE_EXTRACT_NO_RESPONSE_FORMAT") {
            x.no_response_format = split_list(&aliases);
        }
        env.set("RAGWIRE_EXTRACT_TEMPERATURE", &mut x.temperature)?;

        let j = &mut self.jobs;
        env.set("RAGWIRE_JOBS", &mut j.enabled)?;
        env.set("RAGWIRE_JOBS_CONSUME", &mut j.consume)?;
        env.set_opt("RAGWIRE_JOBS_STREAM", &mut j.stream)?;
        env.set_opt("RAGWIRE_JOBS_DEAD_STREAM", &mut j.dead_stream)?;
        env.set_opt("RAGWIRE_JOBS_BUCKET", &mut j.bucket)?;
        env.set("RAGWIRE_JOBS_CONSUMER", &mut j.consumer)?;
        env.set("RAGWIRE_JOBS_MAX_DELIVER", &mut j.max_deliver)?;
        env.set("RAGWIRE_JOBS_MAX_ACK_PENDING", &mut j.max_ack_pending)?;
        env.set("RAGWIRE_JOBS_CONCURRENCY", &mut j.concurrency)?;
        env.set("RAGWIRE_JOBS_ACK_WAIT_MS", &mut j.ack_wait_ms)?;
        env.set("RAGWIRE_JOBS_BACKOFF_MS", &mut j.backoff_ms)?;
        env.set("RAGWIRE_JOBS_MAX_BACKOFF_MS", &mut j.max_backoff_ms)?;
        env.set("RAGWIRE_JOBS_BATCH", &mut j.batch)?;
        env.set("RAGWIRE_JOBS_MAX_BYTES", &mut j.max_bytes)?;
        env.set(
            "RAGWIRE_JOBS_DUPLICATE_WINDOW_MS",
            &mut j.duplicate_window_ms,
        )?;

        let m = &mut self.limits;
        env.set("RAGWIRE_MAX_IN_FLIGHT", &mut m.max_in_flight)?;
        env.set("RAGWIRE_MAX_REQUEST_BYTES", &mut m.max_request_bytes)?;
        env.set("RAGWIRE_MAX_TEXTS", &mut m.max_texts)?;
        env.set("RAGWIRE_MAX_DOCUMENTS", &mut m.max_documents)?;
        env.set("RAGWIRE_REQUEST_TIMEOUT_MS", &mut m.request_timeout_ms)?;
        env.set("RAGWIRE_SHUTDOWN_GRACE_MS", &mut m.shutdown_grace_ms)?;

        let h = &mut self.http;
        env.set("RAGWIRE_HTTP_ADDR", &mut h.addr)?;
        if let Some(keys) = env.get("RAGWIRE_API_KEYS") {
            h.api_keys = split_list(&keys);
        }
        env.set("RAGWIRE_HTTP_TIMEOUT_MS", &mut h.timeout_ms)?;
        env.set("RAGWIRE_HTTP_MAX_BODY_BYTES", &mut h.max_body_bytes)?;
        env.set("RAGWIRE_HTTP_MAX_CONCURRENCY", &mut h.max_concurrency)?;
        Ok(())
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), Error> {
        let token = |s: &str| {
            !s.is_empty()
                && s.split('.').all(|part| {
                    !part.is_empty()
                        && part
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                })
        };
        if !token(&self.prefix) {
            return Err(Error::config(
                "RAGWIRE_PREFIX",
                format!(
                    "`{}` is not a NATS subject prefix (letters, digits, `_`, `-`, dots between)",
                    self.prefix
                ),
            ));
        }
        if !token(&self.queue_group) || self.queue_group.contains('.') {
            return Err(Error::config(
                "RAGWIRE_QUEUE_GROUP",
                "must be letters, digits, `_` or `-`",
            ));
        }
        for (name, value) in [
            ("RAGWIRE_MAX_IN_FLIGHT", self.limits.max_in_flight),
            ("RAGWIRE_MAX_REQUEST_BYTES", self.limits.max_request_bytes),
            ("RAGWIRE_MAX_TEXTS", self.limits.max_texts),
            ("RAGWIRE_MAX_DOCUMENTS", self.limits.max_documents),
            ("RAGWIRE_EMBED_MAX_BATCH", self.embed.max_batch),
            ("RAGWIRE_EMBED_MAX_CONCURRENCY", self.embed.max_concurrency),
            ("RAGWIRE_EMBED_QUEUE", self.embed.queue),
            ("RAGWIRE_HTTP_MAX_CONCURRENCY", self.http.max_concurrency),
            ("RAGWIRE_HTTP_MAX_BODY_BYTES", self.http.max_body_bytes),
            ("RAGWIRE_GRAPH_MAX_CONNECTIONS", self.graph.max_connections),
            ("RAGWIRE_GRAPH_MAX_ROWS", self.graph.max_rows),
            (
                "RAGWIRE_EXTRACT_MAX_ATTEMPTS",
                self.extract.max_attempts as usize,
            ),
            ("RAGWIRE_EXTRACT_WINDOW_CHARS", self.extract.window_chars),
            (
                "RAGWIRE_EXTRACT_WINDOW_CONCURRENCY",
                self.extract.window_concurrency,
            ),
            (
                "RAGWIRE_EXTRACT_MAX_CONTEXT_CHARS",
                self.extract.max_context_chars,
            ),
            ("RAGWIRE_JOBS_MAX_DELIVER", self.jobs.max_deliver as usize),
            (
                "RAGWIRE_JOBS_MAX_ACK_PENDING",
                self.jobs.max_ack_pending.max(0) as usize,
            ),
            ("RAGWIRE_JOBS_CONCURRENCY", self.jobs.concurrency),
            ("RAGWIRE_JOBS_BATCH", self.jobs.batch),
            (
                "RAGWIRE_JOBS_MAX_BYTES",
                self.jobs.max_bytes.max(0) as usize,
            ),
        ] {
            if value == 0 {
                return Err(Error::config(name, "must be at least 1"));
            }
        }
        for (name, value) in [
            ("RAGWIRE_LLM_TIMEOUT_MS", self.llm.timeout_ms),
            ("RAGWIRE_EMBED_TIMEOUT_MS", self.embed.timeout_ms),
            ("RAGWIRE_RERANK_TIMEOUT_MS", self.rerank.timeout_ms),
            ("RAGWIRE_VECTOR_TIMEOUT_MS", self.vectors.timeout_ms),
            ("RAGWIRE_GRAPH_TIMEOUT_MS", self.graph.timeout_ms),
            ("RAGWIRE_JOBS_ACK_WAIT_MS", self.jobs.ack_wait_ms),
            ("RAGWIRE_REQUEST_TIMEOUT_MS", self.limits.request_timeout_ms),
            ("RAGWIRE_HTTP_TIMEOUT_MS", self.http.timeout_ms),
            ("NATS_CONNECT_TIMEOUT_MS", self.nats.connect_timeout_ms),
        ] {
            if value == 0 {
                return Err(Error::config(name, "a timeout must be at least 1 ms"));
            }
        }
        for (name, url) in std::iter::once(("RAGWIRE_LLM_BASE_URL", Some(&self.llm.base_url)))
            .chain(
                self.llm
                    .fallbacks
                    .iter()
                    .map(|p| ("RAGWIRE_LLM_FALLBACK_URLS", Some(&p.base_url))),
            )
            .chain([
                ("RAGWIRE_EMBED_BASE_URL", self.embed.base_url.as_ref()),
                ("RAGWIRE_RERANK_URL", self.rerank.url.as_ref()),
                ("QDRANT_URL", self.vectors.qdrant_url.as_ref()),
            ])
        {
            if let Some(url) = url {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(Error::config(
                        name,
                        format!("`{url}` is not an http(s) URL"),
                    ));
                }
            }
        }
        if let Some(uri) = &self.graph.neo4j_uri {
            let schemes = [
                "bolt://",
                "bolt+s://",
                "bolt+ssc://",
                "neo4j://",
                "neo4j+s://",
                "neo4j+ssc://",
            ];
            if !schemes.iter().any(|s| uri.starts_with(s)) {
                return Err(Error::config(
                    "NEO4J_URI",
                    format!("`{uri}` is not a bolt:// or neo4j:// URI"),
                ));
            }
        }
        if self.extract.chain.is_empty() {
            return Err(Error::config(
                "RAGWIRE_EXTRACT_CHAIN",
                "needs at least one model alias",
            ));
        }
        if !(0.0..=2.0).contains(&self.extract.temperature) {
            return Err(Error::config(
                "RAGWIRE_EXTRACT_TEMPERATURE",
                "must be 0 to 2",
            ));
        }
        crate::graph::check_type("RAGWIRE_GRAPH_LABEL", &self.graph.label)
            .map_err(|e| Error::config("RAGWIRE_GRAPH_LABEL", e.to_string()))?;
        if self.http.addr.parse::<std::net::SocketAddr>().is_err() {
            return Err(Error::config(
                "RAGWIRE_HTTP_ADDR",
                format!("`{}` is not host:port with an IP address", self.http.addr),
            ));
        }
        Ok(())
    }

    /// The local embedding model's folder.
    pub fn model_dir(&self) -> PathBuf {
        self.embed
            .model_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("models").join("all-MiniLM-L6-v2"))
    }

    /// The chain of LLM providers: the primary, then the fallbacks.
    pub fn providers(&self) -> Vec<ProviderConfig> {
        let primary = ProviderConfig {
            name: "primary".into(),
            base_url: self.llm.base_url.clone(),
            api_key: self.llm.api_key.clone(),
            aliases: BTreeMap::new(),
        };
        std::iter::once(primary)
            .chain(self.llm.fallbacks.iter().cloned())
            .collect()
    }
}

/// Millisecond settings as durations.
pub fn ms(value: u64) -> Duration {
    Duration::from_millis(value)
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    fn parse<T: FromStr>(&self, name: &str) -> Result<Option<T>, Error>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(None),
            Some(raw) => raw
                .trim()
                .parse()
                .map(Some)
                .map_err(|e| Error::config(name, format!("`{raw}`: {e}"))),
        }
    }

    fn set<T: FromStr>(&self, name: &str, slot: &mut T) -> Result<(), Error>
    where
        T::Err: std::fmt::Display,
    {
        if let Some(value) = self.parse(name)? {
            *slot = value;
        }
        Ok(())
    }

    fn set_opt<T: FromStr>(&self, name: &str, slot: &mut Option<T>) -> Result<(), Error>
    where
        T::Err: std::fmt::Display,
    {
        if let Some(value) = self.parse(name)? {
            *slot = Some(value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Config, Error> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_are_documented_values() {
        let c = load(&[]).unwrap();
        assert_eq!(c.prefix, "rag");
        assert_eq!(c.nats.url, "nats://127.0.0.1:4222");
        assert_eq!(c.http.addr, "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.queue_group, "ragwire");
        assert_eq!(c.llm.base_url, "http://127.0.0.1:4000/v1");
        assert_eq!(c.llm.default_alias, "rag-answer");
        assert_eq!(
            (
                c.llm.timeout_ms,
                c.llm.max_retries,
                c.llm.max_retry_after_ms
            ),
            (60_000, 2, 10_000)
        );
        assert_eq!(c.embed.model, "text-embedding-3-small");
        assert_eq!(
            (
                c.embed.batch_window_us,
                c.embed.max_batch,
                c.embed.max_concurrency
            ),
            (2000, 256, 16)
        );
        assert_eq!(c.rerank.format, RerankFormat::Tei);
        assert_eq!(c.embed.encoding, EmbedEncoding::Base64);
        assert_eq!(c.limits.max_in_flight, 1024);
        assert_eq!(c.limits.max_request_bytes, 1 << 20);
        assert!(c.http.timeout_ms > c.limits.request_timeout_ms);
        assert!(c.http.api_keys.is_empty());
    }

    #[test]
    fn env_overrides_and_lists() {
        let c = load(&[
            ("RAGWIRE_PREFIX", "svc.rag"),
            (
                "RAGWIRE_MODEL_ALIASES",
                "rag-answer=gpt-4o-mini, graph-extractor=qwen",
            ),
            ("RAGWIRE_LLM_FALLBACK_URLS", "http://a/v1,http://b/v1"),
            ("RAGWIRE_LLM_FALLBACK_API_KEYS", "ka,kb"),
            ("RAGWIRE_API_KEYS", "k1,k2"),
            ("RAGWIRE_RERANK_FORMAT", "seed"),
            ("RAGWIRE_EMBED_ENCODING", "float"),
        ])
        .unwrap();
        assert_eq!(c.prefix, "svc.rag");
        assert_eq!(c.llm.aliases["graph-extractor"], "qwen");
        assert_eq!(c.providers().len(), 3);
        assert_eq!(c.providers()[2].api_key.as_deref(), Some("kb"));
        assert_eq!(c.http.api_keys, vec!["k1", "k2"]);
        assert_eq!(c.rerank.format, RerankFormat::Seed);
        assert_eq!(c.embed.encoding, EmbedEncoding::Float);
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (name, value) in [
            ("RAGWIRE_MAX_IN_FLIGHT", "lots"),
            ("RAGWIRE_MAX_IN_FLIGHT", "0"),
            ("RAGWIRE_RERANK_FORMAT", "cohere"),
            ("RAGWIRE_EMBED_ENCODING", "binary"),
            ("RAGWIRE_PREFIX", "rag.*"),
            ("RAGWIRE_LLM_BASE_URL", "localhost:4000"),
            ("RAGWIRE_HTTP_ADDR", "nowhere"),
            ("RAGWIRE_MODEL_ALIASES", "justone"),
            ("RAGWIRE_LOG_JSON", "maybe"),
        ] {
            let err = load(&[(name, value)]).unwrap_err().to_string();
            assert!(err.contains(name), "{name}={value}: {err}");
        }
    }

    #[test]
    fn toml_file_then_env() {
        let dir = std::env::temp_dir().join(format!("ragwire-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ragwire.toml");
        std::fs::write(
            &path,
            "prefix = \"fromfile\"\n[llm]\ntimeout_ms = 5\n[llm.aliases]\nrag-answer = \"m1\"\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let c = load(&[("RAGWIRE_CONFIG", p), ("RAGWIRE_LLM_TIMEOUT_MS", "7")]).unwrap();
        assert_eq!(c.prefix, "fromfile");
        assert_eq!(c.llm.timeout_ms, 7);
        assert_eq!(c.llm.aliases["rag-answer"], "m1");
        std::fs::write(&path, "prefix = 3\n").unwrap();
        assert!(load(&[("RAGWIRE_CONFIG", p)])
            .unwrap_err()
            .to_string()
            .contains("RAGWIRE_CONFIG"));
    }
}
