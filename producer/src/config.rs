//! The producer's settings: the ones every binary shares, and its HTTP
//! section.

use ragwire_common::settings::parse;
use ragwire_common::CommonConfig;
use std::time::Duration;

use crate::compat::Compat;

/// Everything a producer reads.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// The settings every binary shares: prefix, logs, NATS.
    #[command(flatten)]
    pub common: CommonConfig,
    /// The HTTP front door.
    #[command(flatten)]
    pub http: HttpConfig,
}

/// The HTTP front door.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "HTTP")]
pub struct HttpConfig {
    /// Listen address, `host:port` with an IP address.
    #[arg(id = "http.addr", long = "http-addr", env = "RAGWIRE_HTTP_ADDR",
          default_value = "127.0.0.1:8080", value_parser = parse::socket_addr)]
    pub addr: String,
    /// Accepted API keys, comma-separated; unset: no authentication (warned
    /// at start).
    #[arg(
        id = "http.api_keys",
        long = "http-api-keys",
        env = "RAGWIRE_HTTP_API_KEYS",
        value_delimiter = ','
    )]
    pub api_keys: Vec<String>,
    /// How long to wait for a worker's reply, in milliseconds: longer than
    /// the worker's own deadline, so its 504 and reason arrive first.
    #[arg(id = "http.timeout_ms", long = "http-timeout-ms", env = "RAGWIRE_HTTP_TIMEOUT_MS",
          default_value = "125000", value_parser = parse::timeout)]
    pub timeout: Duration,
    /// Largest HTTP body, in bytes (413 above).
    #[arg(id = "http.max_body_bytes", long = "http-max-body-bytes",
          env = "RAGWIRE_HTTP_MAX_BODY_BYTES", default_value_t = 1 << 20,
          value_parser = parse::at_least_one::<usize>)]
    pub max_body_bytes: usize,
    /// HTTP requests in flight before new ones get 503.
    #[arg(id = "http.max_concurrency", long = "http-max-concurrency",
          env = "RAGWIRE_HTTP_MAX_CONCURRENCY", default_value_t = 4096,
          value_parser = parse::at_least_one::<usize>)]
    pub max_concurrency: usize,
    /// Streamed replies (`stream: true`) in flight before new ones get 503;
    /// each holds a window of 64 chunks at most.
    #[arg(id = "http.max_streams", long = "http-max-streams",
          env = "RAGWIRE_HTTP_MAX_STREAMS", default_value_t = 1024,
          value_parser = parse::at_least_one::<usize>)]
    pub max_streams: usize,
    /// Web origins allowed to call the API from a browser (CORS), e.g.
    /// `https://app.example.com`, comma-separated, or `*`; unset: no
    /// cross-origin access, and preflights get no CORS answer.
    #[arg(
        id = "http.cors_origins",
        long = "http-cors-origins",
        env = "RAGWIRE_HTTP_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
    /// Reply shapes: `ragwire`'s own, or `gateway`, those of the FreeRoute
    /// gateway ragwire replaces where they differ (props as `{key, value}`
    /// lists, vector hits only in retrieve, the probe's seven keys, chat
    /// `data` parsed as JSON), for its clients.
    #[arg(
        id = "http.compat",
        long = "http-compat",
        env = "RAGWIRE_HTTP_COMPAT",
        value_enum,
        default_value_t = Compat::Ragwire
    )]
    pub compat: Compat,
    /// The version `GET /version` and `GET /whoami` report; default
    /// ragwire's own.
    #[arg(
        id = "http.app_version",
        long = "http-app-version",
        env = "RAGWIRE_HTTP_APP_VERSION"
    )]
    pub app_version: Option<String>,
    /// Tenants, their keys and the admin API.
    #[command(flatten)]
    pub tenants: TenantsConfig,
}

