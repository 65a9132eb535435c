//! The NATS connection: how to reach the server ([`ConnectOptions`]:
//! credentials, TLS, timeout), when it last came back after an outage
//! ([`Reconnections`]), and a check that the server has taken a client's
//! subscriptions.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::CallError;

/// How to reach NATS. The command line's settings (`NATS_URL` and the
/// others) convert into this.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The connection's name, as the server lists it.
    pub name: String,
    /// NATS server URL(s), comma-separated.
    pub url: String,
    /// User name and password.
    pub user_and_password: Option<(String, String)>,
    /// Token authentication.
    pub token: Option<String>,
    /// A `.creds` file (JWT and nkey).
    pub creds_file: Option<PathBuf>,
    /// CA certificate to trust.
    pub tls_ca: Option<PathBuf>,
    /// Client certificate and key for mutual TLS.
    pub tls_client: Option<(PathBuf, PathBuf)>,
    /// Refuse to connect without TLS.
    pub tls_required: bool,
    /// Give up connecting after this long when no server answers.
    pub connect_timeout: Duration,
    /// The prefix of the subjects replies come back on (`_INBOX` when
    /// `None`). A NATS user confined to one tenant is allowed to subscribe
    /// to its own inbox prefix only (`_INBOX_{tenant}`), so that no other
    /// user can read its replies.
    pub inbox_prefix: Option<String>,
}

impl ConnectOptions {
    /// The server(s) at `url`, without credentials or TLS, named
    /// `ragwire-client`, giving up after 3 s.
    pub fn new(url: impl Into<String>) -> ConnectOptions {
        ConnectOptions {
            name: "ragwire-client".into(),
            url: url.into(),
            user_and_password: None,
            token: None,
            creds_file: None,
            tls_ca: None,
            tls_client: None,
            tls_required: false,
            connect_timeout: Duration::from_secs(3),
            inbox_prefix: None,
        }
    }

    /// The same options with the connection named `name`.
    pub fn name(mut self, name: impl Into<String>) -> ConnectOptions {
        self.name = name.into();
        self
    }
}

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

/// Connects to NATS, failing within `connect_timeout` when no server
/// answers.
pub async fn connect(options: &ConnectOptions) -> Result<async_nats::Client, CallError> {
    connect_watched(options).await.map(|(client, _)| client)
}

/// Like [`connect`], also returning when the connection comes back after
/// an outage. Losing the server is logged at WARN, getting it back at INFO.
pub async fn connect_watched(
    config: &ConnectOptions,
) -> Result<(async_nats::Client, Reconnections), CallError> {
    let reconnections = Reconnections::default();
    let events = reconnections.clone();
    let mut options = async_nats::ConnectOptions::new()
        .name(&config.name)
        .connection_timeout(config.connect_timeout)
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
                        "NATS slow consumer: requests were dropped; add workers or raise RAGWIRE_LIMITS_MAX_IN_FLIGHT"
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
    if let Some((user, password)) = &config.user_and_password {
        options = options.user_and_password(user.clone(), password.clone());
    }
    if let Some(token) = &config.token {
        options = options.token(token.clone());
    }
    if let Some(path) = &config.creds_file {
        options = options
            .credentials_file(path)
            .await
            .map_err(|e| CallError::Options {
                option: "creds_file",
                message: format!("{}: {e}", path.display()),
            })?;
    }
    if let Some(ca) = &config.tls_ca {
        options = options.add_root_certificates(ca.clone());
    }
    if let Some((cert, key)) = &config.tls_client {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    if config.tls_required {
        options = options.require_tls(true);
    }
    if let Some(prefix) = &config.inbox_prefix {
        options = options.custom_inbox_prefix(prefix.clone());
    }
    let deadline = config.connect_timeout + Duration::from_secs(1);
    let servers = config
        .url
        .split(',')
        .map(|url| url.trim().parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CallError::Options {
            option: "url",
            message: format!("`{}`: {e}", config.url),
        })?;
    match tokio::time::timeout(deadline, options.connect(servers)).await {
        Ok(Ok(client)) => Ok((client, reconnections)),
        Ok(Err(e)) => Err(unreachable(&config.url, &e.to_string())),
        Err(_) => Err(unreachable(&config.url, "timed out")),
    }
}

fn unreachable(url: &str, why: &str) -> CallError {
    CallError::Unreachable {
        url: url.to_owned(),
        why: why.to_owned(),
    }
}

/// Returns once the server has taken every subscription this client sent.
///
/// A flush only empties the socket buffer; the server may not have read the
/// subscriptions yet, and a request sent at once from another connection
/// would find no responder. The server handles one connection's messages in
/// order, so a message to ourselves coming back means the subscriptions
/// before it are in place.
pub async fn subscriptions_live(client: &async_nats::Client) -> Result<(), CallError> {
    let fail = |e: String| CallError::Nats(format!("cannot confirm the subscriptions: {e}"));
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
