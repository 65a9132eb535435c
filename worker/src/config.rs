//! The worker's settings: the ones every binary shares, the worker's own,
//! and one section per backend, each declared beside the code that uses it
//! (see `ragwire_common::settings` for how they load).

use std::path::PathBuf;
use std::time::Duration;

use ragwire_common::settings::parse;
use ragwire_common::CommonConfig;

pub use crate::backends::embedder::{EmbedConfig, EmbedEncoding};
pub use crate::backends::llm::LlmConfig;
pub use crate::backends::reranker::{RerankConfig, RerankFormat};
use crate::error::Error;
pub use crate::extract::ExtractConfig;
pub use crate::graph::GraphConfig;
pub use crate::jobs::JobsConfig;
pub use crate::retry::RetryConfig;
pub use crate::vectors::VectorConfig;

/// Everything a worker reads.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// The settings every binary shares: prefix, logs, NATS.
    #[command(flatten)]
    pub common: CommonConfig,
    /// The worker's own settings.
    #[command(flatten)]
    pub worker: WorkerSettings,
    /// The chat LLM.
    #[command(flatten)]
    pub llm: LlmConfig,
    /// Embeddings.
    #[command(flatten)]
    pub embed: EmbedConfig,
    /// The reranker.
    #[command(flatten)]
    pub rerank: RerankConfig,
    /// Retries of backend calls.
    #[command(flatten)]
    pub retry: RetryConfig,
    /// The vector store.
    #[command(flatten)]
    pub vectors: VectorConfig,
    /// The graph store.
    #[command(flatten)]
    pub graph: GraphConfig,
    /// Knowledge-graph extraction.
    #[command(flatten)]
    pub extract: ExtractConfig,
    /// Ingest jobs.
    #[command(flatten)]
    pub jobs: JobsConfig,
    /// Bounds on work and input.
    #[command(flatten)]
    pub limits: Limits,
}

/// Where a worker keeps its data and which queue group it joins.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Worker")]
pub struct WorkerSettings {
    /// Queue group shared by the workers: NATS gives each request to one
    /// member.
    #[arg(id = "queue_group", long = "queue-group", env = "RAGWIRE_QUEUE_GROUP",
          default_value = "ragwire", value_parser = parse::token)]
    pub queue_group: String,
    /// Where the embedded stores keep their files, and the local model's
    /// default folder; one worker process per folder.
    #[arg(
        id = "data_dir",
        long = "data-dir",
        env = "RAGWIRE_DATA_DIR",
        default_value = "./data"
    )]
    pub data_dir: PathBuf,
    /// Run retrieve's vector and graph stages one after the other instead of
    /// in parallel, to measure what parallel gains.
    #[arg(id = "retrieve_serial", long = "retrieve-serial", env = "RAGWIRE_RETRIEVE_SERIAL",
          default_value_t = false, action = clap::ArgAction::Set, value_parser = parse::boolean)]
    pub retrieve_serial: bool,
    /// Let this worker serve a prefix whose other workers keep data in
    /// stores of their own (embedded ones, each answering from its own
    /// data). Without it, a worker refuses to join such a prefix.
    #[arg(
        id = "allow_separate_stores",
        long = "allow-separate-stores",
        env = "RAGWIRE_ALLOW_SEPARATE_STORES",
        default_value_t = false,
        action = clap::ArgAction::Set,
        value_parser = parse::boolean
    )]
    pub allow_separate_stores: bool,
    /// Address of the worker's Prometheus metrics (`/metrics`), e.g.
    /// `0.0.0.0:9464`; unset: none served.
    #[arg(id = "metrics_addr", long = "metrics-addr", env = "RAGWIRE_METRICS_ADDR",
          value_parser = parse::socket_addr)]
    pub metrics_addr: Option<String>,
    /// How often the LLM tokens and embedded texts counted here are added
    /// to the tenants' usage (the bucket `{prefix}_usage`, made by a producer
    /// that reads the tenant registry), in milliseconds. Token quotas see a
    /// tenant's tokens this much later at most.
    #[arg(id = "usage_flush_ms", long = "usage-flush-ms", env = "RAGWIRE_USAGE_FLUSH_MS",
          default_value = "250", value_parser = parse::timeout)]
    pub usage_flush: std::time::Duration,
}

