//! What every ragwire binary shares.
//!
//! - [`settings`]: settings declared once each (flag, variable, default,
//!   bounds, doc), loaded from defaults, a TOML file, the environment and
//!   flags, and printed as the configuration reference.
//! - [`CommonConfig`] and [`nats::NatsConfig`]: the settings every binary
//!   reads.
//! - [`nats`]: the NATS settings, converted into the client's connection
//!   options, and the connection with errors that name the settings.
//! - [`discovery`]: the workers as a NATS micro-service.
//! - [`telemetry`], [`signal`]: logging set-up and the stop signal.
//! - [`usage`]: per-tenant usage counters shared through NATS.
//! - [`error`]: the crate's error enum.
//!
//! The client itself (requests, streamed replies, the connection) is the
//! `ragwire-client` crate, which knows nothing of settings; its
//! [`names`] are re-exported here for the worker.

pub mod discovery;
pub mod error;
pub mod nats;
pub mod settings;
pub mod signal;
pub mod telemetry;
pub mod usage;

use std::path::PathBuf;

pub use error::Error;
pub use nats::NatsConfig;
pub use ragwire_client::{names, RagClient};
use settings::parse;

/// The settings every ragwire binary reads.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "General")]
pub struct CommonConfig {
    /// TOML file of settings, read before the environment; its keys are the
    /// settings' ids, e.g. `prefix = "rag"` or `[llm] timeout_ms = 30000`.
    #[arg(id = "config", long = "config", env = settings::CONFIG_VAR)]
    pub config: Option<PathBuf>,
    /// Subject prefix: subjects are `{prefix}.chat`, `{prefix}.embed`, ...
    #[arg(id = "prefix", long = "prefix", env = "RAGWIRE_PREFIX", default_value = "rag",
          value_parser = parse::subject_prefix)]
    pub prefix: String,
    /// JSON log lines instead of text.
    #[arg(id = "log_json", long = "log-json", env = "RAGWIRE_LOG_JSON", default_value_t = false,
          action = clap::ArgAction::Set, value_parser = parse::boolean)]
    pub log_json: bool,
    /// How to reach NATS.
    #[command(flatten)]
    pub nats: NatsConfig,
}

default_from_declarations!(CommonConfig);

impl CommonConfig {
    /// Connects to NATS as `name` and returns a client of the subjects
    /// under this prefix.
    pub async fn client(&self, name: &str) -> Result<RagClient, Error> {
        let options = self.nats.connect_options(name)?;
        Ok(RagClient::connect(&options, &self.prefix).await?)
    }
}
