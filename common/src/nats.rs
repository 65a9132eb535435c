//! The NATS connection: its settings (credentials, TLS), a start-up error
//! that says how to get a server when none answers, and a check that the
//! server has taken a client's subscriptions.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;

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
          env = "NATS_CONNECT_TIMEOUT_MS", default_value_t = 3000, value_parser = parse::millis)]
    pub connect_timeout_ms: u64,
}

crate::default_from_declarations!(NatsConfig);

/// When a connection last came back after losing its server. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct Reconnections {
    connected: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
    back_at: Arc<Mutex<Option<Instant>>>,
}

impl Default for Reconnections {
    fn default() -> Self {
        Reconnections {
            connected: Arc::new(AtomicBool::new(true)),
            lost: Arc::default(),
            back_at: Arc::default(),
        }
    }
}

impl Reconnections {
    /// How long ago the connection last came back, if it ever was lost.
    pub fn since_last(&self) -> Option<Duration> {
        self.back_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|at| at.elapsed())
    }

    /// Whether the connection is up, as its last event said: a load of an
    /// atomic, cheaper than asking the client on every request.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    fn lost(&self) {
        self.connected.store(false, Ordering::Relaxed);
        self.lost.store(true, Ordering::Relaxed);
    }

    fn connected(&self) {
        self.connected.store(true, Ordering::Relaxed);
        if self.lost.swap(false, Ordering::Relaxed) {
            *self.back_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        }
    }
}

/// Connects to NATS as `name`, failing within `connect_timeout_ms` when no
/// server answers.
pub async fn connect(config: &NatsConfig, name: &str) -> Result<async_nats::Client, Error> {
    connect_watched(config, name)
        .await
        .map(|(client, _)| client)
}

/// Like [`connect`], also returning when the connection comes back after
/// an outage. Losing the server is logged at WARN, getting it back at INFO.
pub async fn connect_watched(
    config: &NatsConfig,
    name: &str,
) -> Result<(async_nats::Client, Reconnections), Error> {
    let reconnections = Reconnections::default();
    let events = reconnections.clone();
    let mut options = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_millis(config.connect_timeout_ms))
        // Replies larger than the default 64k-message buffer would be dropped as
        // a slow consumer under heavy load; the semaphore bounds our own work.
        .subscription_capacity(1 << 16)
        .client_capacity(1 << 14)
        .event_callback(move |event| {
            let events = events.clone();
            async move {
                match event {
                    // Requests beyond the subscription buffer are dropped by
                    // the client: say so loudly, the fix is more workers.
                    async_nats::Event::SlowConsumer(sid) => tracing::error!(
                        subscription = sid,
                        "NATS slow consumer: requests were dropped; add workers or raise RAGWIRE_MAX_IN_FLIGHT"
                    ),
                    async_nats::Event::Disconnected => {
                        events.lost();
                        tracing::warn!("lost the NATS server; reconnecting")
                    }
                    async_nats::Event::Connected => {
                        events.connected();
                        tracing::info!("connected to the NATS server")
                    }
                    async_nats::Event::ServerError(e) => {
                        tracing::warn!(error = %e, "NATS server error")
                    }
                    async_nats::Event::ClientError(e) => {
                        tracing::warn!(error = %e, "NATS client error")
                    }
                    other => tracing::info!(event = %other, "NATS connection event"),
                }
            }
        });
    match (&config.user, &config.password) {
        (Some(user), Some(password)) => {
            options = options.user_and_password(user.clone(), password.clone());
        }
        (None, None) => {}
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
    }
    if let Some(token) = &config.token {
        options = options.token(token.clone());
    }
    if let Some(path) = &config.creds_file {
        options = options
            .credentials_file(path)
            .await
            .map_err(|e| Error::config("NATS_CREDS", format!("{}: {e}", path.display())))?;
    }
    if let Some(ca) = &config.tls_ca {
        options = options.add_root_certificates(ca.clone());
    }
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        (None, None) => {}
        _ => {
            return Err(Error::config(
                "NATS_TLS_CERT",
                "NATS_TLS_CERT and NATS_TLS_KEY must be set together",
            ))
        }
    }
    if config.tls_required {
        options = options.require_tls(true);
    }
    let deadline = Duration::from_millis(config.connect_timeout_ms) + Duration::from_secs(1);
    let servers = config
        .url
        .split(',')
        .map(|url| url.trim().parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::config("NATS_URL", format!("`{}`: {e}", config.url)))?;
    match tokio::time::timeout(deadline, options.connect(servers)).await {
        Ok(Ok(client)) => Ok((client, reconnections)),
        Ok(Err(e)) => Err(unreachable(&config.url, &e.to_string())),
        Err(_) => Err(unreachable(&config.url, "timed out")),
    }
}

fn unreachable(url: &str, why: &str) -> Error {
    Error::Nats(format!(
        "cannot connect to NATS at {url}: {why}. Start a server with JetStream, \
         e.g. `nats-server -js` (Debian package nats-server) or \
         `docker compose up -d nats`, or point NATS_URL at one."
    ))
}

/// Returns once the server has taken every subscription this client sent.
///
/// A flush only empties the socket buffer; the server may not have read the
/// subscriptions yet, and a request sent at once from another connection
/// would find no responder. The server handles one connection's messages in
/// order, so a message to ourselves coming back means the subscriptions
/// before it are in place.
pub async fn subscriptions_live(client: &async_nats::Client) -> Result<(), Error> {
    let fail = |e: String| Error::Nats(format!("cannot confirm the subscriptions: {e}"));
    let inbox = client.new_inbox();
    let mut echo = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| fail(e.to_string()))?;
    client
        .publish(inbox, bytes::Bytes::new())
        .await
        .map_err(|e| fail(e.to_string()))?;
    match tokio::time::timeout(Duration::from_secs(10), echo.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(fail("the connection closed".into())),
        Err(_) => Err(fail("no answer from the server within 10 s".into())),
    }
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
