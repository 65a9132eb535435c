//! The worker's settings: the ones every binary shares, the worker's own,
//! and one section per backend, each declared beside the code that uses it
//! (see `ragwire_common::settings` for how they load).

use std::path::PathBuf;
use std::time::Duration;

use ragwire_common::settings::parse;
use ragwire_common::CommonConfig;

use crate::backends::embedder::EmbedConfig;
use crate::backends::llm::LlmConfig;
use crate::backends::reranker::RerankConfig;
use crate::error::Error;
use crate::extract::ExtractConfig;
use crate::graph::GraphConfig;
use crate::jobs::JobsConfig;
use crate::service::Limits;
use crate::vectors::VectorConfig;

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

/// Millisecond settings as durations.
pub fn ms(value: u64) -> Duration {
    Duration::from_millis(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::embedder::EmbedEncoding;
    use crate::backends::reranker::RerankFormat;
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
            ("RAGWIRE_MODEL_ALIASES", "justone"),
            ("RAGWIRE_MODEL_ALIASES", "nobody:rag-answer=m"),
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
        assert_eq!(c.llm.timeout_ms, 7);
        assert_eq!(c.llm.shared_aliases()["rag-answer"], "m1");
        std::fs::write(&path, "[llm]\ntimeout_ms = \"soon\"\n").unwrap();
        let err = load(&[("RAGWIRE_CONFIG", p)]).unwrap_err().to_string();
        assert!(err.contains("RAGWIRE_CONFIG"), "{err}");
    }
}
