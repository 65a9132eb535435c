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
}

ragwire_common::default_from_declarations!(Config, HttpConfig);
