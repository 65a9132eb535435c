//! The NATS connection's settings (credentials, TLS), converted into the
//! client's [`ConnectOptions`], and the client's connection functions with
//! this crate's errors, which name the settings at fault.

use std::path::PathBuf;
use std::time::Duration;

pub use ragwire_client::connect::{ConnectOptions, Reconnections};

use crate::settings::parse;
use crate::Error;

/// How to reach NATS.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "NATS")]
pub struct NatsConfig {
    /// NATS server URL(s), comma-separated.
    #[arg(
        id = "nats.url",
        long = "nats-url",
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub url: String,
    /// User name; set `NATS_PASSWORD` with it (one alone stops start-up).
    #[arg(id = "nats.user", long = "nats-user", env = "NATS_USER")]
    pub user: Option<String>,
    /// Password of `NATS_USER`.
    #[arg(id = "nats.password", long = "nats-password", env = "NATS_PASSWORD")]
    pub password: Option<String>,
    /// Token authentication.
    #[arg(id = "nats.token", long = "nats-token", env = "NATS_TOKEN")]
    pub token: Option<String>,
    /// A `.creds` file (JWT and nkey).
    #[arg(id = "nats.creds_file", long = "nats-creds", env = "NATS_CREDS")]
    pub creds_file: Option<PathBuf>,
    /// CA certificate to trust.
    #[arg(id = "nats.tls_ca", long = "nats-tls-ca", env = "NATS_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate for mutual TLS, with `NATS_TLS_KEY`.
    #[arg(id = "nats.tls_cert", long = "nats-tls-cert", env = "NATS_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// Client key for mutual TLS, with `NATS_TLS_CERT`.
    #[arg(id = "nats.tls_key", long = "nats-tls-key", env = "NATS_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Refuse to connect without TLS.
    #[arg(id = "nats.tls_required", long = "nats-tls-required", env = "NATS_TLS_REQUIRED",
          default_value_t = false, action = clap::ArgAction::Set, value_parser = parse::boolean)]
    pub tls_required: bool,
    /// Give up connecting at start after this many milliseconds.
    #[arg(id = "nats.connect_timeout_ms", long = "nats-connect-timeout-ms",
          env = "NATS_CONNECT_TIMEOUT_MS", default_value = "3000", value_parser = parse::timeout)]
    pub connect_timeout: Duration,
    /// Prefix of the subjects replies come back on; default `_INBOX`. A
    /// NATS user confined to one tenant subscribes to its own only
    /// (`_INBOX_{tenant}`: see docs/tenants.md).
    #[arg(
        id = "nats.inbox_prefix",
        long = "nats-inbox-prefix",
        env = "NATS_INBOX_PREFIX"
    )]
    pub inbox_prefix: Option<String>,
}

crate::default_from_declarations!(NatsConfig);

impl NatsConfig {
    /// The client's connection options, the connection named `name`.
    /// Settings that only make sense together (user and password, client
    /// certificate and key) stop start-up when one comes alone.
    pub fn connect_options(&self, name: &str) -> Result<ConnectOptions, Error> {
        let user_and_password = match (&self.user, &self.password) {
            (Some(user), Some(password)) => Some((user.clone(), password.clone())),
            (None, None) => None,
            (Some(_), None) => {
                return Err(Error::config(
                    "NATS_PASSWORD",
                    "NATS_USER is set without NATS_PASSWORD: set both or neither",
                ))
            }
            (None, Some(_)) => {
                return Err(Error::config(
                    "NATS_USER",
                    "NATS_PASSWORD is set without NATS_USER: set both or neither",
                ))
            }
        };
        let tls_client = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            (None, None) => None,
            _ => {
                return Err(Error::config(
                    "NATS_TLS_CERT",
                    "NATS_TLS_CERT and NATS_TLS_KEY must be set together",
                ))
            }
        };
        Ok(ConnectOptions {
            name: name.to_owned(),
            url: self.url.clone(),
            user_and_password,
            token: self.token.clone(),
            creds_file: self.creds_file.clone(),
            tls_ca: self.tls_ca.clone(),
            tls_client,
            tls_required: self.tls_required,
            connect_timeout: self.connect_timeout,
            inbox_prefix: self.inbox_prefix.clone(),
        })
    }
}

/// Connects to NATS as `name`, failing within `connect_timeout` when no
/// server answers.
pub async fn connect(config: &NatsConfig, name: &str) -> Result<async_nats::Client, Error> {
    connect_watched(config, name)
        .await
        .map(|(client, _)| client)
}

/// Like [`connect`], also returning when the connection comes back after
/// an outage (see [`ragwire_client::connect::connect_watched`]).
pub async fn connect_watched(
    config: &NatsConfig,
    name: &str,
) -> Result<(async_nats::Client, Reconnections), Error> {
    let options = config.connect_options(name)?;
    Ok(ragwire_client::connect::connect_watched(&options).await?)
}

/// Returns once the server has taken every subscription this client sent
/// (see [`ragwire_client::connect::subscriptions_live`]).
pub async fn subscriptions_live(client: &async_nats::Client) -> Result<(), Error> {
    Ok(ragwire_client::connect::subscriptions_live(client).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_user_without_a_password_stops_start_up() {
        let config = NatsConfig {
            user: Some("app".into()),
            ..NatsConfig::default()
        };
        let err = connect(&config, "test").await.expect_err("refused");
        assert!(err.to_string().contains("NATS_PASSWORD"), "{err}");
        let config = NatsConfig {
            password: Some("secret".into()),
            ..NatsConfig::default()
        };
        let err = connect(&config, "test").await.expect_err("refused");
        assert!(err.to_string().contains("NATS_USER"), "{err}");
    }
}