/// Tenants: the registry of tenants and their keys (a JetStream key-value
/// bucket every producer watches), the admin API and its audit trail.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Tenants")]
pub struct TenantsConfig {
    /// Secret of the admin API (`/admin/*`), sent as `Authorization: Bearer
    /// <key>`; unset: the admin API is off (404). Setting it turns the
    /// tenant registry on.
    #[arg(id = "admin_key", long = "admin-key", env = "RAGWIRE_ADMIN_KEY")]
    pub admin_key: Option<String>,
    /// Accept tenant keys (`sk-{tenant}-{secret}`) from the tenant
    /// registry; unset: on when `RAGWIRE_ADMIN_KEY` is set. Set it to `true`
    /// on producers that serve tenants without the admin API.
    #[arg(id = "tenants.enabled", long = "tenants-enabled", env = "RAGWIRE_TENANTS_ENABLED",
          value_parser = parse::boolean)]
    pub enabled: Option<bool>,
    /// Key-value bucket of tenants and key hashes; default `{prefix}_tenants`
    /// (dots as `_`).
    #[arg(
        id = "tenants.bucket",
        long = "tenants-bucket",
        env = "RAGWIRE_TENANTS_BUCKET"
    )]
    pub bucket: Option<String>,
    /// Stream of the admin API's audit trail, on subjects
    /// `{prefix}.audit.{tenant}`; default `{PREFIX}_AUDIT` (dots and dashes as
    /// `_`).
    #[arg(
        id = "tenants.audit_stream",
        long = "tenants-audit-stream",
        env = "RAGWIRE_TENANTS_AUDIT_STREAM"
    )]
    pub audit_stream: Option<String>,
    /// Copies the NATS cluster keeps of the tenant bucket and the audit
    /// stream: 1 on a single server, 3 on a cluster of three or more.
    /// Existing ones keep the count they were made with.
    #[arg(id = "tenants.replicas", long = "tenants-replicas", env = "RAGWIRE_TENANTS_REPLICAS",
          default_value_t = 1, value_parser = parse::at_least_one::<usize>)]
    pub replicas: usize,
    /// How often a key's last use is written to the bucket, in
    /// milliseconds (only keys used since the last write; never a write per
    /// request).
    #[arg(id = "tenants.last_used_flush_ms", long = "tenants-last-used-flush-ms",
          env = "RAGWIRE_TENANTS_LAST_USED_FLUSH_MS", default_value = "30000",
          value_parser = parse::timeout)]
    pub last_used_flush: Duration,
    /// How often the requests counted here are added to the usage bucket
    /// (`{prefix}_usage`), in milliseconds.
    #[arg(id = "tenants.usage_flush_ms", long = "tenants-usage-flush-ms",
          env = "RAGWIRE_TENANTS_USAGE_FLUSH_MS", default_value = "1000",
          value_parser = parse::timeout)]
    pub usage_flush: Duration,
}

impl TenantsConfig {
    /// Whether this producer reads the tenant registry: asked for, or
    /// implied by an admin key.
    pub fn registry_on(&self) -> bool {
        self.enabled.unwrap_or(self.admin_key().is_some())
    }

    /// The admin key, when one is set (an empty one counts as unset).
    pub fn admin_key(&self) -> Option<&str> {
        self.admin_key.as_deref().filter(|k| !k.is_empty())
    }

    /// The bucket under `prefix`: the setting, or `{prefix}_tenants`.
    pub fn bucket(&self, prefix: &str) -> String {
        self.bucket
            .clone()
            .unwrap_or_else(|| format!("{}_tenants", prefix.replace('.', "_")))
    }

    /// The audit stream under `prefix`: the setting, or `{PREFIX}_AUDIT`.
    pub fn audit_stream(&self, prefix: &str) -> String {
        self.audit_stream
            .clone()
            .unwrap_or_else(|| format!("{}_AUDIT", prefix.replace(['.', '-'], "_").to_uppercase()))
    }
}

ragwire_common::default_from_declarations!(Config, HttpConfig, TenantsConfig);
