//! Tracing set-up: text or JSON lines on stderr, filtered by `RUST_LOG`
//! (default `info`, with qdrant-edge's chatter at `error`).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls do nothing.
pub fn init(json: bool) {
    // qdrant-edge warns about server-only feature flags at every collection
    // open; they mean nothing in-process.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,qdrant_edge=error"));
    // Logs on stderr: stdout is for what a command prints.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
