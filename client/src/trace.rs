//! W3C trace context (`traceparent`, `tracestate`) on NATS messages, so a
//! request's spans in the producer, the client, the worker and its backend
//! calls form one trace. Off until [`enable`] is called (by the binaries'
//! telemetry set-up when an OTLP endpoint is configured): spans are then
//! made only where they are exported, and nothing is added to messages.
//!
//! Spans follow OpenTelemetry's messaging conventions: `send {subject}`
//! (kind producer) around a request, `process {subject}` (kind consumer)
//! around its handling, with `messaging.system = nats`,
//! `messaging.destination.name` and `messaging.operation.type`.

use std::sync::OnceLock;

use async_nats::HeaderMap;
use tracing::Span;

/// What carries trace context, given by the process's tracing set-up
/// (`ragwire_common::telemetry`), so this crate needs no tracing back end.
#[derive(Clone, Copy)]
pub struct Propagation {
    /// Writes the current span's context into the headers.
    pub inject: fn(&mut HeaderMap),
    /// Makes the span a child of the context in the headers, if any.
    pub adopt: fn(&Span, &HeaderMap),
    /// The current span's trace id, when it has one.
    pub trace_id: fn() -> Option<String>,
}

static ON: OnceLock<Propagation> = OnceLock::new();

/// Turns trace propagation and spans on for the process, once.
pub fn enable(propagation: Propagation) {
    let _ = ON.set(propagation);
}

/// Whether traces are exported by this process.
pub fn enabled() -> bool {
    ON.get().is_some()
}

/// Writes the current span's trace context into `headers`.
pub fn inject(headers: &mut HeaderMap) {
    if let Some(p) = ON.get() {
        (p.inject)(headers);
    }
}

/// Makes `span` a child of the trace context in `headers`, when they carry
/// one.
pub fn adopt(span: &Span, headers: Option<&HeaderMap>) {
    if let (Some(p), Some(headers)) = (ON.get(), headers) {
        (p.adopt)(span, headers);
    }
}

/// The trace id of the current span (32 hex digits), when traces are on.
pub fn current_trace_id() -> Option<String> {
    ON.get().and_then(|p| (p.trace_id)())
}

/// The `send {subject}` span of a request about to be published, or a
/// disabled span when traces are off.
pub fn send_span(subject: &str) -> Span {
    if !enabled() {
        return Span::none();
    }
    tracing::info_span!(
        "send",
        otel.name = format!("send {subject}"),
        otel.kind = "producer",
        messaging.system = "nats",
        messaging.operation.type = "send",
        messaging.destination.name = subject,
    )
}

/// The `process {subject}` span of a message being handled, child of the
/// trace its headers carry; a disabled span when traces are off.
pub fn process_span(subject: &str, headers: Option<&HeaderMap>) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = tracing::info_span!(
        "process",
        otel.name = format!("process {subject}"),
        otel.kind = "consumer",
        messaging.system = "nats",
        messaging.operation.type = "process",
        messaging.destination.name = subject,
    );
    adopt(&span, headers);
    span
}
