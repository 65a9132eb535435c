//! The HTTP side of a trace: each request's server span, child of the
//! caller's `traceparent` when it sends one, parent of the NATS request the
//! producer makes; its trace id comes back in `X-Trace-Id`. Nothing is done
//! while traces are off (no OTLP endpoint set).

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use ragwire_client::trace::{self, KeyValue, SpanKind};

/// The response header that carries the trace id (32 hex digits).
pub const TRACE_ID: &str = "x-trace-id";

/// The W3C trace context headers taken from the caller.
const CONTEXT: [&str; 2] = ["traceparent", "tracestate"];

/// Middleware: runs the request in its server span.
pub async fn span(request: Request, next: Next) -> Response {
    if !trace::enabled() {
        return next.run(request).await;
    }
    let mut context = async_nats::HeaderMap::new();
    for name in CONTEXT {
        if let Some(value) = request.headers().get(name).and_then(|v| v.to_str().ok()) {
            context.insert(name, value);
        }
    }
    let parent = trace::extract(Some(&context));
    // Clones of shared strings: nothing is allocated unless recorded.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = request.method().clone();
    let cx = trace::start(&parent, SpanKind::Server, || {
        let method = method.as_str();
        let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
        (
            format!("{method} {route}").into(),
            vec![
                KeyValue::new("http.request.method", method.to_owned()),
                KeyValue::new("http.route", route.to_owned()),
            ],
        )
    });
    let trace_id = cx.as_ref().and_then(trace::trace_id);
    let mut response = trace::within(cx.clone(), next.run(request)).await;
    trace::record(
        cx.as_ref(),
        KeyValue::new(
            "http.response.status_code",
            i64::from(response.status().as_u16()),
        ),
    );
    if let Some(id) = trace_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response.headers_mut().insert(TRACE_ID, id);
    }
    response
}
