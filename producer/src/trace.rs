//! The HTTP side of a trace: each request's server span, child of the
//! caller's `traceparent` when it sends one, parent of the NATS request the
//! producer makes; its trace id comes back in `X-Trace-Id`. Nothing is done
//! while traces are off (no OTLP endpoint set).

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The response header that carries the trace id (32 hex digits).
pub const TRACE_ID: &str = "x-trace-id";

/// The W3C trace context headers taken from the caller.
const CONTEXT: [&str; 2] = ["traceparent", "tracestate"];

/// Middleware: runs the request in its server span.
pub async fn span(request: Request, next: Next) -> Response {
    if !ragwire_client::trace::enabled() {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().as_str().to_owned();
    let span = tracing::info_span!(
        "http",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
    );
    let mut context = async_nats::HeaderMap::new();
    for name in CONTEXT {
        if let Some(value) = request.headers().get(name).and_then(|v| v.to_str().ok()) {
            context.insert(name, value);
        }
    }
    ragwire_client::trace::adopt(&span, Some(&context));
    let trace_id = span.in_scope(ragwire_client::trace::current_trace_id);
    let mut response = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    if let Some(id) = trace_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response.headers_mut().insert(TRACE_ID, id);
    }
    response
}