/// Bounds on a worker's work and input.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Limits")]
pub struct Limits {
    /// Requests in flight per subject per worker; beyond it, requests wait
    /// in the subscription (back-pressure).
    #[arg(id = "limits.max_in_flight", long = "limits-max-in-flight", env = "RAGWIRE_LIMITS_MAX_IN_FLIGHT",
          default_value_t = 1024, value_parser = parse::at_least_one::<usize>)]
    pub max_in_flight: usize,
    /// Largest request payload, in bytes (413 beyond).
    #[arg(id = "limits.max_request_bytes", long = "limits-max-request-bytes",
          env = "RAGWIRE_LIMITS_MAX_REQUEST_BYTES", default_value_t = 1 << 20,
          value_parser = parse::at_least_one::<usize>)]
    pub max_request_bytes: usize,
    /// Most texts (embed), chunks (index) or messages (chat) in one request.
    #[arg(id = "limits.max_texts", long = "limits-max-texts", env = "RAGWIRE_LIMITS_MAX_TEXTS",
          default_value_t = 2048, value_parser = parse::at_least_one::<usize>)]
    pub max_texts: usize,
    /// Most documents in one rerank request.
    #[arg(id = "limits.max_documents", long = "limits-max-documents", env = "RAGWIRE_LIMITS_MAX_DOCUMENTS",
          default_value_t = 1000, value_parser = parse::at_least_one::<usize>)]
    pub max_documents: usize,
    /// Deadline of one request, all backend calls included, in
    /// milliseconds.
    #[arg(id = "limits.request_timeout_ms", long = "limits-request-timeout-ms",
          env = "RAGWIRE_LIMITS_REQUEST_TIMEOUT_MS", default_value = "120000", value_parser = parse::timeout)]
    pub request_timeout: Duration,
    /// Longest a request may have waited since it was sent (its
    /// `Ragwire-Sent-At` header) when a worker comes to start it, in
    /// milliseconds: beyond, it is answered 503 with `Retry-After` rather
    /// than served too late (0: no bound).
    #[arg(id = "limits.max_wait_ms", long = "limits-max-wait-ms",
          env = "RAGWIRE_LIMITS_MAX_WAIT_MS", default_value = "10000", value_parser = parse::duration_ms)]
    pub max_wait: Duration,
    /// On SIGTERM or SIGINT, how long (ms) to wait for in-flight requests.
    #[arg(
        id = "limits.shutdown_grace_ms",
        long = "limits-shutdown-grace-ms",
        env = "RAGWIRE_LIMITS_SHUTDOWN_GRACE_MS",
        default_value = "30000",
        value_parser = parse::duration_ms
    )]
    pub shutdown_grace: Duration,
}

ragwire_common::default_from_declarations!(Config, WorkerSettings);

impl Config {
    /// Checks what spans several settings (each value alone was checked
    /// when it was read).
    pub fn validate(self) -> Result<Config, Error> {
        self.llm.validate()?;
        self.extract.validate()?;
        Ok(self)
    }

