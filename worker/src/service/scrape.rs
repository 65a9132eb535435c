//! The worker's `/metrics` route on `RAGWIRE_METRICS_ADDR`: the process's
//! metrics ([`crate::metrics`]), the job gauges read from JetStream at each
//! scrape.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::State as AxumState;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing;
use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::metrics::get;
use crate::state::State;

/// Serves `/metrics` on `addr` until `shutdown`; the job gauges are read
/// from JetStream at each scrape.
pub async fn serve(
    addr: SocketAddr,
    state: State,
    shutdown: CancellationToken,
) -> Result<SocketAddr, Error> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Error::config(
            "RAGWIRE_METRICS_ADDR",
            format!("cannot listen on {addr}: {e}"),
        )
    })?;
    let bound = listener.local_addr().unwrap_or(addr);
    let app = Router::new()
        .route("/metrics", routing::get(scrape))
        .with_state(state);
    tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned());
        if let Err(e) = server.await {
            tracing::warn!(error = %e, "the metrics server stopped");
        }
    });
    tracing::info!(%bound, "metrics on /metrics");
    Ok(bound)
}

async fn scrape(AxumState(state): AxumState<State>) -> impl IntoResponse {
    if let Some(jobs) = &state.jobs {
        // A slow JetStream leaves the gauges as they were, not the scrape
        // waiting.
        let read = tokio::time::timeout(Duration::from_secs(2), jobs.lag()).await;
        match read {
            Ok(Ok(lag)) => {
                let m = get();
                m.jobs_pending.set(lag.pending as i64);
                m.jobs_ack_pending.set(lag.ack_pending as i64);
                m.jobs_dead.set(lag.dead as i64);
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "job gauges not read"),
            Err(_) => tracing::debug!("job gauges not read in time"),
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        get().render(),
    )
}