    /// The local embedding model's folder.
    pub fn model_dir(&self) -> PathBuf {
        self.embed
            .model_dir
            .clone()
            .unwrap_or_else(|| self.worker.data_dir.join("models").join("all-MiniLM-L6-v2"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The worker binary's command line.
    #[derive(clap::Parser)]
    struct Worker {
        #[command(flatten)]
        config: Config,
    }

    fn load(vars: &[(&str, &str)]) -> Result<Config, Error> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let worker: Worker =
            ragwire_common::settings::load_from(["ragwire-worker"], |name| map.get(name).cloned())?;
        worker.config.validate()
    }

    #[test]
    fn defaults_are_documented_values() {
        let c = load(&[]).unwrap();
        assert_eq!(c.common.prefix, "rag");
        assert_eq!(c.common.nats.url, "nats://127.0.0.1:4222");
        assert_eq!(c.worker.data_dir, PathBuf::from("./data"));
        assert_eq!(c.worker.queue_group, "ragwire");
        assert_eq!(c.llm.base_url, "http://127.0.0.1:4000/v1");
        assert_eq!(c.llm.default_alias, "rag-answer");
        assert_eq!(
            (c.llm.timeout, c.retry.max_retries, c.retry.max_retry_after),
            (
                Duration::from_millis(60_000),
                2,
                Duration::from_millis(10_000)
            )
        );
        assert_eq!(c.embed.model, "text-embedding-3-small");
        assert_eq!(
            (
                c.embed.batch_window,
                c.embed.max_batch,
                c.embed.max_concurrency
            ),
            (Duration::from_micros(2000), 256, 16)
        );
        assert_eq!(c.rerank.format, RerankFormat::Tei);
        assert_eq!(c.embed.encoding, EmbedEncoding::Base64);
        assert_eq!(c.limits.max_in_flight, 1024);
        assert_eq!(c.limits.max_request_bytes, 1 << 20);
        assert_eq!(c.extract.chain, ["graph-extractor"]);
        assert_eq!(c.jobs.max_bytes, 1 << 30);
        let d = Config::default();
        assert_eq!(
            (
                d.limits.max_in_flight,
                d.embed.cache,
                d.jobs.consumer.as_str()
            ),
            (1024, 10_000, "ingest")
        );
    }

    #[test]
    fn env_overrides_and_lists() {
        let c = load(&[
            ("RAGWIRE_PREFIX", "svc.rag"),
            (
                "RAGWIRE_MODEL_ALIASES",
                "rag-answer=gpt-4o-mini, graph-extractor=qwen, backup:graph-extractor=llama",
            ),
            ("RAGWIRE_LLM_FALLBACK_URLS", "http://a/v1,http://b/v1"),
            ("RAGWIRE_LLM_FALLBACK_API_KEYS", "ka,kb"),
            ("RAGWIRE_LLM_FALLBACK_NAMES", "backup"),
            ("RAGWIRE_RERANK_FORMAT", "seed"),
            ("RAGWIRE_EMBED_ENCODING", "float"),
        ])
        .unwrap();
        assert_eq!(c.common.prefix, "svc.rag");
        assert_eq!(c.llm.shared_aliases()["graph-extractor"], "qwen");
        let providers = c.llm.providers();
        assert_eq!(providers.len(), 3);
        assert_eq!(providers[1].name, "backup");
        assert_eq!(providers[1].aliases["graph-extractor"], "llama");
        assert_eq!(providers[2].name, "fallback-2");
        assert_eq!(providers[2].api_key.as_deref(), Some("kb"));
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
            ("RAGWIRE_QUEUE_GROUP", "a.b"),
            ("RAGWIRE_LLM_BASE_URL", "localhost:4000"),
            ("RAGWIRE_LLM_ALIASES", "justone"),
            ("RAGWIRE_LLM_ALIASES", "nobody:rag-answer=m"),
            ("RAGWIRE_LOG_JSON", "maybe"),
            ("RAGWIRE_EXTRACT_TEMPERATURE", "3"),
            ("RAGWIRE_GRAPH_LABEL", "not a label"),
            ("NEO4J_URI", "http://neo4j:7474"),
            ("RAGWIRE_JOBS_ACK_WAIT_MS", "0"),
        ] {
            let err = load(&[(name, value)]).unwrap_err().to_string();
            assert!(err.contains(name), "{name}={value}: {err}");
        }
    }

    #[test]
    fn former_names_are_still_read() {
        let c = load(&[
            ("RAGWIRE_MAX_IN_FLIGHT", "7"),
            ("RAGWIRE_LLM_MAX_RETRIES", "5"),
            ("RAGWIRE_MODEL_ALIASES", "rag-answer=m0"),
        ])
        .unwrap();
        assert_eq!(c.limits.max_in_flight, 7);
        assert_eq!(c.retry.max_retries, 5);
        assert_eq!(c.llm.shared_aliases()["rag-answer"], "m0");
        // The new name wins over the former one.
        let c = load(&[
            ("RAGWIRE_MAX_IN_FLIGHT", "7"),
            ("RAGWIRE_LIMITS_MAX_IN_FLIGHT", "9"),
        ])
        .unwrap();
        assert_eq!(c.limits.max_in_flight, 9);
        let err = load(&[("RAGWIRE_MAX_IN_FLIGHT", "0")]).unwrap_err();
        assert!(err.to_string().contains("RAGWIRE_MAX_IN_FLIGHT"), "{err}");
        // Former flags are aliases.
        let worker: Worker = ragwire_common::settings::load_from(
            [
                "ragwire-worker",
                "--max-in-flight",
                "3",
                "--llm-max-retries",
                "1",
            ],
            |_| None,
        )
        .unwrap();
        assert_eq!(worker.config.limits.max_in_flight, 3);
        assert_eq!(worker.config.retry.max_retries, 1);
        // A former file key.
        let dir = std::env::temp_dir().join(format!("ragwire-old-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ragwire.toml");
        std::fs::write(&path, "[llm]\nmax_retries = 4\n").unwrap();
        let c = load(&[("RAGWIRE_CONFIG", path.to_str().unwrap())]).unwrap();
        assert_eq!(c.retry.max_retries, 4);
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
        assert_eq!(c.common.prefix, "fromfile");
        assert_eq!(c.llm.timeout, Duration::from_millis(7));
        assert_eq!(c.llm.shared_aliases()["rag-answer"], "m1");
        std::fs::write(&path, "[llm]\ntimeout_ms = \"soon\"\n").unwrap();
        let err = load(&[("RAGWIRE_CONFIG", p)]).unwrap_err().to_string();
        assert!(err.contains("RAGWIRE_CONFIG"), "{err}");
    }
}
